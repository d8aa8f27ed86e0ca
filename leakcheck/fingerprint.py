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
from leakcheck.pixels import finite_range, infer_scale, jpeg_quality, measure, to_uint8

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
                quality = jpeg_quality(getattr(im, "quantization", None)) if fmt == "JPEG" else None
                oriented = ImageOps.exif_transpose(im) or im
                return _fingerprint_image(record, size, file_digest, fmt, oriented, jpeg_quality=quality)
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


@dataclass(frozen=True, slots=True)
class _Native:
    """What an in-memory array was before its canonical 8-bit view: dtype, range and exact statistics."""

    dtype: str
    scale: str
    nonfinite: int
    stats: ChannelStats | None  # None: 8-bit pixels, whose statistics are those of the canonical view


def fingerprint_array(record: Record, array: NDArray[np.generic], *, scale: str | None = None) -> Fingerprint:
    """Fingerprint in-memory pixels (HxW, HxWx1, HxWx3 or HxWx4, any dtype) like a decoded file.

    `scale` is the value range the array is stored in (see `pixels.SCALES`); sources that hold a whole
    split pass the split's range, so that one dark image is not mistaken for another scale. Without it,
    the image's own range decides. Never raises for odd pixels: returns an errored Fingerprint instead.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    digest = hashlib.blake2b(f"{arr.dtype.str}:{arr.shape}:".encode(), digest_size=16)
    digest.update(np.ascontiguousarray(arr).data)
    size = int(arr.nbytes)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape:
        return _failed(
            record, size, digest.hexdigest(),
            f"array of shape {arr.shape} is not an image (expected HxW, HxWx1, HxWx3 or HxWx4)",
        )  # fmt: skip
    if arr.dtype.kind not in "buif":
        return _failed(record, size, digest.hexdigest(), f"array of dtype {arr.dtype} holds no pixel values")
    lo, hi, bad = finite_range(arr)
    native_scale = scale or infer_scale(arr.dtype, lo, hi)
    native = _Native(str(arr.dtype), native_scale, bad, None if arr.dtype == np.uint8 else _finite_stats(arr))
    im = Image.fromarray(to_uint8(arr, native_scale))
    return _fingerprint_image(record, size, digest.hexdigest(), "array", im, native=native)


def _finite_stats(arr: NDArray[np.generic]) -> ChannelStats:
    """Per-channel statistics over the finite values (NaN and infinities left out)."""
    if arr.dtype.kind != "f":
        return _channel_stats("", arr.astype(np.float64))
    chans = arr.reshape(arr.shape[0] * arr.shape[1], -1).astype(np.float64)
    chans[~np.isfinite(chans)] = np.nan
    if np.isnan(chans).all(axis=0).any():
        zero = tuple(0.0 for _ in range(chans.shape[1]))
        return ChannelStats(mean=zero, std=zero, min=zero, max=zero)
    return ChannelStats(
        mean=tuple(round(float(v), 4) for v in np.nanmean(chans, axis=0)),
        std=tuple(round(float(v), 4) for v in np.nanstd(chans, axis=0)),
        min=tuple(float(v) for v in np.nanmin(chans, axis=0)),
        max=tuple(float(v) for v in np.nanmax(chans, axis=0)),
    )


def _fingerprint_image(
    record: Record,
    size: int,
    file_digest: str,
    fmt: str,
    im: Image.Image,
    *,
    jpeg_quality: int | None = None,
    native: _Native | None = None,
) -> Fingerprint:
    mode = im.mode
    canon_mode, arr = canonical_pixels(im)
    if native is None and arr.dtype == np.uint8:
        native = _Native("uint8", "0-255", 0, None)
    elif native is None:
        # 16-bit and float files: hash their 8-bit view, as for arrays (Pillow's own conversion to "L"
        # would clip every value above 255 to white).
        lo, hi, bad = finite_range(arr)
        scale = infer_scale(arr.dtype, lo, hi)
        native = _Native(str(arr.dtype), scale, bad, _finite_stats(arr))
        im = Image.fromarray(to_uint8(arr, scale))
        canon_mode, arr = canonical_pixels(im)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{canon_mode}:{arr.shape}:{arr.dtype.str}:".encode())
    h.update(np.ascontiguousarray(arr).data)
    gray = im.convert("L") if im.mode != "L" else im
    thumb = phash_thumbnail(gray)
    stats = _channel_stats(canon_mode, arr)
    brightness, contrast, sharpness, clipped = measure(im, gray)
    return Fingerprint(
        record=record,
        file_size=size,
        file_digest=file_digest,
        pixel_digest=h.hexdigest(),
        phash=pack_bits(phash_bits(thumb)),
        dhash=dhash(gray),
        width=im.width,
        height=im.height,
        mode=mode,
        format=fmt,
        stats=native.stats or stats,
        flat=bool(thumb.std() < FLAT_STD),
        dtype=native.dtype,
        scale=native.scale,
        nonfinite=native.nonfinite,
        mean8=stats.mean,
        brightness=brightness,
        contrast=contrast,
        sharpness=sharpness,
        clipped=clipped,
        jpeg_quality=jpeg_quality,
    )
