"""Data for the report tests: a hand-built Report (no disk) and a small real image folder with planted
leaks, a label conflict and a hostile file name."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from leakcheck.index import Relation
from leakcheck.model import Finding, Severity, Skipped
from leakcheck.report import Report, SplitStats

HOSTILE = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_KEY = f"test/cat/{HOSTILE}"
CHECK_IDS = (
    "cross-split-duplicates",
    "within-split-duplicates",
    "label-conflicts",
    "class-balance",
    "image-properties",
)


def hand_report(*, pairs: int = 0) -> Report:
    """A report as the checks would make it: val leaks into train (one copy under a hostile name), a
    label conflict, within-split copies, and `pairs` extra near pairs inside train."""
    relations = [
        Relation("train/cat/a.jpg", "train", "cat", "val/cat/a.jpg", "val", "cat", "exact-bytes", 0),
        Relation("train/cat/b.jpg", "train", "cat", HOSTILE_KEY, "test", "cat", "near", 3),
        Relation("train/cat/c.jpg", "train", "cat", "train/dog/c.jpg", "train", "dog", "exact-pixels", 0),
    ]
    relations += [
        Relation(f"train/dog/{i:05d}.jpg", "train", "dog", f"train/dog/{i:05d}b.jpg", "train", "dog", "near", i % 11)
        for i in range(pairs)
    ]
    findings = [
        Finding(
            "cross-split-duplicates",
            Severity.ERROR,
            "val: 1 of 4 images (25.0%) also appear in train",
            ("val/cat/a.jpg",),
            {"split": "val", "other": "train", "leaked": 1, "total": 4},
        ),
        Finding(
            "cross-split-duplicates",
            Severity.ERROR,
            "test: 1 of 2 images (50.0%) also appear in train",
            (HOSTILE_KEY,),
            {"split": "test", "other": "train", "leaked": 1, "total": 2},
            hint="drop these images from test",
        ),
        Finding(
            "within-split-duplicates",
            Severity.WARNING,
            "train: 1 of 6 images (16.6%) are extra copies of other train images (1 sets)",
            ("train/dog/c.jpg",),
            {"split": "train", "extra_copies": 1, "sets": 1, "total": 6},
        ),
        Finding(
            "label-conflicts",
            Severity.ERROR,
            "identical images labelled 'cat' vs 'dog': train/cat/c.jpg, train/dog/c.jpg",
            ("train/cat/c.jpg", "train/dog/c.jpg"),
            {"labels": ["cat", "dog"], "match": "identical"},
        ),
        Finding(
            "label-conflicts",
            Severity.WARNING,
            f"near-identical images labelled 'cat' vs 'dog': {HOSTILE_KEY}, train/dog/d.jpg",
            (HOSTILE_KEY, "train/dog/d.jpg"),
            {"labels": ["cat", "dog"], "match": "near-identical"},
        ),
        Finding(
            "image-properties",
            Severity.INFO,
            "train: 6 images, 32x32 to 64x48 (median 32x32)",
            (),
            {
                "split": "train",
                "problem": "sizes",
                "width": {"min": 32, "median": 32, "max": 64},
                "height": {"min": 32, "median": 32, "max": 48},
            },
        ),
    ]
    splits = (
        SplitStats("train", 6, 0, {"cat": 4, "dog": 2}, {"RGB": 6}, {"JPEG": 6}, (120.0, 110.5, 90.25)),
        SplitStats("val", 4, 0, {"cat": 3, "dog": 1}, {"RGB": 3, "L": 1}, {"JPEG": 4}),
        SplitStats("test", 2, 1, {"cat": 2}, {"RGB": 2}, {"JPEG": 2}),
    )
    return Report(
        root="pets",
        findings=tuple(findings),
        splits=splits,
        relations=tuple(relations),
        skipped=(Skipped("notes.txt", "not an image file"),),
        parameters={"near": True, "checks": {check: {} for check in CHECK_IDS}},
        version="0.0-test",
    )


def _picture(seed: int, size: tuple[int, int] = (96, 80)) -> Image.Image:
    """A distinct photo-like image: smooth random blobs (noise alone would hash unstably)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize(size, Image.Resampling.BICUBIC)


def write_dataset(root: Path) -> Path:
    """`root/{train,val,test}/{cat,dog}/*` with: val/cat/copy.jpg = train/cat/0.jpg (same bytes),
    val/dog/small.jpg = train/dog/0.jpg resized (near), the hostile name in test/cat as a copy of
    train/cat/1.jpg, and train/dog/conflict.jpg = train/cat/2.jpg (a label conflict)."""
    seed = 0
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for label in ("cat", "dog"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                seed += 1
                _picture(seed).save(folder / f"{i}.jpg", quality=90)
    shutil.copyfile(root / "train/cat/0.jpg", root / "val/cat/copy.jpg")
    with Image.open(root / "train/dog/0.jpg") as im:
        im.resize((72, 60), Image.Resampling.LANCZOS).save(root / "val/dog/small.jpg", quality=85)
    shutil.copyfile(root / "train/cat/1.jpg", root / "test/cat" / HOSTILE)
    shutil.copyfile(root / "train/cat/2.jpg", root / "train/dog/conflict.jpg")
    return root
