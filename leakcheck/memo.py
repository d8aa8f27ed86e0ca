"""The report memo: a re-scan of a folder in which nothing has changed returns the report that the last
scan stored, without listing samples, reading fingerprints, searching or running the checks.

The key is a digest of the tree as a folder scan sees it (every entry's relative path and kind, each
file's size, mtime and ctime, hidden entries by name only since the scan passes over them), of every
setting that shapes the report and of leakcheck's own code and libraries. What the digest cannot vouch
for turns the memo off for that scan: a symbolic link anywhere in the tree (its target can change
unseen), a folder that cannot be listed, checks that are not leakcheck's own, the semantic tier (its
model file), and files that could not be read at all (the cause may pass). A report is stored only if
the tree's digest after the scan equals the one before it. Reports are stored as tagged JSON in the
fingerprint cache's file (never pickles) and validated field by field when read back; one that does
not validate is ignored with a warning and the scan runs in full.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args

from leakcheck._version import __version__
from leakcheck.index import Relation, RelationKind
from leakcheck.model import Finding, Severity, Skipped
from leakcheck.report import Report, SplitStats

log = logging.getLogger(__name__)

# Bump when the stored layout or what the key covers changes.
MEMO_VERSION = 1
_LIBRARIES = ("numpy", "pillow", "scipy")
_KINDS = frozenset(get_args(RelationKind))


def tree_digest(root: Path) -> str | None:
    """A digest of what a folder scan reads about the tree under `root` (not the pixels: a file whose
    size, mtime and ctime are unchanged is taken to be unchanged, as by the fingerprint cache); None
    where the tree holds a symbolic link or a folder that cannot be listed."""
    parts: list[str] = []
    stack = [""]
    try:
        while stack:
            rel = stack.pop()
            with os.scandir(os.path.join(root, rel)) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                # (NUL ends every field: no file name holds one, so no two trees write the same text.)
                if entry.name.startswith("."):
                    parts.append(f"h\0{path}\0")
                elif entry.is_symlink():
                    return None
                elif entry.is_dir(follow_symlinks=False):
                    parts.append(f"d\0{path}\0")
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    parts.append(f"f\0{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0")
                else:
                    parts.append(f"o\0{path}\0")
    except OSError:
        return None
    text = "".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(text, digest_size=16).hexdigest()


@functools.cache
def _code_stamp() -> str:
    """leakcheck's own source files (path, size, mtime) and the versions of the libraries whose
    arithmetic the report depends on: an edited or upgraded install never reuses an older report."""
    package = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for name in _LIBRARIES:
        try:
            h.update(f"{name}={importlib.metadata.version(name)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{name}=none\0".encode())
    return h.hexdigest()


def report_key(root: Path, tree: str, settings: str) -> str:
    """The memo key of a scan of the tree `tree` (its `tree_digest`) at `root` with `settings` (a
    deterministic description of every option that shapes the report)."""
    text = repr((MEMO_VERSION, __version__, _code_stamp(), os.fsdecode(root), tree, settings))
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


# --- encoding --------------------------------------------------------------------------------------------
#
# Values inside metrics and parameters keep their Python types through tags: {"l": [...]} a list,
# {"t": [...]} a tuple, {"m": [[key, value], ...]} a mapping; scalars are plain JSON.


def _tag(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return {"l": [_tag(v) for v in value]}
    if isinstance(value, tuple):
        return {"t": [_tag(v) for v in value]}
    if isinstance(value, Mapping):
        return {"m": [[_tag(k), _tag(v)] for k, v in value.items()]}
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def _untag(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((tag, items),) = value.items()
        if isinstance(items, list):
            if tag == "l":
                return [_untag(v) for v in items]
            if tag == "t":
                return tuple(_untag(v) for v in items)
            if tag == "m" and all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                return {_untag(k): _untag(v) for k, v in items}
    raise ValueError("not a tagged value")


def encode_report(report: Report) -> bytes:
    """The report as tagged JSON; TypeError if it holds a value the encoding does not keep exactly."""
    document = {
        "root": report.root,
        "version": report.version,
        "parameters": _tag(report.parameters),
        "findings": [
            [f.check, int(f.severity), f.message, _tag(f.samples), _tag(f.metrics), f.hint] for f in report.findings
        ],
        "splits": [
            [s.split, s.images, s.unreadable, _tag(s.classes), _tag(s.modes), _tag(s.formats), _tag(s.channel_mean)]
            for s in report.splits
        ],
        "relations": [_tag(r.row()) for r in report.relations],
        "skipped": [[s.path, s.reason] for s in report.skipped],
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=True).encode("utf-8")


def _typed(value: Any, kind: type[Any] | tuple[type[Any], ...]) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        raise ValueError(f"unexpected {type(value).__name__}")
    return value


def _rows(value: Any, width: int) -> list[list[Any]]:
    if not isinstance(value, list) or not all(isinstance(row, list) and len(row) == width for row in value):
        raise ValueError(f"expected rows of {width} fields")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    items = _untag(value)
    if not isinstance(items, tuple) or not all(isinstance(s, str) for s in items):
        raise ValueError("expected a tuple of strings")
    return items


def _mapping(value: Any) -> dict[Any, Any]:
    items = _untag(value)
    if not isinstance(items, dict):
        raise ValueError("expected a mapping")
    return items


def _relation(value: Any) -> Relation:
    row = _untag(value)
    if not isinstance(row, tuple) or len(row) != 10:
        raise ValueError("expected a pairs row")
    a, a_split, a_label, b, b_split, b_label, kind, distance, score, explanation = row
    for text in (a, a_split, b, b_split, explanation):
        _typed(text, str)
    for label in (a_label, b_label):
        _typed(label, (str, type(None)))
    if kind not in _KINDS:
        raise ValueError(f"unknown relation kind {kind!r}")
    return Relation(
        a, a_split, a_label, b, b_split, b_label, cast(RelationKind, kind), _typed(distance, int), _typed(score, float),
        explanation,
    )  # fmt: skip


def decode_report(payload: bytes, root_path: Path | None) -> Report:
    """The report `encode_report` wrote; ValueError for anything that does not validate."""
    try:
        document = json.loads(payload.decode("utf-8"))
        if not isinstance(document, dict):
            raise ValueError("expected an object")
        findings = tuple(
            Finding(
                _typed(check, str),
                Severity(_typed(severity, int)),
                _typed(message, str),
                _strings(samples),
                _mapping(metrics),
                _typed(hint, (str, type(None))),
            )
            for check, severity, message, samples, metrics, hint in _rows(document["findings"], 6)
        )
        splits = tuple(
            SplitStats(
                _typed(split, str),
                _typed(images, int),
                _typed(unreadable, int),
                _mapping(classes),
                _mapping(modes),
                _mapping(formats),
                tuple(_typed(x, float) for x in _untag(channel_mean)),
            )
            for split, images, unreadable, classes, modes, formats, channel_mean in _rows(document["splits"], 7)
        )
        relations = tuple(_relation(row) for row in _typed(document["relations"], list))
        skipped = tuple(Skipped(_typed(p, str), _typed(r, str)) for p, r in _rows(document["skipped"], 2))
        return Report(
            root=_typed(document["root"], str),
            findings=findings,
            splits=splits,
            relations=relations,
            skipped=skipped,
            parameters=_mapping(document["parameters"]),
            version=_typed(document["version"], str),
            root_path=root_path,
        )
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a stored report: {exc}") from None
