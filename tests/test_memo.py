"""The report memo: an unchanged folder's re-scan returns the stored report; any change, any other
setting, or anything the memo cannot vouch for runs the scan in full."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

import pytest

import leakcheck
import leakcheck.scanning as scanning_module
from leakcheck.cache import _checksum, cache_file
from leakcheck.memo import _tag, _untag, decode_report, encode_report, tree_digest
from leakcheck.model import Fingerprint, Record
from leakcheck.sources.folder import FolderListing, list_folder
from tests.factory import DatasetFactory


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
    assert warm.to_json() == cold.to_json()
    assert warm.root_path == leaky.resolve()
    # What the report says about the planted copies survives the round trip, explanations included.
    kinds = {(p["a_path"], p["b_path"]): p for p in json.loads(warm.to_json())["pairs"]}
    assert any(p["kind"] == "near" and p["explanation"] for p in kinds.values())
    assert warm.exit_code() == cold.exit_code() == 1


def test_the_stored_report_round_trips_every_value_type(leaky: Path) -> None:
    report = leakcheck.scan(leaky, jobs=1, cache=False)
    # (Equality also tells tuples from lists: (1,) != [1].)
    assert decode_report(encode_report(report), None) == report
    value = {"a": [1, (2.5, None)], "b": {"c": (True, "x")}, 3: []}
    assert _untag(json.loads(json.dumps(_tag(value)))) == value


@pytest.mark.parametrize(
    "change",
    ["new file", "edited file", "touched file", "removed file", "renamed class", "hidden file"],
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
    elif change == "touched file":
        os.utime(target, ns=(1, 1))
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


def test_a_hidden_file_is_named_not_read(tmp_path: Path, factory: DatasetFactory) -> None:
    factory.add("train", "cat", "a.jpg", seed=1)
    notes = factory.root / "train" / ".notes"
    notes.write_text("x")
    before = tree_digest(factory.root)
    notes.write_text("longer")  # the scan passes over hidden files: their content is not part of it
    assert tree_digest(factory.root) == before
    notes.rename(factory.root / "train" / ".other")
    assert tree_digest(factory.root) != before


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
    assert tree_digest(leaky) is None
    for _ in range(2):
        leakcheck.scan(leaky, jobs=1, cache_dir=cache_dir)
    assert listings.calls == 4
    assert _stored(leaky, cache_dir) == 0


def test_a_check_of_ones_own_disables_the_memo(leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collections.abc import Iterable, Mapping
    from typing import Any, ClassVar

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


def test_a_report_is_not_stored_when_a_file_could_not_be_read(leaky: Path, tmp_path: Path) -> None:
    report = leakcheck.scan(leaky, jobs=1, cache=False)
    settings = scanning_module._settings(
        True, 10, 14, 10**8, 1, scanning_module.DEFAULT_CHECKS, scanning_module.DEFAULT_ALIASES, None, None,
        cache=True, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    store = scanning_module._open_store(leaky.resolve(), settings)
    assert store is not None
    with store:
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


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"root": "data"}',
        b'{"root": "data", "version": "1", "parameters": {"m": []}, "findings": [["c", 9, "m", {"t": []}, '
        b'{"m": []}, null]], "splits": [], "relations": [], "skipped": []}',
        b'{"root": "data", "version": "1", "parameters": {"m": []}, "findings": [], "splits": [], '
        b'"relations": [{"t": ["a", "train", null, "b", "test", null, "cousin", 0, 1.0, ""]}], "skipped": []}',
        b'{"root": "data", "version": "1", "parameters": [1], "findings": [], "splits": [], "relations": [], '
        b'"skipped": []}',
    ],
    ids=["not-json", "not-an-object", "fields-missing", "unknown-severity", "unknown-kind", "untagged"],
)
def test_a_stored_report_that_does_not_validate_is_not_used(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, payload: bytes
) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_report(payload, None)
    sql = "UPDATE reports SET payload = ?, checksum = ?"
    assert "does not validate" in _rescan_after(
        leaky, tmp_path, monkeypatch, caplog, sql, (payload, _checksum(payload))
    )


def test_a_damaged_stored_report_is_not_used(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sql = "UPDATE reports SET payload = CAST('{}' AS BLOB)"  # the checksum no longer matches
    assert "damaged the stored report" in _rescan_after(leaky, tmp_path, monkeypatch, caplog, sql, ())


def _rescan_after(
    root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sql: str,
    args: tuple[object, ...],
) -> str:
    """Scan, run `sql` on the cache, scan again: the second scan must run in full and report the same;
    returns what was logged."""
    cache_dir = tmp_path / "cache"
    expected = leakcheck.scan(root, jobs=1, cache_dir=cache_dir).to_json()
    with sqlite3.connect(cache_file(root, cache_dir)) as conn:
        conn.execute(sql, args)
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
    monkeypatch.setattr(scanning_module, "tree_digest", walked.append)
    with pytest.raises(leakcheck.LayoutError):
        leakcheck.scan(tmp_path / "photos", jobs=1, cache_dir=tmp_path / "cache")
    assert walked == []
    assert not (tmp_path / "cache").exists()
