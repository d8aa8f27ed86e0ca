"""Exact finding counts on generated data sets with planted duplicates."""

from __future__ import annotations

from collections import Counter

import pytest

import leakcheck
from leakcheck import Severity
from tests.factory import DatasetFactory

LABELS = ["cat", "dog", "fox"]


def _by_check(report: leakcheck.Report, check: str) -> list[leakcheck.Finding]:
    return [f for f in report.findings if f.check == check]


def test_cross_split_leaks_are_counted_by_split_pair_and_kind(factory: DatasetFactory) -> None:
    train = factory.add_many("train", LABELS, 10, seed0=0)
    val_own = factory.add_many("val", LABELS, 2, seed0=50_000)[:5]
    for p in factory.root.joinpath("val").rglob("*.jpg"):
        if p not in val_own:
            p.unlink()
    factory.copy_bytes(train[0], "val", "cat", "copy_a.jpg")
    factory.copy_bytes(train[11], "val", "dog", "copy_b.jpg")
    factory.resave_png(train[2], "val", "cat", "resaved.png")
    factory.reencode(train[21], "val", "fox", "reencoded.jpg", quality=55)
    factory.resize(train[5], "val", "cat", "smaller.jpg", scale=0.8)
    factory.add_many("test", LABELS, 2, seed0=90_000)
    factory.copy_bytes(train[3], "test", "cat", "from_train.jpg")
    factory.copy_bytes(val_own[0], "test", "cat", "from_val.jpg")

    report = leakcheck.scan(factory.root, jobs=1)

    leaks = {(f.metrics["split"], f.metrics["other"]): f for f in _by_check(report, "cross-split-duplicates")}
    assert set(leaks) == {("val", "train"), ("test", "train"), ("test", "val")}
    val = leaks[("val", "train")]
    assert val.message == "val: 5 of 10 images (50.0%) also appear in train"
    assert val.severity is Severity.ERROR
    assert dict(val.metrics["by_kind"]) == {"exact-bytes": 2, "exact-pixels": 1, "near": 2}
    assert dict(val.metrics["by_class"]) == {"cat": 3, "dog": 1, "fox": 1}
    assert set(val.samples) == {
        "val/cat/copy_a.jpg", "val/dog/copy_b.jpg", "val/cat/resaved.png",
        "val/fox/reencoded.jpg", "val/cat/smaller.jpg",
    }  # fmt: skip
    assert leaks[("test", "train")].message == "test: 1 of 8 images (12.5%) also appear in train"
    assert leaks[("test", "val")].samples == ("test/cat/from_val.jpg",)
    assert [line.message for line in report.headline()] == [
        "val: 5 of 10 images (50.0%) also appear in train",
        "test: 1 of 8 images (12.5%) also appear in train",
        "test: 1 of 8 images (12.5%) also appear in val",
    ]
    assert report.exit_code() == 1
    assert not _by_check(report, "within-split-duplicates")
    assert not _by_check(report, "label-conflicts")

    pairs = report.pairs()
    assert Counter(pairs["kind"]) == {"exact-bytes": 4, "exact-pixels": 1, "near": 2}
    row = pairs[pairs["b_path"] == "val/cat/resaved.png"].iloc[0]
    assert (row["a_path"], row["a_split"], row["a_label"], row["kind"], row["distance"]) == (
        train[2].relative_to(factory.root).as_posix(), "train", "cat", "exact-pixels", 0,
    )  # fmt: skip


def test_every_val_and_test_image_copied_from_train_is_a_full_leak(factory: DatasetFactory) -> None:
    train = factory.add_many("train", LABELS, 6, seed0=0)
    for k, src in enumerate(train[:9]):
        factory.copy_bytes(src, "val", src.parent.name, f"v{k}.jpg")
    for k, src in enumerate(train[9:]):
        factory.reencode(src, "test", src.parent.name, f"t{k}.jpg", quality=70)
    report = leakcheck.scan(factory.root, jobs=1)
    assert [line.message for line in report.headline()] == [
        "val: 9 of 9 images (100.0%) also appear in train",
        "test: 9 of 9 images (100.0%) also appear in train",
    ]


def test_within_split_copies_are_a_warning_counted_per_set(factory: DatasetFactory) -> None:
    train = factory.add_many("train", LABELS, 5, seed0=0)
    factory.copy_bytes(train[0], "train", "cat", "dup1.jpg")
    factory.copy_bytes(train[0], "train", "cat", "dup2.jpg")
    factory.reencode(train[6], "train", "dog", "dup3.jpg")
    factory.add_many("test", LABELS, 2, seed0=70_000)
    report = leakcheck.scan(factory.root, jobs=1)
    (within,) = _by_check(report, "within-split-duplicates")
    assert within.severity is Severity.WARNING
    assert within.metrics["extra_copies"] == 3
    assert within.metrics["sets"] == 2
    assert not _by_check(report, "cross-split-duplicates")
    assert report.exit_code() == 0
    assert report.exit_code("warning") == 1
    assert report.exit_code("never") == 0
    with pytest.raises(leakcheck.UsageError, match="fail_on must be 'error', 'warning' or 'never'"):
        report.exit_code("x")  # type: ignore[arg-type]


def test_label_conflicts_exact_are_errors_near_are_warnings(factory: DatasetFactory) -> None:
    train = factory.add_many("train", LABELS, 4, seed0=0)
    factory.copy_bytes(train[0], "train", "dog", "actually_cat.jpg")
    factory.reencode(train[5], "val", "fox", "relabelled.jpg")
    factory.add_many("val", LABELS, 1, seed0=60_000)
    report = leakcheck.scan(factory.root, jobs=1)
    conflicts = _by_check(report, "label-conflicts")
    assert [(f.severity, list(f.metrics["labels"])) for f in conflicts] == [
        (Severity.ERROR, ["cat", "dog"]),
        (Severity.WARNING, ["dog", "fox"]),
    ]
    assert "train/dog/actually_cat.jpg" in conflicts[0].samples


def test_class_balance_findings(factory: DatasetFactory) -> None:
    factory.add_many("train", ["cat"], 22, seed0=0)
    factory.add_many("train", ["dog"], 2, seed0=1000)
    factory.add_many("val", ["cat", "dog", "bird"], 1, seed0=5000)
    factory.add_many("test", ["Cat"], 2, seed0=9000)
    report = leakcheck.scan(factory.root, jobs=1)
    messages = {f.message: f for f in _by_check(report, "class-balance")}
    assert "train: classes are imbalanced 11.0:1 ('cat' has 22 images, 'dog' 2)" in messages
    assert messages["val: 1 class never in train: bird"].severity is Severity.ERROR
    unseen_test = messages["test: 1 class never in train: Cat"]
    assert unseen_test.hint == "class folders differ only in case: 'Cat' (train has 'cat')"
    assert messages["test: 2 of 2 train classes have no images: cat, dog"].severity is Severity.WARNING


def test_mixed_modes_and_sizes(factory: DatasetFactory) -> None:
    factory.add_many("train", LABELS, 3, seed0=0)
    gray = factory.path("train", "cat", "gray.png")
    from tests.factory import make_image

    make_image(4242).convert("L").save(gray)
    factory.add("test", "cat", "big.jpg", 777, size=(200, 150))
    report = leakcheck.scan(factory.root, jobs=1)
    props = _by_check(report, "image-properties")
    mixed = [f for f in props if f.metrics.get("problem") == "mixed-modes"]
    assert len(mixed) == 1
    assert mixed[0].samples == ("train/cat/gray.png",)
    assert mixed[0].message == "train: 1 grayscale among 10 images; most of the data is RGB"
    sizes = {f.metrics["split"]: f.message for f in props if f.metrics.get("problem") == "sizes"}
    assert sizes == {
        "train": "train: 10 images, 96x80 to 96x80 (median 96x80)",
        "test": "test: 1 image, 200x150 to 200x150 (median 200x150)",
    }


def test_unlabelled_split_and_other_split_names(factory: DatasetFactory) -> None:
    train = factory.add_many("Training", LABELS, 2, seed0=0)
    factory.copy_bytes(train[0], "holdout", None, "loose.jpg")
    factory.add("holdout", None, "other.jpg", 31337)
    factory.add_many("VALID", LABELS, 1, seed0=4000)
    report = leakcheck.scan(factory.root, jobs=1)
    assert [s.split for s in report.splits] == ["train", "val", "holdout"]
    assert [line.message for line in report.headline()] == [
        "val: no images also appear in train",
        "holdout: 1 of 2 images (50.0%) also appear in train",
    ]
    assert report.pairs()["b_path"].tolist() == ["holdout/loose.jpg"]
