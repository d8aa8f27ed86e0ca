"""On real photos (the shared Food-101 sample), planted copies are found completely."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

import leakcheck


def test_planted_copies_of_real_photos_are_all_found(shared_photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "food"
    shutil.copytree(shared_photos, root)
    train = sorted((root / "train").rglob("*.jpg"))
    planted: dict[str, str] = {}
    for k, src in enumerate(train[::5]):  # 40 of 200 training photos reappear in test
        label = src.parent.name
        dest = root / "test" / label / f"planted_{k}{'.png' if k % 4 == 0 else '.jpg'}"
        if k % 4 == 0:
            with Image.open(src) as im:
                im.save(dest)  # same pixels, other container
        elif k % 4 == 1:
            with Image.open(src) as im:
                im.save(dest, quality=60)  # re-encoded
        else:
            shutil.copyfile(src, dest)
        planted[dest.relative_to(root).as_posix()] = src.relative_to(root).as_posix()

    report = leakcheck.scan(root, jobs=2)

    (leak,) = [f for f in report.findings if f.check == "cross-split-duplicates"]
    assert set(planted) <= set(leak.samples)
    # Nothing else leaks: the sample's one natural near-copy (the same bibimbap shot, re-cropped) is inside train.
    assert set(leak.samples) == set(planted)
    assert leak.message == "test: 40 of 115 images (34.8%) also appear in train"
    assert dict(leak.metrics["by_kind"]) == {"exact-bytes": 20, "exact-pixels": 10, "near": 10}
    assert report.exit_code() == 1
    within = [f for f in report.findings if f.check == "within-split-duplicates"]
    assert [f.samples for f in within] == [("train/bibimbap/2399561.jpg",)]
