"""The near-duplicate descriptor: a small normalised picture of an image, computed in the one decode.

About 1.3 KB per image: a grayscale thumbnail (long side 32 px, aspect kept, uniform borders such as
letterbox bars trimmed), an 8x8 colour thumbnail of the same region, the pHash of each of the eight
dihedral variants (rotations by 90 degrees and mirrors) and how much fine detail the image has.
Everything is bytes or ints so that a cache can store it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from leakcheck.hashing import pack_bits, phash_bits

THUMB_SIDE = 32
COLOUR_SIDE = 8
# Borders are trimmed on a working copy at most this large (long side), from which the thumbnail is made.
_WORK_SIDE = 128
# A border row or column is uniform when no pixel differs from the border colour by more than this.
_BORDER_TOLERANCE = 10.0
# Never trim more than this fraction of a side away (an image that is mostly border is left whole).
_MAX_TRIM = 0.4


@dataclass(frozen=True, slots=True)
class NearDescriptor:
    """A compact, normalised view of one image for the near-duplicate detector.

    `thumb` holds `height * width` grayscale bytes (row-major) of the trimmed image; `box` is the kept
    region as fractions of the full image (left, top, right, bottom); `colour` holds 8x8 RGB bytes of
    the same region; `phashes` are the pHashes of the thumbnail under the eight dihedral transforms
    (in `DIHEDRAL` order); `detail` is the RMS of the thumbnail's fine structure (0-255 scale).
    """

    thumb: bytes
    height: int
    width: int
    box: tuple[float, float, float, float]
    colour: bytes
    phashes: tuple[int, ...]
    detail: float
    grayscale: bool

    def pixels(self) -> NDArray[np.float32]:
        return np.frombuffer(self.thumb, dtype=np.uint8).reshape(self.height, self.width).astype(np.float32)

    def colours(self) -> NDArray[np.float32]:
        return np.frombuffer(self.colour, dtype=np.uint8).reshape(COLOUR_SIDE, COLOUR_SIDE, 3).astype(np.float32)


# The eight symmetries of the square as (quarter turns counter-clockwise, mirrored first).
DIHEDRAL: tuple[tuple[int, bool], ...] = tuple((k, m) for m in (False, True) for k in range(4))


def dihedral(arr: NDArray[np.float32], k: int, mirrored: bool) -> NDArray[np.float32]:
    """`arr` mirrored left-right (when asked) and then turned by `k` quarter turns counter-clockwise."""
    out = arr[:, ::-1] if mirrored else arr
    return np.ascontiguousarray(np.rot90(out, k))


def _working_copy(im: Image.Image) -> Image.Image:
    """A reduced RGB or L copy with long side <= _WORK_SIDE (integer reduction first: cheap on photos)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # What shows: the picture over white, whatever colour its transparent pixels hide.
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGB") if im.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV") else _to_l(im)
    long_side = max(im.size)
    factor = long_side // (2 * _WORK_SIDE)
    if factor >= 2:
        im = im.reduce(factor)
    if max(im.size) > _WORK_SIDE:
        scale = _WORK_SIDE / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.BOX)
    return im


def _to_l(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float images scaled to 8-bit gray by their own range."""
    arr = np.asarray(im, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), "L")


def _trim_box(gray: NDArray[np.float32]) -> tuple[int, int, int, int]:
    """The bounding box (left, top, right, bottom) left after removing uniform border rows and columns."""
    h, w = gray.shape
    top, bottom, left, right = 0, h, 0, w
    limit_y, limit_x = int(h * _MAX_TRIM), int(w * _MAX_TRIM)

    def uniform(line: NDArray[np.float32], ref: float) -> bool:
        return bool(np.abs(line - ref).max() <= _BORDER_TOLERANCE)

    ref = float(np.median(gray[0]))
    while top < limit_y and uniform(gray[top, left:right], ref):
        top += 1
    ref = float(np.median(gray[-1]))
    while h - bottom < limit_y and uniform(gray[bottom - 1, left:right], ref):
        bottom -= 1
    ref = float(np.median(gray[top:bottom, 0]))
    while left < limit_x and uniform(gray[top:bottom, left], ref):
        left += 1
    ref = float(np.median(gray[top:bottom, -1]))
    while w - right < limit_x and uniform(gray[top:bottom, right - 1], ref):
        right -= 1
    if right - left < 4 or bottom - top < 4:
        return 0, 0, w, h
    return left, top, right, bottom


@cache
def _blur_kernel() -> NDArray[np.float32]:
    k = np.array([1, 4, 6, 4, 1], dtype=np.float32)
    return np.asarray(k / k.sum(), dtype=np.float32)


def smooth(arr: NDArray[np.float32]) -> NDArray[np.float32]:
    """A separable binomial blur with edge replication (the 'coarse structure' of a thumbnail)."""
    k = _blur_kernel()
    pad = np.pad(arr, 2, mode="edge")
    rows = sum(k[i] * pad[:, i : i + arr.shape[1]] for i in range(5))
    out: NDArray[np.float32] = np.asarray(sum(k[i] * rows[i : i + arr.shape[0], :] for i in range(5)), dtype=np.float32)
    return out


def describe(im: Image.Image) -> NearDescriptor:
    """The descriptor of a decoded (and already EXIF-oriented) image."""
    work = _working_copy(im)
    gray_img = work.convert("L") if work.mode != "L" else work
    gray = np.asarray(gray_img, dtype=np.float32)
    left, top, right, bottom = _trim_box(gray)
    w, h = gray.shape[1], gray.shape[0]
    box = (left / w, top / h, right / w, bottom / h)
    region = (left, top, right, bottom)
    cw, ch = right - left, bottom - top
    scale = THUMB_SIDE / max(cw, ch)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    thumb_img = gray_img.resize(size, Image.Resampling.LANCZOS, box=region)
    thumb = np.asarray(thumb_img, dtype=np.uint8)
    rgb = work if work.mode == "RGB" else work.convert("RGB")
    colour = np.asarray(rgb.resize((COLOUR_SIDE, COLOUR_SIDE), Image.Resampling.BOX, box=region), dtype=np.uint8)
    square = np.asarray(
        gray_img.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS, box=region), dtype=np.float32
    )
    phashes = tuple(pack_bits(phash_bits(dihedral(square, k, m))) for k, m in DIHEDRAL)
    fine = thumb.astype(np.float32) - smooth(thumb.astype(np.float32))
    chroma = colour.astype(np.int16)
    grayscale = bool(np.abs(chroma - chroma.mean(axis=2, keepdims=True)).max() <= 3)
    return NearDescriptor(
        thumb=thumb.tobytes(),
        height=int(thumb.shape[0]),
        width=int(thumb.shape[1]),
        box=(round(box[0], 4), round(box[1], 4), round(box[2], 4), round(box[3], 4)),
        colour=colour.tobytes(),
        phashes=phashes,
        detail=round(float(np.sqrt(np.mean(fine**2))), 3),
        grayscale=grayscale,
    )
