"""The canonical 8-bit view, scale inference and the JPEG quality estimate."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from leakcheck.pixels import infer_scale, jpeg_quality, to_uint8
from leakcheck.sources.groups import compile_group_pattern, group_of

images8 = arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3])))

# Each way of storing 8-bit pixels, and the scale it is stored at.
STORED = {
    "uint8": (lambda x: x, "0-255"),
    "float32 [0, 1]": (lambda x: x.astype(np.float32) / 255, "0-1"),
    "float64 [0, 1]": (lambda x: x / 255.0, "0-1"),
    "float32 0-255": (lambda x: x.astype(np.float32), "0-255"),
    "float32 [-1, 1]": (lambda x: x.astype(np.float32) / 127.5 - 1, "-1-1"),
    "uint16 16-bit": (lambda x: x.astype(np.uint16) * 257, "0-65535"),
    "int64 8-bit": (lambda x: x.astype(np.int64), "0-255"),
}


@pytest.mark.parametrize("stored", sorted(STORED))
@given(x=images8)
def test_every_storage_of_8_bit_pixels_maps_back_to_them(stored: str, x: np.ndarray) -> None:
    convert, scale = STORED[stored]
    assert np.array_equal(to_uint8(convert(x), scale), x)


@given(x=arrays(np.uint8, st.tuples(st.integers(2, 6), st.integers(1, 6), st.sampled_from([1, 3]))))
def test_scale_of_a_full_range_image(x: np.ndarray) -> None:
    x = x.copy()
    x.flat[0], x.flat[-1] = 0, 255  # the extremes are present, as in any real image set
    for stored, (convert, scale) in STORED.items():
        y = convert(x)
        assert infer_scale(y.dtype, float(y.min()), float(y.max())) == scale, stored


def test_nan_and_standardized_values() -> None:
    x = np.array([[np.nan, -2.0], [0.0, 2.0]], dtype=np.float32)
    assert infer_scale(x.dtype, -2.0, 2.0) == "other"
    assert to_uint8(x, "other").tolist() == [[128, 0], [128, 255]]  # NaN counts as the value 0, then stretched


def test_jpeg_quality_is_exact_for_pillow_files() -> None:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    for q in range(1, 101):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        with Image.open(buf) as decoded:
            estimate = jpeg_quality(decoded.quantization)
        assert estimate == q, q
    assert jpeg_quality(None) is None
    assert jpeg_quality({}) is None


@pytest.mark.parametrize(
    ("pattern", "name", "group"),
    [
        (r"^(?P<group>P\d+)_", "P017_scan2.png", "P017"),
        (r"patient-(\d+)", "xray_patient-88_a.jpg", "88"),
        (r"^[a-z]+", "frame0001.png", "frame"),
        (r"^(P\d+)_", "other.png", None),
        (r"^([a-z]*)", "101.jpg", None),  # an empty id names no group (it would join every such file)
        (r"^(?P<group>x)?\d", "101.jpg", None),
    ],
)
def test_group_pattern(pattern: str, name: str, group: str | None) -> None:
    assert group_of(name, compile_group_pattern(pattern)) == group
