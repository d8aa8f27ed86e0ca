"""Manifests: a CSV or Parquet table with one row per image, `path,label,split` and an optional `group`.

Paths are relative to the manifest's folder (absolute paths are accepted too); the key of a sample is its
path as written, in POSIX form. An empty label means unlabelled. Unknown columns are refused rather than
ignored, because a misspelt `group` column would silently switch off the group-leakage check.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from leakcheck.errors import DataNotFoundError, ManifestError
from leakcheck.model import Record
from leakcheck.splits import DEFAULT_ALIASES, canonical_split

REQUIRED = ("path", "label", "split")
OPTIONAL = ("group",)
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".pq"})


@dataclass(frozen=True, slots=True)
class ManifestListing:
    """The samples a manifest lists, in file order."""

    path: Path
    records: tuple[Record, ...]


def _columns(path: Path, header: list[str], where: str) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").casefold()
        if name in columns:
            raise ManifestError(f"{path}: {where} names column {raw!r} twice")
        if name not in (*REQUIRED, *OPTIONAL):
            raise ManifestError(
                f"{path}: {where}: unknown column {raw!r} (column {i + 1})",
                hint=f"manifest columns are {', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}; "
                "drop or rename the others",
            )
        columns[name] = i
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ManifestError(
            f"{path}: {where} has no {', '.join(repr(c) for c in missing)} column",
            hint=f"the first row must name the columns {', '.join(REQUIRED)} (and optionally group)",
        )
    return columns


def _csv_rows(path: Path) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ManifestError(f"{path}: empty file", hint=f"write a header row: {','.join(REQUIRED)}")
            columns = _columns(path, header, "line 1")
            # Each row with the line it starts on (a quoted field may span lines; line_num is where it ended).
            rows = []
            start = reader.line_num + 1
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((start, row))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason})", hint="save the manifest as UTF-8") from None
    except csv.Error as exc:
        raise ManifestError(f"{path}: malformed CSV ({exc})") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})", hint="make the file readable") from None
    for line, row in rows:
        if len(row) != len(header):
            # (csv reads an unclosed quote to the end of the file as one field, line breaks included.)
            quote = '; a quote (") opened there is not closed' if any("\n" in cell for cell in row) else ""
            raise ManifestError(f"{path}: line {line} has {len(row)} fields, the header {len(header)}{quote}")
    return columns, rows


def _parquet_rows(path: Path) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # optional: the `parquet` extra
        raise ManifestError(
            f"{path}: reading Parquet needs pyarrow", hint="pip install 'leakcheck-images[parquet]'"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own ArrowException family and OSError
        raise ManifestError(f"{path}: not a readable Parquet file ({exc})") from None
    columns = _columns(path, list(table.column_names), "the schema")
    values: list[list[Any]] = [table.column(i).to_pylist() for i in range(table.num_columns)]
    # Row numbers count from 1 as a dataframe's readers would number them, plus the header line.
    rows = [(r + 2, ["" if col[r] is None else str(col[r]) for col in values]) for r in range(table.num_rows)]
    return columns, rows


def _key(raw: str) -> str:
    return PureWindowsPath(raw).as_posix() if "\\" in raw and "/" not in raw else PurePosixPath(raw).as_posix()


def read_manifest(
    path: str | os.PathLike[str], *, aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES
) -> ManifestListing:
    """Read a manifest and check that every file it names exists (opening no image).

    Raises:
        DataNotFoundError: the manifest itself is missing.
        ManifestError: unreadable, unknown or missing columns, empty cells, or listed files that do not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"{path}: no such file", hint="check the path")
    suffix = p.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise ManifestError(f"{path}: not a manifest (.csv, .parquet)")
    columns, rows = _parquet_rows(p) if suffix in (".parquet", ".pq") else _csv_rows(p)
    base = p.parent
    records: list[Record] = []
    first_line: dict[str, int] = {}
    missing: list[tuple[int, str]] = []
    for line, row in rows:
        cells = {name: row[i].strip() for name, i in columns.items()}
        for name in ("path", "split"):
            if not cells[name]:
                raise ManifestError(f"{p}: line {line}: empty {name!r}", hint="every row needs a path and a split")
        key = _key(cells["path"])
        file = base / key
        if not file.is_file():
            missing.append((line, key))
            continue
        # The same file listed twice is kept twice: in two splits it is a leak the checks must see.
        if key in first_line:
            key = f"{key} (line {line})"
        else:
            first_line[key] = line
        split = canonical_split(cells["split"], aliases) or cells["split"]
        records.append(Record(key, split, cells["label"] or None, file, cells.get("group") or None))
    if missing:
        line, key = missing[0]
        more = f" (and {len(missing) - 1} more missing files)" if len(missing) > 1 else ""
        what = "not a regular file (a folder, pipe or device)" if (base / key).exists() else "no such file"
        raise ManifestError(
            f"{p}: line {line}: {key}: {what}{more}",
            hint=f"paths are relative to {base.name or base}/; fix or remove the rows of missing files",
        )
    if not records:
        raise ManifestError(f"{p}: no rows", hint="add one row per image")
    return ManifestListing(p, tuple(records))
