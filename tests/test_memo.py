"""The report memo: an unchanged folder's re-scan returns the stored report; any change, any other
setting, or anything the memo cannot vouch for runs the scan in full."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import leakcheck
import leakcheck.memo as memo_module
import leakcheck.scanning as scanning_module
from leakcheck.cache import _checksum, cache_file
from leakcheck.memo import (
    _tag,
    _untag,
    decode_files,
    decode_head,
    encode_entry,
    report_document,
    report_from_document,
    scan_tree,
)
from leakcheck.model import Fingerprint, Record
from leakcheck.sources.folder import FolderListing, list_folder
from tests.factory import DatasetFactory, flip_middle_byte


@pytest.fixture
def leaky(factory: DatasetFactory) -> Path:
    train = factory.add_many("train", ["cat", "dog"], 3, seed0=10)
    factory.add_many("test", ["cat", "dog"], 2, seed0=500)
    factory.copy_bytes(train[0], "test", "cat", "copy.jpg")
    factory.reencode(train[4], "test", "dog", "near.jpg")
    return factory.root


class ListingCounter:
    """Counts folder listings: a scan answered by the memo lists nothing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        monkeypatch.setattr(scanning_module, "list_folder", self)

    def __call__(self, *args: object, **kwargs: object) -> FolderListing:
        self.calls += 1
        return list_folder(*args, **kwargs)  # type: ignore[arg-type]  # passed through unchanged


def _stored(root: Path, cache_dir: Path) -> int:
    with sqlite3.connect(cache_file(root, cache_dir)) as conn:
        count: int = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
    return count


def test_an_unchanged_folder_gets_the_stored_report(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    cold = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert _stored(leaky, cache_dir) == 1
    listings = ListingCounter(monkeypatch)
    warm = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert listings.calls == 0
    assert warm == cold
    assert warm.reused
    assert not cold.reused
    assert warm.to_json() == cold.to_json()
    assert warm.root_path == leaky.resolve()
    # What the report says about the planted copies survives the round trip, explanations included.
    kinds = {(p["a_path"], p["b_path"]): p for p in json.loads(warm.to_json())["pairs"]}
    assert any(p["kind"] == "near" and p["explanation"] for p in kinds.values())
    assert warm.exit_code() == cold.exit_code() == 1


def test_the_stored_report_round_trips_every_value_type(leaky: Path) -> None:
    report = leakcheck.scan(leaky, jobs=1, cache=False)
    tree = scan_tree(leaky)
    assert tree is not None
    head, listed = encode_entry(tree, {"train/cat/cat_000.jpg": "ab"}, report_document(report))
    # (Equality also tells tuples from lists: (1,) != [1].)
    assert report_from_document(decode_head(head).report, None) == report
    files = decode_files(listed, tree.digest)
    assert files["train/cat/cat_000.jpg"] == (tree.files["train/cat/cat_000.jpg"], "ab")
    assert files["train/cat/cat_001.jpg"][1] is None
    with pytest.raises(ValueError, match="not the report's"):
        decode_files(listed, "another tree")
    columns = json.loads(listed)
    for damage, why in (
        ({"sizes": columns["sizes"][1:]}, "differ in length"),
        ({"mtimes": [True] * len(columns["mtimes"])}, "list of int"),
        ({"digests": [1] * len(columns["digests"])}, "list of str or null"),
        ({"paths": None}, "list of str"),
    ):
        with pytest.raises(ValueError, match=why):
            decode_files(json.dumps({**columns, **damage}).encode(), tree.digest)
    value = {"a": [1, (2.5, None)], "b": {"c": (True, "x")}, 3: []}
    assert _untag(json.loads(json.dumps(_tag(value)))) == value


@pytest.mark.parametrize(
    "change",
    ["new file", "edited file", "resized file", "removed file", "renamed class", "hidden file"],
)
def test_any_change_to_the_tree_scans_again(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factory: DatasetFactory, change: str
) -> None:
    cache_dir = tmp_path / "cache"
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    target = leaky / "train" / "cat" / "cat_000.jpg"
    if change == "new file":
        factory.copy_bytes(target, "val", "cat", "moved.jpg")
    elif change == "edited file":
        factory.add("train", "cat", "cat_001.jpg", seed=999)
    elif change == "resized file":
        target.write_bytes(target.read_bytes() + b"\0")
    elif change == "removed file":
        target.unlink()
    elif change == "renamed class":
        (leaky / "test" / "dog").rename(leaky / "test" / "wolf")
    else:
        (leaky / "train" / ".notes").write_text("x")
    listings = ListingCounter(monkeypatch)
    rescanned = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert listings.calls == 1
    assert rescanned.to_json() == leakcheck.scan(leaky, jobs=1, cache=False).to_json()


def test_new_times_with_the_same_bytes_keep_the_stored_report(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh checkout or a copy gives every file new times: the files are read and digested, and the
    stored report stands if every digest does."""
    cache_dir = tmp_path / "cache"
    cold = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    for path in leaky.rglob("*.jpg"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    listings = ListingCounter(monkeypatch)
    assert leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir) == cold
    assert listings.calls == 0
    # The entry was stored again under the new times: the next scan reads no file at all.
    monkeypatch.setattr(memo_module, "has_digest", _never)
    assert leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir) == cold
    assert listings.calls == 0


def _never(path: object, digest: str) -> bool:
    raise AssertionError("a file was read")


def test_new_times_and_other_bytes_of_the_same_size_scan_again(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    flip_middle_byte(leaky / "train" / "dog" / "dog_001.jpg")
    listings = ListingCounter(monkeypatch)
    rescanned = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert listings.calls == 1
    assert rescanned.to_json() == leakcheck.scan(leaky, jobs=1, cache=False).to_json()


def test_new_times_and_one_file_of_another_size_read_nothing_for_the_memo(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh checkout with one edit: the sizes settle the miss before any file is read for the memo
    (the scan then reads the retimed files once, for the fingerprint cache)."""
    cache_dir = tmp_path / "cache"
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    for path in leaky.rglob("*.jpg"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    edited = sorted(leaky.rglob("*.jpg"))[-1]
    edited.write_bytes(edited.read_bytes() + b"\0")
    monkeypatch.setattr(memo_module, "has_digest", _never)
    rescanned = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert rescanned.to_json() == leakcheck.scan(leaky, jobs=1, cache=False).to_json()


def test_a_fresh_checkout_with_a_same_size_edit_reads_each_file_once(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memo reads the retimed files until it meets the edited one; the scan that follows then reads
    only the files the memo did not vouch for (each file once in all, the edited one twice)."""
    import leakcheck.engine as engine_module

    cache_dir = tmp_path / "cache"
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    for path in leaky.rglob("*.jpg"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    tree = scan_tree(leaky)
    assert tree is not None
    edited = list(tree.files)[-1]  # the last file the memo reads: it vouches for every other one first
    flip_middle_byte(leaky / edited)
    reads: list[str] = []
    real = memo_module.has_digest

    def counted(path: str | os.PathLike[str], digest: str) -> bool:
        reads.append(Path(path).relative_to(leaky).as_posix())
        return real(path, digest)

    monkeypatch.setattr(memo_module, "has_digest", counted)
    monkeypatch.setattr(engine_module, "has_digest", counted)
    rescanned = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert sorted(reads) == sorted([*tree.files, edited])
    assert rescanned.to_json() == leakcheck.scan(leaky, jobs=1, cache=False).to_json()


def _digest(root: Path) -> str | None:
    tree = scan_tree(root)
    return None if tree is None else tree.digest


def test_a_hidden_file_is_named_not_read(tmp_path: Path, factory: DatasetFactory) -> None:
    factory.add("train", "cat", "a.jpg", seed=1)
    notes = factory.root / "train" / ".notes"
    notes.write_text("x")
    before = _digest(factory.root)
    notes.write_text("longer")  # the scan passes over hidden files: their content is not part of it
    assert _digest(factory.root) == before
    notes.rename(factory.root / "train" / ".other")
    assert _digest(factory.root) != before


def test_other_settings_do_not_share_a_report(leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    default = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    listings = ListingCounter(monkeypatch)
    strict = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir, sensitivity="strict")
    ignored = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir, ignore=["test/dog/*"])
    assert listings.calls == 2
    assert strict.parameters["sensitivity"] == "strict"
    assert ignored.parameters["ignore"] == ["test/dog/*"]
    # The workers do not shape the report, so their number does not matter.
    assert leakcheck.scan(leaky, jobs=2, cache_dir=cache_dir) == default
    assert listings.calls == 2
    hashed = leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir, near_method="hash")
    assert listings.calls == 3
    assert hashed.parameters["near_method"] == "hash"


def test_no_memo_without_a_cache_or_where_it_cannot_vouch(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    listings = ListingCounter(monkeypatch)
    for _ in range(2):
        leakcheck.scan(leaky, jobs=1, cache=False)
    assert listings.calls == 2
    # A symbolic link: its target can change without anything in the tree changing.
    (leaky / "train" / "link.jpg").symlink_to(leaky / "train" / "cat" / "cat_000.jpg")
    assert _digest(leaky) is None
    for _ in range(2):
        leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert listings.calls == 4
    assert _stored(leaky, cache_dir) == 0


def test_a_check_of_ones_own_disables_the_memo(leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collections.abc import Iterable, Mapping
    from typing import ClassVar

    from leakcheck.checks import DEFAULT_CHECKS
    from leakcheck.index import Index
    from leakcheck.model import Finding

    class Mine:
        id: ClassVar[str] = "mine"

        def params(self) -> Mapping[str, Any]:
            return {}

        def run(self, index: Index) -> Iterable[Finding]:
            return ()

    listings = ListingCounter(monkeypatch)
    for _ in range(2):
        leakcheck.scan(leaky, jobs=1, cache_dir=tmp_path / "cache", checks=[*DEFAULT_CHECKS, Mine()])
    assert listings.calls == 2


def _cached_settings(cache_dir: Path) -> scanning_module._Settings:
    """The default scan settings with the cache in `cache_dir` (for driving `_ReportMemo` directly)."""
    return scanning_module._settings(jobs=1, cache=True, cache_dir=cache_dir)


def test_a_report_is_not_stored_when_a_file_could_not_be_read(leaky: Path, tmp_path: Path) -> None:
    report = leakcheck.scan(leaky, jobs=1, cache=False)
    settings = _cached_settings(tmp_path / "cache")
    with scanning_module._store(leaky.resolve(), settings) as store:
        assert store is not None
        memo = scanning_module._ReportMemo.start(store, leaky.resolve(), settings)
        assert memo is not None
        # No digest: the file could not be read at all, and the cause (permissions, a busy disk) may pass.
        unread = Fingerprint(Record("train/cat/x.jpg", "train", "cat"), 0, "", error="permission denied")
        memo.put(report, [unread])
        assert memo.get() is None
        memo.put(report, [])
        assert memo.get() == report


def test_a_tree_that_changes_during_the_scan_stores_nothing(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    real = scanning_module.fingerprint_dataset

    def and_meanwhile(*args: object, **kwargs: object) -> list[Fingerprint]:
        out = real(*args, **kwargs)  # type: ignore[arg-type]  # passed through unchanged
        (leaky / "test" / "cat" / "late.jpg").write_bytes((leaky / "train" / "dog" / "dog_000.jpg").read_bytes())
        return out

    monkeypatch.setattr(scanning_module, "fingerprint_dataset", and_meanwhile)
    leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert _stored(leaky, cache_dir) == 0


def _with_report(entry: dict[str, Any], field: str, value: object) -> bytes:
    entry["report"][field] = value
    return json.dumps(entry).encode()


_DAMAGE: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "not-json": lambda entry: b"not json",
    "not-an-object": lambda entry: b"[]",
    "fields-missing": lambda entry: json.dumps({"tree": entry["tree"]}).encode(),
    "unknown-severity": lambda entry: _with_report(entry, "findings", [["c", 9, "m", {"t": []}, {"m": []}, None]]),
    "unknown-kind": lambda entry: _with_report(
        entry, "relations", [{"t": ["a", "train", None, "b", "test", None, "cousin", 0, 1.0, ""]}]
    ),
    "untagged": lambda entry: _with_report(entry, "parameters", [1]),
}


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_a_stored_report_that_does_not_validate_is_not_used(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    def replace(payload: bytes) -> tuple[bytes, str]:
        damaged = _DAMAGE[damage](json.loads(payload))
        with pytest.raises(ValueError, match=r"."):
            report_from_document(decode_head(damaged).report, None)
        return damaged, _checksum(damaged)

    assert "does not validate" in _rescan_after(leaky, tmp_path, monkeypatch, caplog, replace)


def test_a_damaged_stored_report_is_not_used(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def replace(payload: bytes) -> tuple[bytes, str]:
        return b"{}", _checksum(payload)  # the checksum no longer matches

    assert "damaged the stored report" in _rescan_after(leaky, tmp_path, monkeypatch, caplog, replace)


def test_a_file_list_that_does_not_validate_is_not_used(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def replace(payload: bytes) -> tuple[bytes, str]:
        damaged = json.dumps({**json.loads(payload), "sizes": [1]}).encode()
        # (Read only when some time changed.)
        os.utime(leaky / "train" / "cat" / "cat_000.jpg", ns=(1_000_000_000, 1_000_000_000))
        return damaged, _checksum(damaged)

    assert "does not validate" in _rescan_after(leaky, tmp_path, monkeypatch, caplog, replace, "report_files")


def _rescan_after(
    root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    replace: Callable[[bytes], tuple[bytes, str]],
    table: str = "reports",
) -> str:
    """Scan, replace the payload and checksum stored in `table`, scan again: the second scan must run in
    full and report the same; returns what was logged."""
    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(root, jobs=1, cache_dir=cache_dir).to_json()
    with sqlite3.connect(cache_file(root, cache_dir)) as conn:
        (payload,) = conn.execute(f"SELECT payload FROM {table}").fetchone()
        conn.execute(f"UPDATE {table} SET payload = ?, checksum = ?", replace(payload))
    listings = ListingCounter(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="leakcheck"):
        assert leakcheck.scan(root, jobs=1, cache_dir=cache_dir).to_json() == expected
    assert listings.calls == 1
    return caplog.text


def test_a_folder_that_is_not_a_dataset_is_refused_before_it_is_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "photos" / "holiday").mkdir(parents=True)
    walked: list[Path] = []
    monkeypatch.setattr(scanning_module, "scan_tree", walked.append)
    with pytest.raises(leakcheck.LayoutError):
        leakcheck.scan(tmp_path / "photos", jobs=1, cache_dir=tmp_path / "cache")
    assert walked == []
    assert not (tmp_path / "cache").exists()


def test_the_cli_says_when_it_shows_a_stored_report(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leakcheck.cli import main

    args = ["scan", str(leaky), "--cache-dir", str(tmp_path / "cache"), "--jobs", "1"]
    assert main(args) == 1
    first = capsys.readouterr()
    assert "stored report" not in first.err
    assert main(args) == 1
    second = capsys.readouterr()
    assert "changed since the last scan; showing its stored report" in second.err
    assert second.out == first.out
    assert main([*args, "--quiet"]) == 1
    assert "stored report" not in capsys.readouterr().err


def test_the_walk_s_stats_key_the_fingerprint_cache_only_where_names_are_text(tmp_path: Path) -> None:
    from leakcheck.cache import CacheKey
    from leakcheck.engine import cache_key

    # A key from the walk's stats (size, mtime, ctime), without a stat of its own (the file need not even
    # exist); its time is the later of mtime and ctime.
    record = Record("train/cat/a.jpg", "train", "cat", tmp_path / "gone.jpg")
    assert cache_key(record, {"train/cat/a.jpg": (10, 20, 30)}) == CacheKey("train/cat/a.jpg", 10, 30)
    assert cache_key(record, {}) is None
    factory = DatasetFactory(tmp_path / "data")
    factory.add("train", "cat", "café.jpg", seed=1)
    settings = _cached_settings(tmp_path / "cache")
    root = factory.root.resolve()
    with scanning_module._store(root, settings) as store:
        assert store is not None
        memo = scanning_module._ReportMemo.start(store, root, settings)
        assert memo is not None
        assert memo.known() == (memo.tree.files, memo.verified)
        # A name that is not UTF-8: its sample key spells it with escapes, so the walk's stats stand down.
        (factory.root / "train" / "cat" / os.fsdecode(b"\xff.jpg")).write_bytes(b"x")
        memo = scanning_module._ReportMemo.start(store, root, settings)
        assert memo is not None
        assert memo.known() == (None, None)
