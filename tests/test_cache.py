"""The persistent fingerprint cache: reuse, invalidation, damage, concurrency, and where it writes."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

import leakcheck
import leakcheck.engine as engine_module
from leakcheck.cache import (
    CacheKey,
    FingerprintCache,
    _codec,
    _decode,
    _encode,
    cache_file,
    decode_fingerprint,
    default_cache_dir,
    encode_fingerprint,
)
from leakcheck.cli import main
from leakcheck.fingerprint import fingerprint_record
from leakcheck.model import ChannelStats, Fingerprint, Record
from tests.factory import flip_middle_byte


def _image(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
    return low.resize(size, Image.Resampling.BICUBIC)


def _save(path: Path, image: Image.Image, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    image.save(buf, fmt)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for k in range(8):
        _save(root / "train" / ("a" if k % 2 else "b") / f"{k}.jpg", _image(k))
    for k in range(3):
        _save(root / "test" / "a" / f"t{k}.png", _image(100 + k), "PNG")
    (root / "test" / "a" / "copy.jpg").write_bytes((root / "train" / "b" / "0.jpg").read_bytes())
    return root


class DecodeCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.keys: list[str] = []
        monkeypatch.setattr(engine_module, "fingerprint_record", self)

    def __call__(self, record: Record, *args: object) -> Fingerprint:
        self.keys.append(record.key)
        return fingerprint_record(record, *args)  # type: ignore[arg-type]  # passes the options through


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_warm_scan_decodes_nothing_and_reports_the_same(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    before = _files(dataset)
    counter = DecodeCounter(monkeypatch)
    cold = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    assert len(counter.keys) == 12
    counter.keys.clear()
    warm = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    assert counter.keys == []
    assert warm.to_json() == cold.to_json()
    assert leakcheck.scan(dataset, jobs=1, cache=False).to_json() == cold.to_json()
    assert _files(dataset) == before  # nothing written, touched or added inside the data
    assert [p.name for p in cache_dir.iterdir() if p.suffix == ".sqlite"] == [cache_file(dataset, cache_dir).name]


def test_only_changed_and_new_files_are_decoded(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    counter = DecodeCounter(monkeypatch)
    changed = dataset / "train" / "a" / "1.jpg"
    _save(changed, _image(500))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 1_000_000))
    _save(dataset / "test" / "b" / "new.jpg", _image(501))
    (dataset / "train" / "a" / "3.jpg").unlink()
    report = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    assert sorted(counter.keys) == ["test/b/new.jpg", "train/a/1.jpg"]
    assert report.to_json() == leakcheck.scan(dataset, jobs=1, cache=False).to_json()
    with sqlite3.connect(cache_file(dataset, cache_dir)) as conn:
        keys = {k for (k,) in conn.execute("SELECT key FROM fingerprints")}
    assert "train/a/3.jpg" not in keys
    assert "test/b/new.jpg" in keys


def test_files_with_new_times_but_the_same_bytes_are_not_decoded(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh checkout or a copy gives every file new times: the bytes are read and digested, not decoded."""
    cache_dir = tmp_path / "cache"
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    for path in dataset.rglob("*.*"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    # Same size, other bytes, new time: decoded.
    flip_middle_byte(dataset / "train" / "a" / "1.jpg")
    counter = DecodeCounter(monkeypatch)
    report = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    assert counter.keys == ["train/a/1.jpg"]
    assert report.to_json() == leakcheck.scan(dataset, jobs=1, cache=False).to_json()
    # The rows now carry the new times (the later of mtime and ctime): the next scan (its report rebuilt)
    # reads them as they are.
    with sqlite3.connect(cache_file(dataset, cache_dir)) as conn:
        conn.execute("DELETE FROM reports")
        times = dict(conn.execute("SELECT key, mtime_ns FROM fingerprints WHERE key != 'train/a/1.jpg'").fetchall())
    stamps = {k: max((dataset / k).stat().st_mtime_ns, (dataset / k).stat().st_ctime_ns) for k in times}
    assert times == stamps
    counter.keys.clear()
    assert leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json() == report.to_json()
    assert counter.keys == []


def test_new_bytes_of_the_same_size_under_the_old_mtime_are_decoded(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cp -p` or `touch -r` over a file: same size, same mtime, other bytes. Only the ctime tells."""
    cache_dir = tmp_path / "cache"
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    target = dataset / "test" / "a" / "t0.png"
    before = target.stat()
    # Another test image's bytes, padded to the same size: now an exact copy of nothing it was.
    other = (dataset / "test" / "a" / "t1.png").read_bytes()
    target.write_bytes(other[: before.st_size].ljust(before.st_size, b"\0"))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    counter = DecodeCounter(monkeypatch)
    report = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    assert counter.keys == ["test/a/t0.png"]
    assert report.to_json() == leakcheck.scan(dataset, jobs=1, cache=False).to_json()


def test_other_options_or_version_empty_the_cache(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    counter = DecodeCounter(monkeypatch)
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir, max_pixels=10_000)
    assert len(counter.keys) == 12
    counter.keys.clear()
    monkeypatch.setattr("leakcheck.scanning.FINGERPRINT_VERSION", 10_000)
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir, max_pixels=10_000)
    assert len(counter.keys) == 12


def _warm(dataset: Path, cache_dir: Path) -> tuple[str, Path]:
    """The report of an uncached scan, and the cache file a cached scan of the same data wrote."""
    expected = leakcheck.scan(dataset, jobs=1, cache=False).to_json()
    leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    return expected, cache_file(dataset, cache_dir)


def test_a_damaged_cache_file_is_rebuilt_with_a_warning(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    expected, path = _warm(dataset, cache_dir)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    counter = DecodeCounter(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
        assert leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert len(counter.keys) == 12
    assert "rebuilding" in caplog.text
    counter.keys.clear()
    assert leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert counter.keys == []  # the rebuilt cache works


def test_a_cache_held_by_another_scan_past_the_timeout_is_left_alone(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import leakcheck.cache as cache_module

    cache_dir = tmp_path / "cache"
    expected, path = _warm(dataset, cache_dir)
    inode = path.stat().st_ino
    monkeypatch.setattr(cache_module, "_BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another scan writing, for longer than the timeout
    try:
        with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
            assert leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json() == expected
        assert "now (database is locked); scanning without it" in caplog.text
        assert "rebuilding" not in caplog.text
        # Not deleted under the holder, whose write still lands.
        assert path.stat().st_ino == inode
        holder.execute("INSERT OR REPLACE INTO meta VALUES ('probe', 'kept')")
        holder.execute("COMMIT")
    finally:
        holder.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE name = 'probe'").fetchone() == ("kept",)
    finally:
        conn.close()


def test_a_side_table_of_another_shape_is_made_again(
    dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    expected, path = _warm(dataset, cache_dir)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TABLE reports")
        conn.execute("CREATE TABLE reports (key TEXT PRIMARY KEY, payload BLOB)")
    finally:
        conn.close()
    with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
        assert leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json() == expected
        again = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir)
    assert caplog.text == ""
    assert again.reused  # the stored report works again
    assert again.to_json() == expected


def test_a_tampered_row_is_not_trusted(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json()
    with sqlite3.connect(cache_file(dataset, cache_dir)) as conn:
        conn.execute("UPDATE fingerprints SET payload = replace(payload, '\"phash\":', '\"phash\":1') WHERE key = ?",
                     ("train/b/0.jpg",))  # fmt: skip
        conn.execute("UPDATE fingerprints SET payload = '[1]', checksum = ? WHERE key = ?",
                     ("0" * 16, "train/a/1.jpg"))  # fmt: skip
        conn.execute("DELETE FROM reports")  # the stored report would answer before any row is read
    counter = DecodeCounter(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
        assert leakcheck.scan(dataset, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert sorted(counter.keys) == ["train/a/1.jpg", "train/b/0.jpg"]
    assert "2 damaged entries" in caplog.text


def test_concurrent_scans_share_one_cache(dataset: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(dataset, jobs=1, cache=False).to_json()
    code = (
        "import sys, leakcheck\n"
        "r = leakcheck.scan(sys.argv[1], jobs=1, cache_dir=sys.argv[2])\n"
        "sys.stdout.write(r.to_json())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(dataset), str(cache_dir)], stdout=subprocess.PIPE, env=env)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert outputs == [expected] * 4
    with sqlite3.connect(cache_file(dataset, cache_dir)) as conn:
        assert conn.execute("SELECT count(*) FROM fingerprints").fetchone() == (12,)


def test_cache_dir_inside_the_data_is_refused(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(dataset)
    code = main(["scan", str(dataset), "-q", "-j", "1", "--cache-dir", str(dataset / "train" / "cache")])
    assert code == 2
    assert "inside the data folder" in capsys.readouterr().err
    assert _files(dataset) == before


def test_cli_no_cache_writes_no_cache(dataset: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert main(["scan", str(dataset), "-q", "-j", "1", "--no-cache", "--cache-dir", str(cache_dir)]) == 1
    assert not cache_dir.exists()
    assert main(["scan", str(dataset), "-q", "-j", "1", "--cache-dir", str(cache_dir)]) == 1
    assert cache_file(dataset, cache_dir).is_file()


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("XDG applies to Linux and other Unix systems")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "leakcheck"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "leakcheck"


def test_every_field_round_trips(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.png", _image(3), "PNG")
    fp = fingerprint_record(Record("x.png", "train", "a", path))
    payload = encode_fingerprint(fp)
    assert decode_fingerprint(payload, fp.record) == fp
    assert len(json.loads(payload)) == len(dataclasses.fields(Fingerprint)) - 1
    failed = fingerprint_record(Record("y.png", "train", "a", _write_bytes(tmp_path / "y.png", b"\x89PNG broken")))
    assert decode_fingerprint(encode_fingerprint(failed), failed.record) == failed


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclasses.dataclass(frozen=True)
class FutureFingerprint:
    """The shape descriptor fields of other features may take: bytes and small arrays, maybe absent."""

    record: Record
    thumbnail: bytes
    grid: NDArray[np.uint8]
    codes: NDArray[np.uint64] | None
    stats: ChannelStats | None
    scores: tuple[float, ...]


def test_a_fingerprint_with_array_fields_round_trips() -> None:
    encode, decode = _codec(FutureFingerprint, "record")
    record = Record("x", "train", None)
    value = FutureFingerprint(
        record,
        b"\x00\xffthumb",
        np.arange(12, dtype=np.uint8).reshape(3, 4),
        np.array([2**64 - 1, 5], dtype=np.uint64),
        ChannelStats((1.0,), (2.0,), (0.0,), (255.0,)),
        (0.5, 1.0),
    )
    back = decode(json.loads(json.dumps(encode(value))), record)
    assert back.thumbnail == value.thumbnail
    np.testing.assert_array_equal(back.grid, value.grid)
    assert back.grid.dtype == np.uint8
    np.testing.assert_array_equal(back.codes, value.codes)
    assert (back.stats, back.scores) == (value.stats, value.scores)
    empty = dataclasses.replace(value, codes=None, stats=None)
    assert decode(json.loads(json.dumps(encode(empty))), record).codes is None
    with pytest.raises(ValueError, match="expected"):
        decode(json.loads(json.dumps(encode(value)).replace("[0.5, 1.0]", '["a", 1.0]')), record)


@pytest.mark.parametrize(
    "value",
    [
        b"\x00\x01thumbnail",
        np.arange(12, dtype=np.uint8).reshape(3, 4),
        np.array([1.5, -2.0], dtype=np.float32),
        np.array([[True, False]]),
        (1, "a", None, 2.5, (b"x",)),
    ],
)
def test_future_field_values_round_trip(value: object) -> None:
    # Descriptor fields other features add (thumbnails, hash arrays) are bytes or small arrays.
    back = _decode(json.loads(json.dumps(_encode(value))))
    if isinstance(value, np.ndarray):
        assert isinstance(back, np.ndarray)
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    else:
        assert back == value


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"file_size": 1}', b'{"a": "|O", "s": [1], "d": ""}', b'[1, "x"]'],
)
def test_invalid_payloads_are_rejected(payload: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # any validation failure is a ValueError; the message varies
        decode_fingerprint(payload, Record("x", "train", None))


def test_object_arrays_are_neither_stored_nor_loaded() -> None:
    with pytest.raises(TypeError):
        _encode(np.array([object()]))
    with pytest.raises(ValueError, match="not allowed"):
        _decode({"a": "|O", "s": [1], "d": ""})


def test_an_unwritable_cache_folder_only_warns(dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
        report = leakcheck.scan(dataset, jobs=1, cache_dir=blocker / "cache")
    assert report.to_json() == leakcheck.scan(dataset, jobs=1, cache=False).to_json()
    assert "scanning without it" in caplog.text
    cache = FingerprintCache(blocker / "cache" / "x.sqlite", "config")
    assert not cache.usable
    assert cache.lookup([CacheKey("a", 1, 1)], [Record("a", "train", None)]) == [None]


def test_progress_counts_cached_files_as_done(dataset: Path, tmp_path: Path) -> None:
    calls: list[list[int]] = []

    def start(total: int) -> Callable[[int], None]:
        calls.append([total])
        return calls[-1].append

    leakcheck.scan(dataset, jobs=1, cache_dir=tmp_path / "cache", progress=start)
    # Unchanged: the stored report answers, and nothing is counted since nothing is read.
    leakcheck.scan(dataset, jobs=1, cache_dir=tmp_path / "cache", progress=start)
    assert calls == [[12] + [1] * 12]
    # One file changed: the report is built again, and the files whose fingerprints are reused count
    # as done at once.
    _save(dataset / "train" / "a" / "1.jpg", _image(500))
    leakcheck.scan(dataset, jobs=1, cache_dir=tmp_path / "cache", progress=start)
    assert calls == [[12] + [1] * 12, [12, 11, 1]]


def test_pool_and_serial_agree_with_chunked_progress(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for k in range(150):
        _save(root / ("test" if k % 5 == 0 else "train") / f"c{k % 3}" / f"{k}.jpg", _image(k % 120, (40, 40)))
    done: list[int] = []
    pooled = leakcheck.scan(root, jobs=2, cache=False, progress=lambda total: done.append)
    assert sum(done) == 150
    assert len(done) < 150  # chunks, not files
    assert pooled.to_json() == leakcheck.scan(root, jobs=1, cache=False).to_json()


def test_rows_are_neither_read_nor_written_under_another_config(dataset: Path, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "x.sqlite"
    record = Record("train/b/0.jpg", "train", "b", dataset / "train" / "b" / "0.jpg")
    fp = fingerprint_record(record)
    key = CacheKey(record.key, 1, 2)
    first = FingerprintCache(path, "config A")
    second = FingerprintCache(path, "config B")  # another scan, other options: takes the file over
    first.store([(key, fp)], present=[key.key])
    assert second.lookup([key], [record]) == [None]  # A's row was not written under B's config
    second.store([(key, fp)], present=[key.key])
    assert first.lookup([key], [record]) == [None]  # and B's rows are not read under A's
    assert second.lookup([key], [record]) == [fp]
    first.close()
    second.close()


def _near_row(folder: Path, edit: Callable[[list[object]], None]) -> bytes:
    """A valid encoded fingerprint of a decoded image, with `edit` applied to its descriptor's fields."""
    fp = fingerprint_record(Record("a.png", "train", None, _save(folder / "a.png", _image(7), "PNG")))
    fields = json.loads(encode_fingerprint(fp))
    edit(fields[-1])
    return json.dumps(fields, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("box too short", lambda near: near.__setitem__(3, {"t": [0.0, 0.0, 1.0]})),
        ("box of text", lambda near: near.__setitem__(3, {"t": [0.0, 0.0, 1.0, "1"]})),
        ("box untagged", lambda near: near.__setitem__(3, [0.0, 0.0, 1.0, 1.0])),
        ("box other tag", lambda near: near.__setitem__(3, {"t": [0.0, 0.0, 1.0, 1.0], "x": 1})),
    ],
)
def test_fixed_tuples_are_checked_when_decoded(name: str, edit: Callable[[list[object]], None], tmp_path: Path) -> None:
    assert decode_fingerprint(_near_row(tmp_path, lambda near: None), Record("a.png", "train", None)).near is not None
    with pytest.raises(ValueError):  # noqa: PT011  # any validation failure is a ValueError
        decode_fingerprint(_near_row(tmp_path, edit), Record("a.png", "train", None))


@pytest.mark.parametrize("wrap", [b" %s", b"%s ", b"%s,[1]", b"%s]"])
def test_a_payload_is_exactly_one_json_value(wrap: bytes, tmp_path: Path) -> None:
    good = _near_row(tmp_path, lambda near: None)
    with pytest.raises(ValueError, match="not JSON"):
        decode_fingerprint(wrap % good, Record("a.png", "train", None))


def test_an_unchanged_lookup_writes_nothing_and_removed_files_are_still_forgotten(
    dataset: Path, tmp_path: Path
) -> None:
    path = tmp_path / "cache" / "x.sqlite"
    records = [Record(k, "train", None, dataset / k) for k in ("train/b/0.jpg", "train/a/1.jpg")]
    keys = [CacheKey(r.key, 1, 2) for r in records]
    fps = [fingerprint_record(r) for r in records]
    with FingerprintCache(path, "config") as cache:
        cache.store(list(zip(keys, fps, strict=True)), present=[k.key for k in keys])
    with FingerprintCache(path, "config") as cache:
        assert cache.lookup(keys, records) == fps
        statements: list[str] = []
        assert cache._conn is not None
        cache._conn.set_trace_callback(statements.append)
        cache.store([], present=[k.key for k in keys])
        assert statements == []  # a warm scan of unchanged files takes no write lock
        assert cache.lookup(keys[:1], records[:1]) == fps[:1]  # the second file is gone
        cache.store([], present=[keys[0].key])
        assert any(s.startswith("DELETE") for s in statements)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key FROM fingerprints").fetchall() == [("train/b/0.jpg",)]


class DetectorCounter:
    """Counts runs of the near-duplicate detector proper (what the near memo lets a re-scan skip)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import leakcheck.near as near_module

        self.calls = 0
        self._real = near_module._find_near_pairs
        monkeypatch.setattr(near_module, "_find_near_pairs", self)

    def __call__(self, *args: object) -> object:
        self.calls += 1
        return self._real(*args)  # type: ignore[arg-type]  # passes the arguments through


@pytest.fixture
def leaky(dataset: Path) -> Path:
    with Image.open(dataset / "train" / "b" / "2.jpg") as im:
        _save(dataset / "test" / "a" / "small.jpg", im.resize((36, 30), Image.Resampling.LANCZOS))
    return dataset


def test_a_warm_scan_verifies_nothing_and_a_changed_one_verifies_again(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    counter = DetectorCounter(monkeypatch)
    cold = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert counter.calls == 1
    assert any(p["kind"] == "near" for p in json.loads(cold.to_json())["pairs"])
    warm = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert counter.calls == 1
    assert warm.to_json() == cold.to_json()
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir, sensitivity="strict")
    assert counter.calls == 2  # other settings: another result
    _save(leaky / "test" / "b" / "new.jpg", _image(501))
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert counter.calls == 3  # other images: verified again


@pytest.mark.parametrize(
    "payload",
    [b'[[0, 99, 0.9, "x", 1]]', b'[[1, 0, 0.9, "x", 1]]', b'[[0, 1, "0.9", "x", 1]]', b"{}", b"not json"],
    ids=["out-of-range", "unordered", "wrong-type", "not-a-list", "not-json"],
)
def test_a_stored_near_result_is_checked_before_it_is_trusted(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: bytes
) -> None:
    from leakcheck.cache import _checksum

    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir).to_json()
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        conn.execute("UPDATE near SET payload = ?, checksum = ?", (payload, _checksum(payload)))
        conn.execute("DELETE FROM reports")  # the stored report would answer before any row is read
    counter = DetectorCounter(monkeypatch)
    assert leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert counter.calls == 1


def test_a_damaged_near_row_is_recomputed_with_a_warning(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir).to_json()
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        conn.execute("UPDATE near SET payload = CAST('[]' AS BLOB)")  # the checksum no longer matches
        conn.execute("DELETE FROM reports")  # the stored report would answer before any row is read
    counter = DetectorCounter(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
        assert leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert counter.calls == 1
    assert "damaged near-duplicate results" in caplog.text


def test_a_hash_rule_scan_skips_the_descriptor_and_finds_the_same(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakcheck.index import Index, MatchOptions

    seen: list[Fingerprint] = []

    def spy(record: Record, *args: object) -> Fingerprint:
        fp = fingerprint_record(record, *args)  # type: ignore[arg-type]  # passes the options through
        seen.append(fp)
        return fp

    monkeypatch.setattr(engine_module, "fingerprint_record", spy)
    leakcheck.scan(leaky, jobs=1, cache=False, near_method="hash")
    without = list(seen)
    assert without
    assert all(fp.near is None for fp in without)
    seen.clear()
    leakcheck.scan(leaky, jobs=1, cache=False)
    with_descriptors = list(seen)
    assert all(fp.near is not None for fp in with_descriptors if fp.ok)
    # The hash rule does not depend on the descriptor it skipped.
    rule = MatchOptions(method="hash")
    assert Index(without, rule).relations() == Index(with_descriptors, rule).relations()
    assert any(r.kind == "near" for r in Index(without, rule).relations())


class PairCounter:
    """Records which candidate pairs the detector actually verifies (the rest come from the cache)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import leakcheck.near as near_module

        self.verified: list[tuple[bytes, bytes]] = []
        self._real = near_module._verify_pairs
        monkeypatch.setattr(near_module, "_verify_pairs", self)

    def __call__(self, sub: Any, v: Any, order: Any, *rest: Any) -> Any:
        self.verified.extend((sub[i].descriptor.thumb, sub[j].descriptor.thumb) for i, j in order)
        return self._real(sub, v, order, *rest)


def test_after_a_change_only_the_pairs_of_changed_images_are_verified(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakcheck.near import describe

    cache_dir = tmp_path / "cache"
    pairs = PairCounter(monkeypatch)
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    cold = len(pairs.verified)
    assert cold > 0
    new = leaky / "test" / "b" / "new.jpg"
    _save(new, _image(501))
    pairs.verified.clear()
    warm = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    with Image.open(new) as im:
        thumb = describe(im.convert("RGB")).thumb
    assert pairs.verified, "the new image's pairs are verified"
    assert all(thumb in pair for pair in pairs.verified)
    assert warm.to_json() == leakcheck.scan(leaky, jobs=1, cache=False).to_json()
    # Gone again: its pairs leave the cache, which holds this scan's candidate pairs and nothing else.
    # (Without the stored whole results, which would answer before any pair is looked up.)
    new.unlink()
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        conn.execute("DELETE FROM near")
    pairs.verified.clear()
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert pairs.verified == []
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        assert conn.execute("SELECT count(*) FROM near_pairs").fetchone()[0] == cold


def test_after_a_change_the_candidate_search_reuses_the_stored_one(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_near_search import Work

    cache_dir = tmp_path / "cache"
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        assert conn.execute("SELECT count(*) FROM near_search").fetchone()[0] == 1
    _save(leaky / "test" / "b" / "new.jpg", _image(501))
    work = Work(monkeypatch)
    warm = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    reusing = work.pairs
    work.calls.clear()
    assert warm.to_json() == leakcheck.scan(leaky, jobs=1, cache=False).to_json()
    assert 0 < reusing < work.pairs / 2, (reusing, work.pairs)


def test_a_damaged_pair_row_is_verified_again_with_a_warning(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir).to_json()
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        total = conn.execute("SELECT count(*) FROM near_pairs").fetchone()[0]
        conn.execute("DELETE FROM near")  # the whole result is gone: the detector runs, pair by pair
        conn.execute("UPDATE near_pairs SET payload = CAST('[0.99, \"x\"]' AS BLOB) WHERE rowid = 1")
        conn.execute("DELETE FROM reports")  # the stored report would answer before any row is read
    pairs = PairCounter(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="leakcheck.cache"):
        assert leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert total > 1
    assert len(pairs.verified) == 1
    assert "1 damaged near-duplicate pairs" in caplog.text
    with sqlite3.connect(cache_file(leaky, cache_dir)) as conn:
        assert conn.execute("SELECT count(*) FROM near_pairs").fetchone()[0] == total
