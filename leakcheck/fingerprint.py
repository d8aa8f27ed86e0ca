"""One decode per sample: file digest, pixel digest, perceptual hashes, size, mode and pixel statistics.

Large JPEGs are decoded at reduced size (libjpeg's DCT scaling, `Image.draft`) to at least
`DRAFT_SIZE` pixels a side: the 32x32 pHash thumbnail then comes from a 64-128 px image instead of the
full one, and the 9x8 dHash thumbnail from the pHash thumbnail (a resize of 32x32 pixels instead of the
whole image's: about 45 us less per photo). On the 275 Food-101 photos (512 px) the hashes match a full
decode's (imagehash's) in 99.5% of bits: pHash identical for 89% of the images and at most 2 bits
apart, dHash identical for 70% and at most 3 bits apart (`benchmarks/draft_agreement.py`; with
`DRAFT_SIZE = 128`, pHash 95% identical, but the decode is a third slower).
Smaller images, and every other format, are decoded in full and hash exactly like imagehash; channel
statistics of a reduced decode keep the mean (to within about one grey level) but lose some spread
(std, min, max). Exact pixel identity cannot come from a reduced decode, so such a fingerprint's
pixel digest is provisional (`draft:` prefix; a digest of the reduced decode's statistics and hashes,
which equal pixels share) until `settle_pixel_digests` decodes, at full size, the few files that could
be pixel-identical to another sample.
"""

from __future__ import annotations

import array
import dataclasses
import hashlib
import io
import math
import os
import threading
import warnings
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from leakcheck.hashing import dhash, dhash_of_thumbnail, pack_bits, phash_bits, phash_thumbnail
from leakcheck.model import ChannelStats, Fingerprint, Record
from leakcheck.near.descriptor import describe
from leakcheck.pixels import SCALES, finite_range, infer_scale, jpeg_quality, measure, to_uint8
from leakcheck.search import hamming_pairs

# Bump whenever a fingerprint of the same file could change: it invalidates every cached fingerprint.
# 3: the near-duplicate descriptor; 4: a reduced decode's dHash from its thumbnail; 5: a reduced decode's
# provisional digest from its statistics and hashes; 6: fully transparent pixels' hidden colour is not
# part of the pixels, and a 16-bit image's descriptor is taken from its own range
FINGERPRINT_VERSION = 6

# Pillow's own decompression-bomb limit; above it we refuse to decode unless told otherwise.
DEFAULT_MAX_PIXELS = 89_478_485
# A grayscale 32x32 thumbnail with less spread than this is "flat" (blank, all-black, sky): its
# perceptual hash is noise, so it only takes part in exact matching.
FLAT_STD = 4.0
# JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides >= this many pixels.
DRAFT_SIZE = 64
# A provisional digest marks a reduced decode; see settle_pixel_digests.
PROVISIONAL = "draft:"
# Reduced and full decodes of the same JPEG differ by at most 3 bits (dHash; pHash 2) on the real photos
# (4 before dHash came from the thumbnail); candidates for a full-size pixel comparison are searched
# within 8.
_SETTLE_DISTANCE = 8
# ... and their channel means by at most about one grey level; flat images are paired by mean instead.
_SETTLE_MEAN = 3.0
_SETTLE_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class FingerprintOptions:
    max_pixels: int = DEFAULT_MAX_PIXELS
    # Whether to compute the near-duplicate detector's descriptor (a third of a small file's cost); a
    # scan that will not run the detector (--near-method hash, --no-near) skips it.
    descriptor: bool = True

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")


_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved: int | None = None  # Image.MAX_IMAGE_PIXELS before the first of the calls now decoding
_limit_set: int | None = None  # what they set it to (None: left as it was)


@contextmanager
def pillow_limit(max_pixels: int) -> Iterator[None]:
    """Pillow's own decompression-bomb limit raised to `max_pixels`, for the calls inside, so that the
    configured limit is the one that applies: Pillow refuses an image above twice Image.MAX_IMAGE_PIXELS as
    it opens it, before our own check can run, so a --max-pixels above that had no effect. (As with the
    defaults, images up to twice the limit then get our own message, with their size.)

    Image.MAX_IMAGE_PIXELS is global: it is only ever raised (never lowered, never set when it is None,
    Pillow's "no limit"), and restored when the last call using it ends, unless someone else changed it
    meanwhile.
    """
    global _limit_users, _limit_saved, _limit_set
    with _limit_lock:
        if _limit_users == 0:
            _limit_saved, _limit_set = Image.MAX_IMAGE_PIXELS, None
        _limit_users += 1
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and current < max_pixels:
            _limit_set = Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0 and _limit_set is not None and _limit_set == Image.MAX_IMAGE_PIXELS:
                Image.MAX_IMAGE_PIXELS = _limit_saved


def quiet_pillow() -> None:
    """Inside `warnings.catch_warnings()` around a file's decode: ignore the warnings Pillow raises about
    the file (corrupt EXIF data, a tag larger than the file, ...). They name no file, went to stderr during
    a scan even with --quiet, and under `-W error` became exceptions that stopped it; a file that cannot
    be decoded is a finding of its own. (The previews and the semantic tier decode the same files again.)"""
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")


def bytes_digest(data: bytes | memoryview) -> str:
    """A file's `file_digest`: BLAKE2b-128 of its bytes, in hex."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def has_digest(path: str | os.PathLike[str], digest: str) -> bool:
    """Whether the file's bytes have `file_digest` `digest` (False if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return bytes_digest(f.read()) == digest
    except OSError:
        return False


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
    file_digest = bytes_digest(data)
    if size == 0:
        return _failed(record, 0, file_digest, "empty file (0 bytes); re-export the image or delete it")
    try:
        with warnings.catch_warnings(), pillow_limit(options.max_pixels):
            # Our own limit (checked below, before any pixel is decoded) replaces Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            quiet_pillow()
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format or ""
                width, height = im.size
                if width * height > options.max_pixels:
                    return _failed(
                        record, size, file_digest,
                        f"image is {width}x{height} ({width * height:,} pixels), above the limit of "
                        f"{options.max_pixels:,}; raise --max-pixels if it is genuine",
                    )  # fmt: skip
                reduced = fmt == "JPEG" and im.mode in ("RGB", "L") and _draft(im)
                im.load()
                quality = jpeg_quality(getattr(im, "quantization", None)) if fmt == "JPEG" else None
                orientation = _orientation(im)
                # exif_transpose copies the image even when there is nothing to turn.
                oriented = (ImageOps.exif_transpose(im) or im) if orientation > 1 else im
                fp = _fingerprint_image(
                    record, size, file_digest, fmt, oriented,
                    jpeg_quality=quality, descriptor=options.descriptor, reduced=reduced,
                )  # fmt: skip
                if not reduced:
                    return fp
                if orientation in (5, 6, 7, 8):
                    width, height = height, width
                return dataclasses.replace(
                    fp, width=width, height=height, pixel_digest=f"{PROVISIONAL}{width}x{height}:{fp.pixel_digest}"
                )
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


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft(im: Image.Image) -> bool:
    """Ask libjpeg for a reduced decode when the image is large enough; True if it will reduce."""
    if min(im.size) < 2 * DRAFT_SIZE:
        return False
    return im.draft(im.mode, (DRAFT_SIZE, DRAFT_SIZE)) is not None


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
    # (The first row settles most colour images at a fraction of the cost of the whole comparison.)
    if mode == "RGB" and _gray(arr[:1]) and _gray(arr):
        arr, mode = np.ascontiguousarray(arr[..., 0]), "L"
    return mode, arr


def _gray(arr: NDArray[np.generic]) -> bool:
    """Whether the three channels of an RGB array are equal everywhere."""
    return bool((arr[..., 0] == arr[..., 1]).all()) and bool((arr[..., 1] == arr[..., 2]).all())


_SMALL_IMAGE = 1 << 12  # values (32x32x4): above it, Pillow's C histogram wins
_BAND_OFFSETS = np.arange(4, dtype=np.intp) * 256
_VALUE_POWERS = np.stack([np.arange(256, dtype=np.float64), np.arange(256, dtype=np.float64) ** 2], axis=1)


def _channel_stats(mode: str, arr: NDArray[np.generic], im: Image.Image | None = None) -> ChannelStats:
    """Exact per-channel mean, std, min and max; 8-bit images go through a histogram (one C pass).

    `im`, when given, holds the same pixels as `arr` in `mode` and saves a conversion.
    """
    if arr.dtype == np.uint8:
        bands = 1 if arr.ndim == 2 else arr.shape[2]
        if arr.size <= _SMALL_IMAGE:
            # Small images: one bincount is cheaper than turning Pillow's histogram list into an array.
            flat = arr.reshape(-1, bands).astype(np.intp) + _BAND_OFFSETS[:bands]
            hist = np.bincount(flat.ravel(), minlength=256 * bands).reshape(bands, 256).astype(np.float64)
        else:
            source = im if im is not None and im.mode == mode else Image.fromarray(arr)
            # Through array('q'): a C loop over the list of counts, faster than numpy's conversion of it.
            counts = np.frombuffer(array.array("q", source.histogram()), dtype=np.int64)
            hist = counts.astype(np.float64).reshape(bands, 256)
        n = hist.sum(axis=1)
        moments = hist @ _VALUE_POWERS / n[:, None]
        mean = moments[:, 0]
        var = np.maximum(moments[:, 1] - mean**2, 0.0)
        nonzero = hist > 0
        lo = nonzero.argmax(axis=1)
        hi = 255 - nonzero[:, ::-1].argmax(axis=1)
        return ChannelStats(
            mean=tuple(round(v, 4) for v in mean.tolist()),
            std=tuple(round(v, 4) for v in np.sqrt(var).tolist()),
            min=tuple(float(v) for v in lo.tolist()),
            max=tuple(float(v) for v in hi.tolist()),
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

    Raises:
        ValueError: `scale` is not one of `pixels.SCALES` (a typo would silently read 0-1 pixels as 0-255).
    """
    if scale is not None and scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)} or None, got {scale!r}")
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


def _spread(thumb: NDArray[np.float64]) -> float:
    """The standard deviation of a thumbnail (two C passes instead of numpy's std)."""
    flat = thumb.ravel()
    mean = float(flat.sum()) / flat.size
    return math.sqrt(max(float(flat @ flat) / flat.size - mean * mean, 0.0))


def _pixel_digest(canon_mode: str, arr: NDArray[np.generic]) -> str:
    """A digest of what the pixels show: the colour hidden under fully transparent pixels (editors and
    optimisers leave anything there) is taken as 0."""
    if canon_mode == "RGBA":
        hidden = arr[..., 3] == 0
        if hidden.any():
            arr = arr.copy()
            arr[hidden] = 0
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{canon_mode}:{arr.shape}:{arr.dtype.str}:".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _draft_key(canon_mode: str, arr: NDArray[np.generic], stats: ChannelStats, phash: int, dhash: int) -> str:
    """What a reduced decode's provisional digest is made of: its mode and shape, exact channel statistics
    and hashes, all functions of its pixels. Equal pixels give equal keys, as a digest of the pixels would;
    settle_pixel_digests decodes at full size every file whose key another file with other bytes shares, so
    two different pictures with equal keys only cost that decode. (Hashing the pixels themselves took
    about 35 us a photo, a tenth of what a reduced decode costs beyond decoding.)"""
    text = f"{canon_mode}:{arr.shape}:{arr.dtype.str}:{stats}:{phash:016x}:{dhash:016x}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _fingerprint_image(
    record: Record,
    size: int,
    file_digest: str,
    fmt: str,
    im: Image.Image,
    *,
    jpeg_quality: int | None = None,
    native: _Native | None = None,
    descriptor: bool = True,
    reduced: bool = False,
) -> Fingerprint:
    """The fingerprint of a decoded image; `reduced`: it is a reduced JPEG decode, whose dHash is then
    taken from the pHash thumbnail (it estimates the full image's either way, at a third of the cost)."""
    mode = im.mode
    # (The descriptor stretches 16-bit and float images by their own range: 12-bit data in a 16-bit
    # file would otherwise be a nearly black picture with too little detail to compare.)
    shown = im
    stretched: NDArray[np.float64] | None = None
    canon_mode, arr = canonical_pixels(im)
    if native is None and arr.dtype == np.uint8:
        native = _Native("uint8", "0-255", 0, None)
    elif native is None:
        # 16-bit and float files: hash their 8-bit view, as for arrays (Pillow's own conversion to "L"
        # would clip every value above 255 to white).
        lo, hi, bad = finite_range(arr)
        scale = infer_scale(arr.dtype, lo, hi)
        native = _Native(str(arr.dtype), scale, bad, _finite_stats(arr))
        # Whether the picture is plain is judged on it stretched by its own range, as the descriptor is:
        # on the 8-bit view, 12-bit data (0-4095, divided by 257) would always look plain.
        values = arr.mean(axis=2) if arr.ndim == 3 else arr
        stretched = phash_thumbnail(Image.fromarray(to_uint8(values, "other")))
        im = Image.fromarray(to_uint8(arr, scale))
        canon_mode, arr = canonical_pixels(im)
    gray = im.convert("L") if im.mode != "L" else im
    thumb = phash_thumbnail(gray)
    stats = _channel_stats(canon_mode, arr, im)
    brightness, contrast, sharpness, clipped = measure(im, gray)
    phash = pack_bits(phash_bits(thumb))
    dhash_ = dhash_of_thumbnail(thumb) if reduced else dhash(gray)
    return Fingerprint(
        record=record,
        file_size=size,
        file_digest=file_digest,
        pixel_digest=_draft_key(canon_mode, arr, stats, phash, dhash_) if reduced else _pixel_digest(canon_mode, arr),
        phash=phash,
        dhash=dhash_,
        width=im.width,
        height=im.height,
        mode=mode,
        format=fmt,
        stats=native.stats or stats,
        flat=_spread(thumb if stretched is None else stretched) < FLAT_STD,
        dtype=native.dtype,
        scale=native.scale,
        nonfinite=native.nonfinite,
        mean8=stats.mean,
        brightness=brightness,
        contrast=contrast,
        sharpness=sharpness,
        clipped=clipped,
        jpeg_quality=jpeg_quality,
        near=describe(shown) if descriptor else None,
    )


def full_pixel_digest(record: Record, options: FingerprintOptions = FingerprintOptions()) -> str | None:
    """The pixel digest of a full-size decode of the record's file; None if it can no longer be read."""
    if record.path is None:
        return None
    try:
        with warnings.catch_warnings(), pillow_limit(options.max_pixels):
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            quiet_pillow()
            with Image.open(record.path) as im:
                if im.size[0] * im.size[1] > options.max_pixels:
                    return None
                im.load()
                oriented = (ImageOps.exif_transpose(im) or im) if _orientation(im) > 1 else im
                return _pixel_digest(*canonical_pixels(oriented))
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError):
        return None


def settle_pixel_digests(
    fingerprints: Sequence[Fingerprint], options: FingerprintOptions = FingerprintOptions()
) -> list[Fingerprint]:
    """Replace provisional pixel digests by full-size ones wherever two samples could be pixel-identical.

    A reduced-decode JPEG is decoded again at full size when another JPEG has the same provisional digest
    (which the same reduced pixels give) but other bytes, or when a fully decoded sample (a PNG re-save,
    say) has its size and perceptual hashes within a wide margin (channel means instead of hashes if
    either image is flat, where hashes are noise). No file with other bytes shares any other provisional
    digest, so exact groups stay exact.
    """
    out = list(fingerprints)
    provisional = [i for i, fp in enumerate(out) if fp.ok and fp.pixel_digest.startswith(PROVISIONAL)]
    if not provisional:
        return out
    todo: set[int] = set()
    by_draft: dict[str, list[int]] = defaultdict(list)
    for i in provisional:
        by_draft[out[i].pixel_digest].append(i)
    for members in by_draft.values():
        if len({out[i].file_digest for i in members}) > 1:
            todo.update(members)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, fp in enumerate(out):
        if fp.ok:
            by_size[(fp.width, fp.height)].append(i)
    for members in by_size.values():
        full = [i for i in members if not out[i].pixel_digest.startswith(PROVISIONAL)]
        draft = [i for i in members if out[i].pixel_digest.startswith(PROVISIONAL)]
        if not full or not draft:
            continue
        todo.update(_flat_candidates(out, full, draft))
        both = full + draft
        phashes = np.array([out[i].phash for i in both], dtype=np.uint64)
        dhashes = np.array([out[i].dhash for i in both], dtype=np.uint64)
        ii, jj, _ = hamming_pairs(phashes, _SETTLE_DISTANCE)
        close = np.bitwise_count(dhashes[ii] ^ dhashes[jj]) <= _SETTLE_DISTANCE
        for a, b in zip(ii[close].tolist(), jj[close].tolist(), strict=True):
            if (a < len(full)) != (b < len(full)):
                todo.add(both[max(a, b)])
    for i in sorted(todo):
        # A file that cannot be decoded again (changed meanwhile) keeps a digest unique to its bytes.
        digest = full_pixel_digest(out[i].record, options) or f"{PROVISIONAL}bytes:{out[i].file_digest}"
        out[i] = dataclasses.replace(out[i], pixel_digest=digest)
    return out


def _flat_candidates(out: Sequence[Fingerprint], full: Sequence[int], draft: Sequence[int]) -> set[int]:
    """Reduced decodes that may equal a same-size full decode where either is flat: their channel means
    (which a reduced decode keeps to within about one grey level) are within `_SETTLE_MEAN`."""
    found: set[int] = set()
    flat_full = [i for i in full if out[i].flat]
    flat_draft = [i for i in draft if out[i].flat]
    means = {i: st.mean for i in (*full, *draft) if (st := out[i].stats) is not None}
    for drafts, fulls in ((flat_draft, full), (draft, flat_full)):
        for channels in {len(means[i]) for i in drafts if i in means}:
            ds = [i for i in drafts if len(means.get(i, ())) == channels]
            fs = [i for i in fulls if len(means.get(i, ())) == channels]
            if not fs:
                continue
            d_means = np.array([means[i] for i in ds])
            f_means = np.array([means[i] for i in fs])
            step = max(1, _SETTLE_BLOCK // len(fs))
            for lo in range(0, len(ds), step):
                gap = np.abs(d_means[lo : lo + step, None, :] - f_means[None, :, :]).max(axis=2)
                found.update(ds[lo + k] for k in np.flatnonzero((gap <= _SETTLE_MEAN).any(axis=1)).tolist())
    return found
