"""One decode per sample: file digest, pixel digest, perceptual hashes, size, mode and pixel statistics."""

from __future__ import annotations

import hashlib
import io
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from leakcheck.hashing import dhash, pack_bits, phash_bits, phash_thumbnail
from leakcheck.model import ChannelStats, Fingerprint, Record
from leakcheck.near.descriptor import describe

# Pillow's own decompression-bomb limit; above it we refuse to decode unless told otherwise.
DEFAULT_MAX_PIXELS = 89_478_485
# A grayscale 32x32 thumbnail with less spread than this is "flat" (blank, all-black, sky): its
# perceptual hash is noise, so it only takes part in exact matching.
FLAT_STD = 4.0


@dataclass(frozen=True, slots=True)
class FingerprintOptions:
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")


def _digest(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def fingerprint_record(record: Record, options: FingerprintOptions = FingerprintOptions()) -> Fingerprint:
    """Read and decode one file once; never raises for a bad file, returns an errored Fingerprint instead."""
    if record.path is None:
        raise ValueError(f"{record.key}: record has no path")
    try:
        data = record.path.read_bytes()
    except PermissionError:
        return _failed(record, 0, "", "permission denied; make the file readable or exclude it")
    except IsADirectoryError:
        return _failed(record, 0, "", "is a folder, not an image file")
    except OSError as exc:
        return _failed(record, 0, "", f"cannot read file ({exc.strerror or exc})")
    return fingerprint_bytes(record, data, options)


def fingerprint_bytes(record: Record, data: bytes, options: FingerprintOptions = FingerprintOptions()) -> Fingerprint:
    size = len(data)
    file_digest = _digest(data)
    if size == 0:
        return _failed(record, 0, file_digest, "empty file (0 bytes); re-export the image or delete it")
    try:
        with warnings.catch_warnings():
            # Our own limit (checked below, before any pixel is decoded) replaces Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format or ""
                width, height = im.size
                if width * height > options.max_pixels:
                    return _failed(
                        record, size, file_digest,
                        f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), above the "
                        f"limit of {options.max_pixels / 1e6:.0f}; raise --max-pixels if it is genuine",
                    )  # fmt: skip
                im.load()
                oriented = ImageOps.exif_transpose(im) or im
                return _fingerprint_image(record, size, file_digest, fmt, oriented)
    except Image.DecompressionBombError:
        return _failed(
            record, size, file_digest,
            "image is too large to decode safely (decompression bomb); raise --max-pixels if it is genuine",
        )  # fmt: skip
    except UnidentifiedImageError:
        return _failed(record, size, file_digest, "not an image Pillow can read; remove it or fix its extension")
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        text = str(exc) or type(exc).__name__
        if "truncated" in text:
            why = f"truncated image ({text}); re-download or re-export it"
        else:
            why = f"corrupt image ({text}); re-export it or remove it"
        return _failed(record, size, file_digest, why)


def _failed(record: Record, size: int, digest: str, why: str) -> Fingerprint:
    return Fingerprint(record=record, file_size=size, file_digest=digest, error=why)


def canonical_pixels(im: Image.Image) -> tuple[str, NDArray[np.generic]]:
    """The pixels in a canonical mode, so that re-saving in another container keeps the same digest.

    Palette and CMYK images become RGB(A); an alpha channel that is fully opaque is dropped; an RGB image
    whose three channels are equal is grayscale.
    """
    mode = im.mode
    if mode == "1":
        im, mode = im.convert("L"), "L"
    elif mode == "P" or mode == "PA":
        mode = "RGBA" if ("transparency" in im.info or mode == "PA") else "RGB"
        im = im.convert(mode)
    elif mode == "LA":
        im, mode = im.convert("RGBA"), "RGBA"
    elif mode not in ("L", "RGB", "RGBA", "I", "I;16", "I;16B", "F"):
        im, mode = im.convert("RGB"), "RGB"
    arr = np.asarray(im)
    if mode == "RGBA" and bool((arr[..., 3] == 255).all()):
        arr, mode = np.ascontiguousarray(arr[..., :3]), "RGB"
    if mode == "RGB" and bool((arr[..., 0] == arr[..., 1]).all()) and bool((arr[..., 1] == arr[..., 2]).all()):
        arr, mode = np.ascontiguousarray(arr[..., 0]), "L"
    return mode, arr


def _channel_stats(mode: str, arr: NDArray[np.generic]) -> ChannelStats:
    """Exact per-channel mean, std, min and max; 8-bit images go through a histogram (one C pass)."""
    if arr.dtype == np.uint8:
        bands = 1 if arr.ndim == 2 else arr.shape[2]
        hist = np.asarray(Image.fromarray(arr).histogram(), dtype=np.float64).reshape(bands, 256)
        values = np.arange(256, dtype=np.float64)
        n = hist.sum(axis=1)
        mean = hist @ values / n
        var = np.maximum(hist @ (values**2) / n - mean**2, 0.0)
        nonzero = hist > 0
        lo = nonzero.argmax(axis=1).astype(np.float64)
        hi = (255 - nonzero[:, ::-1].argmax(axis=1)).astype(np.float64)
        return ChannelStats(
            mean=tuple(round(float(v), 4) for v in mean),
            std=tuple(round(float(v), 4) for v in np.sqrt(var)),
            min=tuple(float(v) for v in lo),
            max=tuple(float(v) for v in hi),
        )
    chans = arr.reshape(arr.shape[0] * arr.shape[1], -1).astype(np.float64)
    return ChannelStats(
        mean=tuple(round(float(v), 4) for v in chans.mean(axis=0)),
        std=tuple(round(float(v), 4) for v in chans.std(axis=0)),
        min=tuple(float(v) for v in chans.min(axis=0)),
        max=tuple(float(v) for v in chans.max(axis=0)),
    )


def _fingerprint_image(record: Record, size: int, file_digest: str, fmt: str, im: Image.Image) -> Fingerprint:
    canon_mode, arr = canonical_pixels(im)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{canon_mode}:{arr.shape}:{arr.dtype.str}:".encode())
    h.update(np.ascontiguousarray(arr).data)
    gray = im.convert("L") if im.mode != "L" else im
    thumb = phash_thumbnail(gray)
    return Fingerprint(
        record=record,
        file_size=size,
        file_digest=file_digest,
        pixel_digest=h.hexdigest(),
        phash=pack_bits(phash_bits(thumb)),
        dhash=dhash(gray),
        width=im.width,
        height=im.height,
        mode=im.mode,
        format=fmt,
        stats=_channel_stats(canon_mode, arr),
        flat=bool(thumb.std() < FLAT_STD),
        near=describe(im),
    )
