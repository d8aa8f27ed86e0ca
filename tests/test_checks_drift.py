"""Split drift: silent on random splits of one data set, loud on a planted difference. The Food-101
photos are fingerprinted once per module; planted edits re-encode only the test photos."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

import leakcheck
from leakcheck.checks import PixelNormalization, SplitDrift
from leakcheck.engine import fingerprint_all
from leakcheck.fingerprint import FingerprintOptions, fingerprint_array, fingerprint_bytes
from leakcheck.index import Index, MatchOptions
from leakcheck.model import Fingerprint, Record
from leakcheck.sources.folder import list_folder
from tests.synthetic import smooth_images

FOOD = Path("/work/shared/data/food101-sample")


def _resplit(fps: list[Fingerprint], n_test: int, seed: int) -> list[Fingerprint]:
    order = list(range(len(fps)))
    random.Random(seed).shuffle(order)
    test = set(order[:n_test])
    return [
        dataclasses.replace(fp, record=dataclasses.replace(fp.record, split="test" if i in test else "train"))
        for i, fp in enumerate(fps)
    ]


def _drift(fps: list[Fingerprint]) -> list[str]:
    # Drift reads per-image measures only; no need to search for near-duplicates in every resplit.
    index = Index(fps, MatchOptions(near=False))
    return [f"{f.metrics['property']}: {f.message}" for f in SplitDrift().run(index)]


@pytest.fixture(scope="module")
def food() -> list[Fingerprint]:
    if not FOOD.is_dir():
        pytest.skip("the Food-101 sample is not on this machine")
    records = list(list_folder(FOOD).records)
    return fingerprint_all(records, FingerprintOptions(), jobs=2)


def test_random_splits_of_food101_never_drift(food: list[Fingerprint]) -> None:
    assert _drift(food) == []  # the sample's own train/test split
    for seed in range(30):
        assert _drift(_resplit(food, 75, seed)) == [], f"seed {seed}"


def test_random_splits_of_generated_data_never_drift() -> None:
    x = smooth_images(600, seed=41)
    fps = [fingerprint_array(Record(f"all[{i}]", "train", None), image) for i, image in enumerate(x)]
    for seed in range(30):
        assert _drift(_resplit(fps, 150, seed)) == [], f"seed {seed}"


def _edited(fps: list[Fingerprint], edit: object, fmt: str = "JPEG") -> list[Fingerprint]:
    """Re-encode the test images of `fps` after `edit(image) -> (image, save options)`."""
    out = []
    for fp in fps:
        if fp.record.split != "test":
            out.append(fp)
            continue
        assert fp.record.path is not None
        with Image.open(fp.record.path) as im:
            image, options = edit(im.convert("RGB"))  # type: ignore[operator]
        buf = io.BytesIO()
        image.save(buf, fmt, **options)
        out.append(fingerprint_bytes(fp.record, buf.getvalue()))
    return out


def test_darkened_test_split_drifts(food: list[Fingerprint]) -> None:
    fps = _edited(food, lambda im: (ImageEnhance.Brightness(im).enhance(0.6), {"quality": 75}))
    found = _drift(fps)
    assert any(line.startswith("brightness: test: images are darker than train") for line in found), found


def test_downscaled_test_split_drifts(food: list[Fingerprint]) -> None:
    fps = _edited(food, lambda im: (im.resize((im.width // 2, im.height // 2)), {"quality": 75}))
    found = _drift(fps)
    assert any(line.startswith("size: test: images are smaller than train") for line in found), found


def test_bgr_food101_test_split_is_flagged(food: list[Fingerprint]) -> None:
    def swap(im: Image.Image) -> tuple[Image.Image, dict[str, int]]:
        r, g, b = im.split()
        return Image.merge("RGB", (b, g, r)), {"compress_level": 0}  # lossless and fast

    findings = list(PixelNormalization().run(Index(_edited(food, swap, "PNG"))))
    colour = [f for f in findings if f.metrics.get("problem") == "colour-order"]
    assert len(colour) == 1
    assert colour[0].message.startswith("test: colour channels look reversed against train (BGR vs RGB")
    assert colour[0].metrics["confidence"] == "medium"  # 75 test photos: fewer than 100
    assert not [f for f in PixelNormalization().run(Index(food)) if f.metrics.get("problem") == "colour-order"]


def test_jpeg_quality_drift_in_a_folder(tmp_path: Path) -> None:
    x = smooth_images(80, size=64, seed=42)
    for i, image in enumerate(x):
        split = "train" if i < 50 else "test"
        (tmp_path / split / "c").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / split / "c" / f"{i}.jpg", quality=95 if split == "train" else 40)
    report = leakcheck.scan(tmp_path, jobs=1)
    drift = {str(f.metrics["property"]): f for f in report.findings if f.check == "split-drift"}
    assert "JPEG quality" in drift
    assert drift["JPEG quality"].message.startswith("test: images are more compressed than train")
    assert drift["JPEG quality"].metrics["median"] == 40
    assert drift["JPEG quality"].metrics["other_median"] == 95


def test_resolution_drift_between_array_splits() -> None:
    x = smooth_images(60, size=32, seed=43)
    small = np.stack([np.asarray(Image.fromarray(im).resize((24, 24))) for im in x[40:]])
    report = leakcheck.scan_arrays({"train": x[:40], "test": small})
    drift = {f.metrics["property"]: f for f in report.findings if f.check == "split-drift"}
    assert drift["size"].message.startswith("test: images are smaller than train (size median 24 vs 32; KS D=1.00")
    assert "brightness" not in drift  # resizing keeps the mean gray level


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="max_p"):
        SplitDrift(max_p=0.0)
    with pytest.raises(ValueError, match="min_samples"):
        SplitDrift(min_samples=1)
