"""Pixel ranges and layouts across splits: planted mismatches are reported, clean data is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import leakcheck
from leakcheck.checks import PixelNormalization
from leakcheck.cli import main
from leakcheck.model import Finding, Severity
from tests.synthetic import smooth_images


def _problems(report: leakcheck.Report, split: str | None = None) -> dict[str, Finding]:
    return {
        str(f.metrics["problem"]): f
        for f in report.findings
        if f.check == "pixel-normalization" and (split is None or f.metrics.get("split") == split)
        and f.metrics["problem"] != "summary"
    }  # fmt: skip


def test_clean_arrays_have_only_summaries() -> None:
    x = smooth_images(60, seed=31).astype(np.float32) / 255
    report = leakcheck.scan_arrays({"train": x[:45], "test": x[45:]})
    assert _problems(report) == {}
    summaries = [f for f in report.findings if f.check == "pixel-normalization"]
    assert [f.severity for f in summaries] == [Severity.INFO, Severity.INFO]
    # Findings come in split order: train first.
    assert [f.metrics["split"] for f in summaries] == ["train", "test"]
    assert summaries[1].message.startswith("test: float32 pixels in 0.")
    assert "([0, 1]), channel mean±std" in summaries[1].message


def test_train_zero_one_vs_test_0_255_is_an_error() -> None:
    x = smooth_images(40, seed=32)
    report = leakcheck.scan_arrays({"train": x[:30].astype(np.float32) / 255, "test": x[30:].astype(np.float32)})
    problems = _problems(report, "test")
    mismatch = problems["scale-mismatch"]
    assert mismatch.severity == Severity.ERROR
    assert mismatch.message == "test: pixels are float32 in 0-255 but train is float32 in [0, 1]"
    assert "scale test exactly as train" in (mismatch.hint or "")
    assert problems["unnormalised"].severity == Severity.WARNING
    assert report.exit_code() == 1


def test_same_image_at_two_scales_is_still_a_duplicate() -> None:
    x = smooth_images(20, seed=33)
    report = leakcheck.scan_arrays({"train": x, "test": x[:5].astype(np.float32) / 255})
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.metrics["leaked"] == 5
    assert leak.metrics["by_kind"] == {"exact-pixels": 5}


def test_grayscale_test_against_rgb_train_is_an_error(tmp_path: Path) -> None:
    x = smooth_images(24, seed=34)
    for split, images in (("train", x[:16]), ("test", x[16:])):
        (tmp_path / split / "c").mkdir(parents=True)
        for i, image in enumerate(images):
            im = Image.fromarray(image)
            (im.convert("L") if split == "test" else im).save(tmp_path / split / "c" / f"{i}.png")
    report = leakcheck.scan(tmp_path, jobs=1)
    mismatch = _problems(report, "test")["channel-mismatch"]
    assert mismatch.severity == Severity.ERROR
    assert mismatch.message == "test: images are grayscale (1 channel) but train is RGB (3 channels)"
    assert main(["scan", str(tmp_path), "-q"]) == 1


def test_one_16_bit_image_among_8_bit_ones_is_a_warning_not_a_scale_mismatch(tmp_path: Path) -> None:
    x = smooth_images(24, seed=35)
    for split, images in (("train", x[:16]), ("test", x[16:])):
        (tmp_path / split / "c").mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(tmp_path / split / "c" / f"{i}.png")
    deep = (x[0, :, :, 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "train" / "c" / "deep.png")  # a 16-bit grayscale PNG
    report = leakcheck.scan(tmp_path, jobs=1)
    problems = _problems(report, "train")
    assert set(problems) == {"mixed-dtype"}
    assert problems["mixed-dtype"].samples == ("train/c/deep.png",)
    assert problems["mixed-dtype"].severity == Severity.WARNING
    # The split's range is its 8-bit images', so the splits agree.
    assert "scale-mismatch" not in _problems(report, "test")
    summary = next(
        f for f in report.findings if f.metrics.get("problem") == "summary" and f.metrics["split"] == "train"
    )
    assert (summary.metrics["dtype"], summary.metrics["scale"]) == ("uint8", "0-255")


def test_bgr_test_split_is_flagged_with_a_confidence() -> None:
    x = smooth_images(200, seed=35)
    report = leakcheck.scan_arrays({"train": x[:100], "test": x[100:, :, :, ::-1]})
    finding = _problems(report, "test")["colour-order"]
    assert finding.severity == Severity.WARNING
    assert "BGR vs RGB" in finding.message
    assert finding.metrics["confidence"] == "high"
    # Same data in the same order: no colour finding.
    clean = leakcheck.scan_arrays({"train": x[:100], "test": x[100:]})
    assert "colour-order" not in _problems(clean)


def test_nan_constant_and_saturated_images() -> None:
    x = smooth_images(40, seed=36).astype(np.float32) / 255
    x[3, 0, 0, 0] = np.nan
    x[4, 5, 5, :] = np.inf
    x[5] = 0.5  # one flat grey image
    x[6:9] = np.where(x[6:9] > 0.4, 1.0, 0.0)  # three images clipped to black and white
    problems = _problems(leakcheck.scan_arrays({"train": x}))
    assert problems["nonfinite"].message == "train: 2 images hold NaN or infinite values (4 values)"
    assert problems["nonfinite"].severity == Severity.ERROR
    assert problems["nonfinite"].samples == ("train[3]", "train[4]")  # which images, not only how many
    assert problems["constant"].samples == ("train[5]",)
    assert problems["saturated"].samples == ("train[6]", "train[7]", "train[8]")


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="max_saturated"):
        PixelNormalization(max_saturated=2.0)
    assert PixelNormalization().params()["saturated_pixels"] == 0.5
