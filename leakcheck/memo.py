"""The report memo: a re-scan of a folder in which nothing has changed returns the report that the last
scan stored, without listing samples, reading fingerprints, searching or running the checks.

A scan's memo entry is keyed by every setting that shapes the report and by leakcheck's own code and
libraries. It holds the report and the tree it was made from, as a folder scan sees it: every entry's
relative path and kind, each file's size, mtime and ctime and, for samples, the BLAKE2 digest of its
bytes; hidden entries by name only, since the scan passes over them. The stored report is returned when
the tree is the same, or when only some files' times differ and their bytes still have the stored
digests (a fresh checkout, a copy, `touch`): those files are read, not decoded, and the entry is stored
again with the new times.

What the tree cannot vouch for turns the memo off for that scan: a symbolic link anywhere in the tree (its
target can change unseen), a folder that cannot be listed, checks that are not leakcheck's own, the
semantic tier (its model file), and files that could not be read at all (the cause may pass). A report
is stored only if the tree is the same after the scan as before it. Entries are stored as JSON in the
fingerprint cache's file (never pickles: the report tagged so that tuples stay tuples, the file list one
column per field) and validated field by field when read back; one that does not validate is ignored
with a warning and the scan runs in full.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

from leakcheck._version import __version__
from leakcheck.fingerprint import has_digest
from leakcheck.index import Relation, RelationKind
from leakcheck.model import Finding, Severity, Skipped
from leakcheck.report import Report, SplitStats

# Bump when the stored layout or what the key covers changes.
MEMO_VERSION = 2
_LIBRARIES = ("numpy", "pillow", "scipy")
_KINDS = frozenset(get_args(RelationKind))


@dataclass(frozen=True, slots=True)
class Tree:
    """What a folder scan reads about a tree before it opens any file (not the pixels: a file whose size
    and times are unchanged is taken to be unchanged, as by the fingerprint cache)."""

    names: str  # a digest of every entry's kind and relative path
    files: dict[str, tuple[int, int, int]]  # relative path -> (size, mtime_ns, ctime_ns)
    digest: str  # a digest of all of it


def scan_tree(root: Path) -> Tree | None:
    """The tree under `root`; None where it holds a symbolic link or a folder that cannot be listed."""
    names: list[str] = []
    stats: list[str] = []
    files: dict[str, tuple[int, int, int]] = {}
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
                    names.append(f"h\0{path}\0")
                elif entry.is_symlink():
                    return None
                elif entry.is_dir(follow_symlinks=False):
                    names.append(f"d\0{path}\0")
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    names.append(f"f\0{path}\0")
                    stats.append(f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0")
                    files[path] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                else:
                    names.append(f"o\0{path}\0")
    except OSError:
        return None
    named = hashlib.blake2b("".join(names).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
    # (The files' sizes and times in walk order, which the names fix.)
    whole = hashlib.blake2b(named.encode() + "".join(stats).encode(), digest_size=16).hexdigest()
    return Tree(named, files, whole)


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


def report_key(root: Path, settings: str) -> str:
    """The memo key of a scan of the folder `root` with `settings` (a deterministic description of every
    option that shapes the report)."""
    text = repr((MEMO_VERSION, __version__, _code_stamp(), os.fsdecode(root), settings))
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


def encode_entry(tree: Tree, digests: Mapping[str, str], document: dict[str, Any]) -> tuple[bytes, bytes]:
    """A memo entry as JSON in two parts: the head (the tree's digests and the report's `document`, see
    `report_document`), read by every scan, and the file list (each file's relative path, size, times
    and, for samples, the digest of its bytes, in columns), read only when the tree's times changed."""
    head = {"tree": tree.digest, "names": tree.names, "report": document}
    paths = list(tree.files)
    stats = list(tree.files.values())
    files = {
        "tree": tree.digest,
        "paths": paths,
        "sizes": [s[0] for s in stats],
        "mtimes": [s[1] for s in stats],
        "ctimes": [s[2] for s in stats],
        "digests": [digests.get(path) for path in paths],
    }
    return _ascii_json(head), _ascii_json(files)


def _ascii_json(value: Any) -> bytes:
    # (ASCII: names that are not UTF-8 keep their lone surrogates as \u escapes.)
    return json.dumps(value, separators=(",", ":"), allow_nan=True).encode("ascii")


@dataclass(frozen=True, slots=True)
class Head:
    """A stored memo entry's head, validated (its report is validated when it is used)."""

    tree: str
    names: str
    report: dict[str, Any]


# relative path -> ((size, mtime_ns, ctime_ns), digest of the bytes or None)
StoredFiles = dict[str, tuple[tuple[int, int, int], str | None]]


def decode_head(payload: bytes) -> Head:
    """The head `encode_entry` wrote; ValueError for anything that does not validate."""
    try:
        head = _object(payload)
        return Head(_typed(head["tree"], str), _typed(head["names"], str), _typed(head["report"], dict))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a stored memo entry: {exc}") from None


def decode_files(payload: bytes, tree: str) -> StoredFiles:
    """The file list `encode_entry` wrote beside the head whose tree digest is `tree`; ValueError for
    anything that does not validate, or a list written for another tree."""
    try:
        stored = _object(payload)
        if stored["tree"] != tree:
            raise ValueError("the file list is not the report's")
        columns = (
            _column(stored["paths"], str),
            _column(stored["sizes"], int),
            _column(stored["mtimes"], int),
            _column(stored["ctimes"], int),
            _column(stored["digests"], str, type(None)),
        )
    except KeyError as exc:
        raise ValueError(f"not a stored file list: {exc}") from None
    if len({len(c) for c in columns}) != 1:
        raise ValueError("not a stored file list: its columns differ in length")
    paths, sizes, mtimes, ctimes, digests = columns
    return dict(zip(paths, zip(zip(sizes, mtimes, ctimes, strict=True), digests, strict=True), strict=True))


def _column(value: Any, *kinds: type[Any]) -> list[Any]:
    """A list whose every item is exactly of one of `kinds` (a bool is not an int)."""
    if not isinstance(value, list) or not all(type(v) in kinds for v in value):
        raise ValueError(f"expected a list of {' or '.join('null' if k is type(None) else k.__name__ for k in kinds)}")
    return value


def _object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload.decode("ascii"))
    except UnicodeDecodeError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    return value


def same_bytes(files: StoredFiles, tree: Tree, root: Path, verified: dict[str, str] | None = None) -> bool:
    """Whether `tree` holds the stored files, those with other times read and found to have the stored
    digest of their bytes (the caller has checked that the entries' names are the same). `verified`, if
    given, receives each file read and found unchanged (path -> digest), for a scan that follows a miss.

    Sizes are compared before any file is read: an edit that changes a file's size (most do) then costs
    no reads here."""
    retimed: list[tuple[str, str]] = []
    for path, stat in tree.files.items():
        old = files.get(path)
        if old is not None and old[0] == stat:
            continue
        if old is None or old[0][0] != stat[0] or old[1] is None:
            return False
        retimed.append((path, old[1]))
    for path, digest in retimed:
        if not has_digest(os.path.join(root, path), digest):
            return False
        if verified is not None:
            verified[path] = digest
    return True


def report_document(report: Report) -> dict[str, Any]:
    """The report as tagged JSON values; TypeError if it holds a value the encoding does not keep exactly."""
    return {
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


def report_from_document(document: Any, root_path: Path | None) -> Report:
    """The report of a tagged JSON document; ValueError for anything that does not validate."""
    try:
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
