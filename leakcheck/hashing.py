"""Perceptual hashes as 64-bit integers, bit-compatible with imagehash's `phash` and `dhash`.

imagehash returns an `ImageHash` over a bool array; leakcheck keeps the same bits packed into one
unsigned 64-bit integer (row-major, first bit most significant), so `hex(h)` reads like `str(ImageHash)`
and distances are a popcount of an XOR.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

PHASH_SIZE = 32  # imagehash.phash(hash_size=8, highfreq_factor=4)


@cache
def _dct_matrix(n: int) -> NDArray[np.float64]:
    """The unnormalised DCT-II matrix used by scipy.fftpack.dct(type=2, norm=None)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


def pack_bits(bits: NDArray[np.bool_]) -> int:
    """Pack 64 booleans (row-major, first most significant) into an int."""
    flat = bits.reshape(-1)
    if flat.size != 64:
        raise ValueError(f"expected 64 bits, got {flat.size}")
    return int.from_bytes(np.packbits(flat).tobytes(), "big")


def pack_rows(bits: NDArray[np.bool_]) -> NDArray[np.uint64]:
    """Pack each row of an (n, 64) boolean array like `pack_bits`, into n unsigned 64-bit integers."""
    return np.packbits(bits.reshape(-1, 64), axis=1).view(">u8").reshape(-1).astype(np.uint64)


@cache
def _low_dct(n: int) -> NDArray[np.float64]:
    # Only the 8 lowest frequencies are kept: the first 8 rows of the DCT matrix are all that is needed.
    return np.ascontiguousarray(_dct_matrix(n)[:8])


def phash_bits(gray32: NDArray[np.floating]) -> NDArray[np.bool_]:
    """pHash bits of a 32x32 grayscale thumbnail (DCT, top-left 8x8, compared with their median)."""
    m = _low_dct(PHASH_SIZE)
    low = m @ gray32.astype(np.float64) @ m.T
    # The median of 64 values, as np.median computes it (mean of the middle two), without its overhead.
    ordered = np.sort(low, axis=None)
    return np.asarray(low > (ordered[31] + ordered[32]) / 2)


def phash_batch(gray32: NDArray[np.floating]) -> NDArray[np.uint64]:
    """pHash of a stack of 32x32 grayscale thumbnails, shape (n, 32, 32), as n packed codes."""
    m = _low_dct(PHASH_SIZE)
    low = (m @ gray32.astype(np.float64) @ m.T).reshape(-1, 64)
    return pack_rows(low > np.median(low, axis=1, keepdims=True))


def dhash_batch(gray9x8: NDArray[np.floating]) -> NDArray[np.uint64]:
    """dHash of a stack of 8-row, 9-column grayscale thumbnails, shape (n, 8, 9), as n packed codes."""
    return pack_rows(gray9x8[:, :, 1:] > gray9x8[:, :, :-1])


def dhash_bits(gray9x8: NDArray[np.floating]) -> NDArray[np.bool_]:
    """dHash bits of an 8-row, 9-column grayscale thumbnail (is each pixel brighter than its left?)."""
    return np.asarray(gray9x8[:, 1:] > gray9x8[:, :-1])


def phash_thumbnail(gray: Image.Image) -> NDArray[np.float64]:
    """The 32x32 Lanczos thumbnail pHash is computed from (also a cheap view of the image's detail)."""
    return np.asarray(gray.resize((PHASH_SIZE, PHASH_SIZE), Image.Resampling.LANCZOS), dtype=np.float64)


def phash(gray: Image.Image) -> int:
    """pHash of a grayscale ('L') image, equal to `imagehash.phash(gray)` bit for bit."""
    return pack_bits(phash_bits(phash_thumbnail(gray)))


def dhash(gray: Image.Image) -> int:
    """dHash of a grayscale ('L') image, equal to `imagehash.dhash(gray)` bit for bit."""
    thumb = gray.resize((9, 8), Image.Resampling.LANCZOS)
    return pack_bits(dhash_bits(np.asarray(thumb, dtype=np.int16)))


def dhash_of_thumbnail(thumb: NDArray[np.floating]) -> int:
    """dHash of the image whose `phash_thumbnail` is `thumb`, taken from the thumbnail (one more resize of
    32x32 pixels instead of the whole image's): what a reduced decode uses, whose dHash is an estimate of
    the full image's anyway."""
    small = Image.fromarray(thumb.astype(np.uint8), "L").resize((9, 8), Image.Resampling.LANCZOS)
    return pack_bits(dhash_bits(np.asarray(small, dtype=np.int16)))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
