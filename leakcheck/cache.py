"""The persistent fingerprint cache: re-scanning an unchanged dataset decodes nothing.

One SQLite file per dataset (the resolved root path names it) in the user cache folder or `--cache-dir`,
never inside the data folder. A row is reused only when the file's relative key, size and mtime (and
the content digest, for in-memory arrays) match, or its size matches and its bytes still have the row's
digest (new times, same file), and the cache was written by the same fingerprint version, decoder and
options. SQLite's transactions make concurrent scans and crashes safe; a file that is not a valid cache
is removed and rebuilt with a log warning, and a row whose checksum or fields do not validate is decoded
again. The cache never stores pickles: fingerprints are encoded field by field as JSON, with tagged
bytes, numpy arrays and nested dataclasses rebuilt only from an allow-list. The same file keeps the
near-duplicate detector's results, per-pair outcomes and last candidate search, and recent reports
(`leakcheck.memo`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import PIL

from leakcheck.errors import UsageError
from leakcheck.model import Fingerprint, Record

log = logging.getLogger(__name__)

_SCHEMA = 1
_APP = "leakcheck"
# Seconds a scan waits for another scan's write transaction before giving up on storing its own rows.
_BUSY_TIMEOUT = 30.0
# Near-duplicate results and reports kept per dataset (one per recent combination of images and settings).
_BLOBS_KEPT = 4
# Keys per SELECT ... IN (...) (SQLite allows 999 parameters in older builds).
_IN_BATCH = 900


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What must be unchanged for a cached fingerprint to be reused."""

    key: str
    size: int
    mtime_ns: int
    content: str = ""  # a digest of the pixels, for samples that are arrays rather than files


def default_cache_dir() -> Path:
    """The per-user cache folder: $XDG_CACHE_HOME/leakcheck, ~/.cache/leakcheck, or the platform's own."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / _APP / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / _APP
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / _APP


def cache_file(root: Path, cache_dir: Path) -> Path:
    """The cache file for the dataset at `root`: readable name plus a digest of the resolved path."""
    resolved = root.resolve()
    tag = hashlib.blake2b(os.fsencode(resolved), digest_size=8).hexdigest()
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in resolved.name)[:40] or "root"
    return cache_dir / f"{name}-{tag}.sqlite"


def is_inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


# --- encoding: every dataclass field, generically, without pickle -------------------------------------
#
# A codec is built once from the type hints of Fingerprint: a row is a JSON array of its fields in
# declaration order (nested dataclasses likewise), tuples are arrays, bytes are base64 text and numpy
# arrays are {"a": dtype, "s": shape, "d": base64}. Values whose hint says nothing useful (Any, unions of
# several types) use self-describing tags. Decoding checks every scalar's type and every array's length,
# so a row written under other field definitions is rejected rather than misread; the field names and
# hints are also part of the cache's config, so such rows are normally dropped before being read.

Encoder = Callable[[Any], Any]
Decoder = Callable[..., Any]
_SCALARS: dict[type[Any], tuple[type[Any], ...]] = {
    int: (int,),  # bool is an int, and JSON keeps true/false apart from numbers
    float: (float, int),  # JSON writes 2.0 as 2.0 but a hand-written 2 is still a number
    str: (str,),
    bool: (bool,),
    type(None): (type(None),),
}
_ARRAY_KINDS = "biuf?"


def _same(value: Any) -> Any:
    return value


def _typed(allowed: tuple[type[Any], ...]) -> Decoder:
    def decode(value: Any) -> Any:
        if not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool)):
            raise ValueError(f"expected {'/'.join(t.__name__ for t in allowed)}, got {type(value).__name__}")
        return value

    return decode


def _encode_array(value: Any) -> Any:
    arr = np.ascontiguousarray(value)
    if arr.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"cannot cache arrays of dtype {arr.dtype}")
    return {"a": arr.dtype.str, "s": list(arr.shape), "d": base64.b64encode(arr.tobytes()).decode("ascii")}


def _decode_array(value: Any) -> Any:
    if not isinstance(value, dict) or value.keys() != {"a", "s", "d"}:
        raise ValueError("expected an encoded array")
    dtype = np.dtype(value["a"])
    if dtype.kind not in _ARRAY_KINDS:
        raise ValueError(f"dtype {dtype} not allowed")
    shape = tuple(int(n) for n in value["s"])
    arr = np.frombuffer(base64.b64decode(value["d"], validate=True), dtype=dtype)
    return arr.reshape(shape).copy()  # copy: writable, and no reference to the decoded bytes


def _encode_bytes(value: Any) -> Any:
    return base64.b64encode(value).decode("ascii")


def _decode_bytes(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(value, validate=True)


def _encode(value: Any) -> Any:
    """Self-describing encoding, for values whose type hint does not say enough."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return {"t": [_encode(v) for v in value]}
    if isinstance(value, bytes):
        return {"b": _encode_bytes(value)}
    if isinstance(value, np.ndarray | np.generic):
        return _encode_array(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _nested_types().get(name) is not type(value):
            raise TypeError(f"cannot cache a {name}")
        return {"c": name, "f": _codec(type(value))[0](value)}
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ValueError("untagged list")
        return value
    if value.keys() == {"t"}:
        return tuple(_decode(v) for v in value["t"])
    if value.keys() == {"b"}:
        return _decode_bytes(value["b"])
    if value.keys() == {"a", "s", "d"}:
        return _decode_array(value)
    if value.keys() == {"c", "f"} and value["c"] in _nested_types():
        nested: Any = _nested_types()[value["c"]]
        return _codec(nested)[1](value["f"])
    raise ValueError(f"unknown tag {sorted(value)}")


@cache
def _nested_types() -> dict[str, type[Any]]:
    """Dataclasses that may appear inside a Fingerprint (found through its type hints), by name."""
    found: dict[str, type[Any]] = {}

    def visit(tp: Any) -> None:
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            if tp.__name__ not in found and tp is not Record:
                found[tp.__name__] = tp
                for hint in typing.get_type_hints(tp).values():
                    visit(hint)
            return
        for arg in typing.get_args(tp):
            visit(arg)

    for name, hint in typing.get_type_hints(Fingerprint).items():
        if name != "record":
            visit(hint)
    return found


def _scalar_types(hint: Any) -> frozenset[type[Any]] | None:
    """The JSON value types a scalar hint (or `scalar | None`) accepts; None for other hints."""
    if hint in _SCALARS:
        return frozenset(_SCALARS[hint])
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        parts = [_scalar_types(a) for a in typing.get_args(hint)]
        if all(p is not None for p in parts):
            return frozenset().union(*(p for p in parts if p is not None))
    return None


def _codec_for(hint: Any) -> tuple[Encoder, Decoder]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    scalars = _scalar_types(hint)
    if scalars is not None:
        return _same, _typed(tuple(scalars))
    if hint is bytes:
        return _encode_bytes, _decode_bytes
    if hint is np.ndarray or origin is np.ndarray:
        return _encode_array, _decode_array
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        items = _scalar_types(args[0])
        if items is not None:
            # Tuples of numbers (channel statistics) are common: check the types in one C-level pass.
            def scalar_tuple(v: Any) -> Any:
                if not set(map(type, _list(v))) <= items:
                    raise ValueError(f"expected an array of {'/'.join(sorted(t.__name__ for t in items))}")
                return tuple(v)

            return list, scalar_tuple
        enc, dec = _codec_for(args[0])
        return (lambda v: [enc(x) for x in v]), (lambda v: tuple(dec(x) for x in _list(v)))
    if origin is tuple and args and Ellipsis not in args:
        kinds = [_scalar_types(a) for a in args]
        if all(k is not None for k in kinds):
            # A fixed tuple of scalars (a crop box) keeps the self-describing {"t": [...]} encoding that
            # `_encode` writes; decoding checks the tag, the length and each item's type in one pass.
            allowed = [k for k in kinds if k is not None]

            def fixed_tuple(v: Any) -> Any:
                items = v.get("t") if isinstance(v, dict) and len(v) == 1 else None
                if (
                    not isinstance(items, list)
                    or len(items) != len(allowed)
                    or not all(type(x) in a for x, a in zip(items, allowed, strict=True))
                ):
                    raise ValueError(f"expected a tuple of {len(allowed)} scalars")
                return tuple(items)

            return _encode, fixed_tuple
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and len(args) == 2:
            enc, dec = _codec_for(options[0])
            return (lambda v: None if v is None else enc(v)), (lambda v: None if v is None else dec(v))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and hint.__name__ in _nested_types():
        return _codec(hint)
    return _encode, _decode


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected an array, got {type(value).__name__}")
    return value


@cache
def _codec(cls: Any, skip: str = "") -> tuple[Encoder, Decoder]:
    """Positional encoding of a dataclass (less the field `skip`, supplied again when decoding)."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != skip]
    coders = [_codec_for(hints[name]) for name in names]
    # Scalar fields are checked inline (a set lookup each); the rest go through their decoders.
    checks = [(i, s) for i, name in enumerate(names) if (s := _scalar_types(hints[name])) is not None]
    others = [(i, dec) for i, (name, (_, dec)) in enumerate(zip(names, coders, strict=True)) if i not in dict(checks)]

    def encode(value: Any) -> list[Any]:
        return [enc(getattr(value, name)) for name, (enc, _) in zip(names, coders, strict=True)]

    def decode(value: Any, *first: Any) -> Any:
        fields = list(_list(value))
        if len(fields) != len(coders):
            raise ValueError(f"{cls.__name__}: {len(fields)} fields stored, {len(coders)} expected")
        for i, allowed in checks:
            if type(fields[i]) not in allowed:
                raise ValueError(f"{cls.__name__}.{names[i]}: unexpected {type(fields[i]).__name__}")
        for i, dec in others:
            fields[i] = dec(fields[i])
        return cls(*first, *fields)

    return encode, decode


def schema() -> str:
    """The stored layout: field names and hints of Fingerprint and what it nests (part of the config)."""
    parts = []
    classes: list[Any] = [Fingerprint, *_nested_types().values()]
    for cls in classes:
        hints = typing.get_type_hints(cls)
        parts.append(f"{cls.__name__}(" + ",".join(f"{f.name}:{hints[f.name]}" for f in dataclasses.fields(cls)) + ")")
    return ";".join(parts)


def encode_fingerprint(fp: Fingerprint) -> bytes:
    """Every field but the record (rebuilt from the current listing), as compact JSON."""
    fields = _codec(Fingerprint, "record")[0](fp)
    return json.dumps(fields, separators=(",", ":"), allow_nan=True).encode("utf-8")


def decode_fingerprint(payload: bytes, record: Record) -> Fingerprint:
    """Raises ValueError for anything that is not a valid encoded Fingerprint."""
    try:
        fields = _parse(payload)
    except ValueError as exc:  # also UnicodeDecodeError and json.JSONDecodeError
        raise ValueError(f"not JSON: {exc}") from None
    return _build_fingerprint(fields, record)


def _build_fingerprint(fields: Any, record: Record) -> Fingerprint:
    """A Fingerprint from a parsed row; raises ValueError for anything that does not validate."""
    try:
        fp = _codec(Fingerprint, "record")[1](fields, record)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(str(exc)) from None
    return typing.cast(Fingerprint, fp)


_JSON = json.JSONDecoder()


def _parse(payload: bytes) -> Any:
    """One payload as JSON: exactly one value spanning all of it (what `encode_fingerprint` writes).

    `raw_decode` on the text skips what `json.loads` adds per call (encoding detection, whitespace
    scans): a warm scan parses one payload per file.
    """
    text = payload.decode("utf-8")
    value, end = _JSON.raw_decode(text)
    if end != len(text):
        raise ValueError("trailing data after the JSON value")
    return value


def _checksum(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def _intact(payload: object, checksum: object) -> TypeGuard[bytes]:
    """Whether a stored row's payload is bytes that match its checksum (a damaged row is never used)."""
    return isinstance(payload, bytes) and _checksum(payload) == checksum


# --- the store -----------------------------------------------------------------------------------------


@contextmanager
def _writing(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed when the block ends (also by return), rolled back on an error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# The tables beside the fingerprints (the detector's results, pair outcomes and search, stored reports):
# each row a payload under a key, with its checksum.
_SIDE_TABLES = ("near", "near_pairs", "near_search", "reports", "report_files")
_SIDE_COLUMNS = "(key TEXT PRIMARY KEY, checksum TEXT NOT NULL, payload BLOB NOT NULL)"

# What SQLite says when a sound file cannot be used now (another scan holds it past the timeout, the
# folder is read-only, the file cannot be opened): unlike damage, no reason to delete it.
_UNAVAILABLE = ("locked", "busy", "readonly", "read-only", "unable to open", "disk i/o")


def _unavailable(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(s in str(exc).lower() for s in _UNAVAILABLE)


class FingerprintCache:
    """Fingerprints of one dataset's files, reused while the files are unchanged.

    `config` names everything besides the file itself that a fingerprint depends on (fingerprint
    version, decoder versions, options); a cache written under another config is emptied.
    """

    def __init__(self, path: Path, config: str) -> None:
        self.path = path
        self.config = config
        self._conn: sqlite3.Connection | None = None
        # Whether the last lookup saw rows for keys it was not asked about (files since removed).
        self._stale_seen = True
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if _unavailable(exc):
                # Busy past the timeout, read-only or not openable: the file is not damaged; never delete it.
                log.warning("leakcheck: cannot use fingerprint cache %s now (%s); scanning without it", path, exc)
                return
            log.warning("leakcheck: fingerprint cache %s is unreadable (%s); rebuilding it", path, exc)
            self._remove()
            try:
                self._conn = self._open()
            except (sqlite3.Error, OSError) as again:
                log.warning("leakcheck: cannot create fingerprint cache %s (%s); scanning without it", path, again)
        except (sqlite3.Error, OSError) as exc:
            log.warning("leakcheck: cannot open fingerprint cache %s (%s); scanning without it", path, exc)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS fingerprints (key TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                "mtime_ns INTEGER NOT NULL, content TEXT NOT NULL, checksum TEXT NOT NULL, payload BLOB NOT NULL)"
            )
            for table in _SIDE_TABLES:
                conn.execute(f"CREATE TABLE IF NOT EXISTS {table} {_SIDE_COLUMNS}")
                # A side table of another shape (damaged, or made by hand) is made again, empty: what it
                # held is only ever a shortcut.
                if [row[1] for row in conn.execute(f"PRAGMA table_info({table})")] != ["key", "checksum", "payload"]:
                    conn.execute(f"DROP TABLE {table}")
                    conn.execute(f"CREATE TABLE {table} {_SIDE_COLUMNS}")
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            if meta.get("schema") != str(_SCHEMA) or meta.get("config") != self.config:
                for table in ("fingerprints", *_SIDE_TABLES):
                    conn.execute(f"DELETE FROM {table}")
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", [("schema", str(_SCHEMA)), ("config", self.config)]
                )
            conn.execute("COMMIT")
            # A quick structural check: a damaged file fails here rather than halfway through a scan.
            conn.execute("SELECT count(*) FROM fingerprints").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("leakcheck: cannot remove damaged cache file %s%s (%s)", self.path, suffix, exc)

    @property
    def usable(self) -> bool:
        return self._conn is not None

    def lookup(
        self, keys: Sequence[CacheKey], records: Sequence[Record], *, retimed: dict[int, Fingerprint] | None = None
    ) -> list[Fingerprint | None]:
        """The cached fingerprint of each record, or None where it must be computed.

        `retimed`, if given, receives (by position) the cached fingerprints of files whose size matches
        but whose mtime does not (a fresh checkout, a copy, `touch`): the caller reuses one only if the
        file's bytes still have its `file_digest`.
        """
        out: list[Fingerprint | None] = [None] * len(keys)
        if self._conn is None or not keys:
            return out
        position = {k.key: i for i, k in enumerate(keys)}
        invalid = 0
        try:
            # One read transaction: the config check and the rows see the same state of the file.
            self._conn.execute("BEGIN")
            try:
                if not self._config_holds(self._conn):
                    return out
                rows = self._conn.execute(
                    "SELECT key, size, mtime_ns, content, checksum, payload FROM fingerprints"
                ).fetchall()
            finally:
                self._conn.execute("COMMIT")
            self._stale_seen = False
            for key, size, mtime_ns, content, checksum, payload in rows:
                i = position.get(key)
                if i is None:
                    self._stale_seen = True
                    continue
                want = keys[i]
                if size != want.size or content != want.content:
                    continue
                if mtime_ns != want.mtime_ns and (retimed is None or want.content):
                    continue
                if not _intact(payload, checksum):
                    invalid += 1
                    continue
                try:
                    fp = decode_fingerprint(payload, records[i])
                except ValueError:
                    invalid += 1
                    continue
                if mtime_ns == want.mtime_ns:
                    out[i] = fp
                elif retimed is not None and fp.file_digest:
                    retimed[i] = fp
        except sqlite3.DatabaseError as exc:
            if _unavailable(exc):
                log.warning("leakcheck: cannot read fingerprint cache %s now (%s); decoding every file", self.path, exc)
                return [None] * len(keys)
            log.warning("leakcheck: fingerprint cache %s is damaged (%s); rebuilding it", self.path, exc)
            self._rebuild()
            return [None] * len(keys)
        if invalid:
            log.warning("leakcheck: %d damaged entries in fingerprint cache %s; decoding those files again",
                        invalid, self.path)  # fmt: skip
        return out

    def _config_holds(self, conn: sqlite3.Connection) -> bool:
        row = conn.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()
        return row is not None and row[0] == self.config

    def _rebuild(self) -> None:
        self.close()
        self._remove()
        try:
            self._conn = self._open()
        except (sqlite3.Error, OSError) as exc:
            log.warning("leakcheck: cannot recreate fingerprint cache %s (%s); scanning without it", self.path, exc)
            self._conn = None

    def store(
        self,
        entries: Iterable[tuple[CacheKey, Fingerprint]],
        *,
        present: Iterable[str],
        retimed: Sequence[CacheKey] = (),
    ) -> None:
        """Write new or changed entries, and forget keys that are no longer `present` in the dataset;
        `retimed`: rows kept as they are under a new mtime (their files' bytes were found unchanged)."""
        if self._conn is None:
            return
        rows = []
        for key, fp in entries:
            try:
                payload = encode_fingerprint(fp)
            except TypeError as exc:
                log.warning("leakcheck: not caching %s (%s)", key.key, exc)
                continue
            rows.append((key.key, key.size, key.mtime_ns, key.content, _checksum(payload), payload))
        if not rows and not retimed and not self._stale_seen:
            # Nothing new, and the last lookup found no rows of removed files: no write transaction (a
            # warm scan of unchanged data never waits on, or blocks, another scan's writes).
            return
        keep = set(present)
        try:
            with _writing(self._conn) as conn:
                if not self._config_holds(conn):
                    # A scan with other options or another version took the file over meanwhile.
                    return
                stale = [(k,) for (k,) in conn.execute("SELECT key FROM fingerprints") if k not in keep]
                conn.executemany("DELETE FROM fingerprints WHERE key = ?", stale)
                conn.executemany("INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.executemany(
                    "UPDATE fingerprints SET mtime_ns = ? WHERE key = ? AND size = ?",
                    ((k.mtime_ns, k.key, k.size) for k in retimed),
                )
        except sqlite3.Error as exc:
            log.warning("leakcheck: could not update fingerprint cache %s (%s); results are unaffected", self.path, exc)

    def near_get(self, key: str) -> bytes | None:
        """The near-duplicate detector's stored result under `key` (a digest of its inputs), if intact."""
        return self._blob_get("near", key, "near-duplicate results")

    def near_put(self, key: str, payload: bytes) -> None:
        """Store the detector's result under `key`, keeping only the most recent few."""
        self._blobs_put(key, [("near", payload)], "near-duplicate results")

    def search_get(self, key: str) -> bytes | None:
        """The detector's last candidate search stored under `key` (a digest of its settings), if intact."""
        return self._blob_get("near_search", key, "the near-duplicate candidate search")

    def search_put(self, key: str, payload: bytes) -> None:
        """Store the detector's candidate search under `key`, keeping only the most recent few."""
        self._blobs_put(key, [("near_search", payload)], "the near-duplicate candidate search")

    def report_get(self, key: str) -> bytes | None:
        """The stored report of an earlier scan with the same settings (and its tree's digest), if intact."""
        return self._blob_get("reports", key, "the stored report")

    def report_files_get(self, key: str) -> bytes | None:
        """The file list stored beside the report under `key` (read only when the tree's times changed)."""
        return self._blob_get("report_files", key, "the stored report's file list")

    def report_put(self, key: str, payload: bytes, files: bytes) -> None:
        """Store a scan's report and its file list under `key` in one transaction (so that the two rows
        are always each other's), keeping only the most recent few."""
        self._blobs_put(key, [("reports", payload), ("report_files", files)], "the report")

    def _blob_get(self, table: str, key: str, what: str) -> bytes | None:
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(f"SELECT checksum, payload FROM {table} WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("leakcheck: cannot read %s from %s (%s); working without it", what, self.path, exc)
            return None
        if row is None:
            return None
        checksum, payload = row
        if not _intact(payload, checksum):
            log.warning("leakcheck: damaged %s in %s; working without it", what, self.path)
            return None
        return payload

    def _blobs_put(self, key: str, rows: Sequence[tuple[str, bytes]], what: str) -> None:
        """Each (table, payload) of `rows` under `key`, in one transaction."""
        if self._conn is None:
            return
        try:
            with _writing(self._conn) as conn:
                for table, payload in rows:
                    conn.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)", (key, _checksum(payload), payload))
                    conn.execute(
                        f"DELETE FROM {table} WHERE rowid NOT IN "
                        f"(SELECT rowid FROM {table} ORDER BY rowid DESC LIMIT ?)",
                        (_BLOBS_KEPT,),
                    )
        except sqlite3.Error as exc:
            log.warning("leakcheck: could not store %s in %s (%s)", what, self.path, exc)

    def pairs_get(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored outcomes of the detector's candidate pairs among `keys` (intact ones only)."""
        if self._conn is None or not keys:
            return {}
        out: dict[str, bytes] = {}
        damaged = 0
        try:
            for s in range(0, len(keys), _IN_BATCH):
                batch = keys[s : s + _IN_BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._conn.execute(
                    f"SELECT key, checksum, payload FROM near_pairs WHERE key IN ({marks})", batch
                )
                for key, checksum, payload in rows:
                    if _intact(payload, checksum):
                        out[key] = payload
                    else:
                        damaged += 1
        except sqlite3.Error as exc:
            log.warning("leakcheck: cannot read near-duplicate pairs from %s (%s); verifying them", self.path, exc)
            return {}
        if damaged:
            log.warning("leakcheck: %d damaged near-duplicate pairs in %s; verifying them again", damaged, self.path)
        return out

    def pairs_put(self, rows: Sequence[tuple[str, bytes]], *, keep: Sequence[str]) -> None:
        """Store new pair outcomes and forget every pair not in `keep` (this scan's candidates)."""
        if self._conn is None:
            return
        try:
            with _writing(self._conn) as conn:
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS keep_pairs (key TEXT PRIMARY KEY)")
                conn.execute("DELETE FROM keep_pairs")
                conn.executemany("INSERT OR IGNORE INTO keep_pairs VALUES (?)", ((k,) for k in keep))
                conn.execute("DELETE FROM near_pairs WHERE key NOT IN (SELECT key FROM keep_pairs)")
                conn.execute("DELETE FROM keep_pairs")
                conn.executemany(
                    "INSERT OR REPLACE INTO near_pairs VALUES (?, ?, ?)",
                    ((key, _checksum(payload), payload) for key, payload in rows),
                )
        except sqlite3.Error as exc:
            log.warning("leakcheck: could not store near-duplicate pairs in %s (%s)", self.path, exc)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> FingerprintCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cache(root: Path, cache_dir: Path | None, config: str) -> FingerprintCache | None:
    """The cache for the dataset at `root`, or None (with a log warning) when the default folder lies
    inside the dataset.

    Raises:
        UsageError: an explicit `cache_dir` lies inside the dataset (leakcheck never writes there).
    """
    folder = default_cache_dir() if cache_dir is None else cache_dir
    if is_inside(folder, root):
        if cache_dir is not None:
            raise UsageError(
                f"--cache-dir {cache_dir} is inside the data folder {root}",
                hint="leakcheck never writes into the data; choose a folder outside it or pass --no-cache",
            )
        log.warning("leakcheck: the cache folder %s is inside the data folder; scanning without a cache", folder)
        return None
    return FingerprintCache(cache_file(root, folder), config)


def cache_config(fingerprint_version: int, options: object) -> str:
    """Everything a fingerprint depends on besides the file: a change empties the cache."""
    return (
        f"fingerprint={fingerprint_version};pillow={PIL.__version__};numpy={np.__version__};"
        f"options={options!r};schema={schema()}"
    )
