"""Pixel values at any scale: which range they are stored in, their canonical 8-bit view, simple measures.

Arrays reach leakcheck as uint8, uint16, float in [0, 1], float in 0-255, [-1, 1] or standardized values.
Everything that compares pixels (hashes, digests, brightness) works on one canonical 8-bit view, so the
same image stored at two scales still matches; the native range is kept for the normalization checks.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

SCALES = ("0-255", "0-1", "-1-1", "0-65535", "other")
# Float values within this of a range bound still count as inside it (rounding in a division by 255).
_TOLERANCE = 1e-3
# Measured at this size at most: a reduced JPEG decode (at least 64 px a side, see fingerprint.DRAFT_SIZE)
# and a full decode of the same picture then measure alike, whatever formats the splits use.
_MEASURE_SIDE = 64


def infer_scale(dtype: np.dtype[np.generic], lo: float, hi: float) -> str:
    """The range the values `lo`..`hi` (finite minimum and maximum) of an array of `dtype` are stored in.

    Integers up to 255 are 8-bit data whatever their width; floats in [0, 1] are taken as [0, 1] even
    when all dark (a float image in 0-255 whose brightest pixel is at most 1 is nearly black anyway).
    """
    if dtype.kind == "b":
        return "0-1"
    if dtype.kind in "ui":
        if lo >= 0 and hi <= 255:
            return "0-255"
        if lo >= 0 and hi <= 65535:
            return "0-65535"
        return "other"
    if lo >= -_TOLERANCE and hi <= 1 + _TOLERANCE:
        return "0-1"
    if lo >= -1 - _TOLERANCE and hi <= 1 + _TOLERANCE:
        return "-1-1"
    if lo >= -_TOLERANCE and hi <= 255 + _TOLERANCE:
        return "0-255"
    return "other"


def finite_range(array: NDArray[np.generic]) -> tuple[float, float, int]:
    """Minimum and maximum of the finite values, and how many values are NaN or infinite."""
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        bad = int(array.size - np.count_nonzero(finite))
        if bad:
            values = array[finite]
            if values.size == 0:
                return 0.0, 0.0, bad
            return float(values.min()), float(values.max()), bad
    if array.size == 0:
        return 0.0, 0.0, 0
    return float(array.min()), float(array.max()), 0


def to_uint8(array: NDArray[np.generic], scale: str) -> NDArray[np.uint8]:
    """The canonical 8-bit view of `array` stored at `scale`; NaN and infinities become 0.

    "other" (standardized or arbitrary values) is stretched from its own minimum and maximum.
    """
    if array.dtype == np.uint8:
        return np.asarray(array, dtype=np.uint8)
    values = array.astype(np.float64)
    if values.dtype.kind == "f":
        values = np.where(np.isfinite(values), values, 0.0)
    if scale == "0-1":
        values = values * 255.0
    elif scale == "-1-1":
        values = (values + 1.0) * 127.5
    elif scale == "0-65535":
        values = values / 257.0
    elif scale == "other":
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        values = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def measure(im: Image.Image, gray: Image.Image) -> tuple[float, float, float, float]:
    """Brightness, contrast and sharpness of the grayscale view `gray` of `im`, and the fraction of `im`'s
    8-bit values (every channel) clipped to 0 or 255.

    Measured at most 64 pixels a side (a box reduction), so that sharpness compares images of different
    sizes, reduced and full decodes agree, and large photos cost little.
    """
    side = max(gray.size)
    factor = -(-side // _MEASURE_SIDE) if side > _MEASURE_SIDE else 1
    small_gray = gray.reduce(factor) if factor > 1 else gray
    a = np.asarray(small_gray, dtype=np.float32)
    if a.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    brightness = float(a.mean())
    contrast = float(a.std())
    sharpness = 0.0
    if a.shape[0] >= 3 and a.shape[1] >= 3:
        lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
        sharpness = float(np.abs(lap).mean())
    if im.mode in ("RGB", "RGBA"):
        colour = np.asarray(im.reduce(factor) if factor > 1 else im)[..., :3]
    else:
        colour = np.asarray(small_gray)
    clipped = float(np.count_nonzero((colour == 0) | (colour == 255)) / colour.size)
    return round(brightness, 4), round(contrast, 4), round(sharpness, 4), round(clipped, 6)


# libjpeg's base luminance table (JPEG standard Annex K), natural order.
_LUMINANCE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.int64,
)  # fmt: skip


@cache
def _quality_tables() -> NDArray[np.int64]:
    """Row q-1: libjpeg's luminance table for quality q, sorted (so zigzag or natural order both match)."""
    rows = []
    for q in range(1, 101):
        factor = 5000 // q if q < 50 else 200 - 2 * q
        rows.append(np.sort(np.clip((_LUMINANCE * factor + 50) // 100, 1, 255)))
    return np.array(rows)


def jpeg_quality(quantization: dict[int, list[int]] | None) -> int | None:
    """The libjpeg quality (1-100) whose luminance table is closest to the file's, or None without one.

    Exact for files written by libjpeg-based encoders (Pillow, OpenCV, most cameras' software); for
    custom tables it is the nearest standard quality, which is what a drift comparison needs.
    """
    if not quantization or 0 not in quantization or len(quantization[0]) != 64:
        return None
    return _nearest_quality(tuple(quantization[0]))


@lru_cache(maxsize=1024)
def _nearest_quality(luminance: tuple[int, ...]) -> int:
    # Cached: a data set holds few distinct tables (one per encoder quality), each seen many times.
    table = np.sort(np.asarray(luminance, dtype=np.int64))
    errors = np.abs(_quality_tables() - table).sum(axis=1)
    return int(errors.argmin()) + 1
