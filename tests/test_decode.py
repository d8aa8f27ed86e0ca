"""Fast decode: reduced JPEG decodes, settled pixel digests, and hashes that agree with imagehash."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

import leakcheck
from leakcheck.fingerprint import (
    _SETTLE_DISTANCE,
    DRAFT_SIZE,
    PROVISIONAL,
    fingerprint_bytes,
    fingerprint_record,
    settle_pixel_digests,
)
from leakcheck.hashing import dhash, dhash_batch, phash, phash_batch
from leakcheck.model import Record
from tests.factory import jpeg_turned_on_display


def _shared_photos() -> Path:
    """The shared Food-101 sample, looked for beside the repository or any folder above it."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "data" / "food101-sample"
        if candidate.is_dir():
            return candidate
    pytest.skip("the shared Food-101 sample (shared/data/food101-sample) is not beside the repository")


def _photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth random scene with some texture: hashes of it are stable but distinct per seed."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    noise = rng.normal(0, 12, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(low, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG stream with a COM segment after SOI: other bytes, identical coefficients."""
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def _write(root: Path, rel: str, data: bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_large_jpeg_is_decoded_reduced_with_full_size_reported() -> None:
    data = _jpeg(_photo(1, (400, 300)))
    fp = fingerprint_bytes(Record("x", "train", None), data)
    assert fp.ok
    assert (fp.width, fp.height) == (400, 300)
    assert fp.pixel_digest.startswith(PROVISIONAL)
    with Image.open(io.BytesIO(data)) as im:
        gray = im.convert("L")
    # Reduced decodes stay within the margin settle_pixel_digests relies on.
    assert (fp.phash ^ phash(gray)).bit_count() <= _SETTLE_DISTANCE
    assert (fp.dhash ^ dhash(gray)).bit_count() <= _SETTLE_DISTANCE


def test_small_jpeg_and_lossless_formats_hash_exactly_like_imagehash() -> None:
    small = _photo(2, (2 * DRAFT_SIZE - 1, 100))
    for data in (_jpeg(small), _png(_photo(3, (400, 300)))):
        fp = fingerprint_bytes(Record("x", "train", None), data)
        assert not fp.pixel_digest.startswith(PROVISIONAL)
        with Image.open(io.BytesIO(data)) as im:
            assert fp.phash == int(str(imagehash.phash(im)), 16)
            assert fp.dhash == int(str(imagehash.dhash(im)), 16)


def test_png_resave_of_a_jpeg_is_exact_pixels_and_a_resized_copy_is_not(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for k in range(6):
        _write(root, f"train/a/{k}.jpg", _jpeg(_photo(10 + k, (400, 300))))
    original = _jpeg(_photo(99, (400, 300)))
    _write(root, "train/b/original.jpg", original)
    with Image.open(io.BytesIO(original)) as im:
        decoded = im.convert("RGB")
    _write(root, "test/b/resaved.png", _png(decoded))
    _write(root, "test/b/commented.jpg", _with_comment(original, b"re-tagged"))
    _write(root, "test/b/smaller.png", _png(decoded.resize((360, 270), Image.Resampling.LANCZOS)))
    report = leakcheck.scan(root, jobs=1, cache=False)
    kinds = {(r.a, r.b): r.kind for r in report.relations}
    assert kinds[("train/b/original.jpg", "test/b/resaved.png")] == "exact-pixels"
    assert kinds[("train/b/original.jpg", "test/b/commented.jpg")] == "exact-pixels"
    assert kinds[("train/b/original.jpg", "test/b/smaller.png")] == "near"
    assert len(kinds) == 3


@pytest.fixture
def full_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the files that settling decodes again at full size, in order."""
    import leakcheck.fingerprint as fingerprint_module

    decoded: list[str] = []
    real = fingerprint_module.full_pixel_digest

    def spy(record: Record, *args: object) -> str | None:
        decoded.append(record.key)
        return real(record)

    monkeypatch.setattr(fingerprint_module, "full_pixel_digest", spy)
    return decoded


def test_settling_decodes_only_the_candidates(tmp_path: Path, full_decodes: list[str]) -> None:
    records = []
    for k in range(5):
        path = _write(tmp_path, f"{k}.jpg", _jpeg(_photo(40 + k, (400, 300))))
        records.append(Record(f"{k}.jpg", "train", None, path))
    fps = [fingerprint_record(r) for r in records]
    assert settle_pixel_digests(fps) == fps  # nothing could be pixel-identical: nothing decoded again
    assert full_decodes == []
    with Image.open(records[2].path) as im:  # type: ignore[arg-type]  # set above
        png = _write(tmp_path, "copy.png", _png(im.convert("RGB")))
    settled = settle_pixel_digests([*fps, fingerprint_record(Record("copy.png", "test", None, png))])
    assert full_decodes == ["2.jpg"]
    assert settled[2].pixel_digest == settled[5].pixel_digest


def test_hashes_and_batches_equal_imagehash_on_real_photos() -> None:
    paths = sorted(_shared_photos().rglob("*.jpg"))
    assert len(paths) >= 100
    thumbs32, thumbs9 = [], []
    expected_p, expected_d = [], []
    for path in paths:
        with Image.open(path) as im:
            gray = im.convert("L")
        expected_p.append(int(str(imagehash.phash(gray)), 16))
        expected_d.append(int(str(imagehash.dhash(gray)), 16))
        assert phash(gray) == expected_p[-1], path
        assert dhash(gray) == expected_d[-1], path
        thumbs32.append(np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64))
        thumbs9.append(np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16))
    assert phash_batch(np.stack(thumbs32)).tolist() == expected_p
    assert dhash_batch(np.stack(thumbs9)).tolist() == expected_d


def test_reduced_decodes_of_real_photos_stay_close_to_imagehash() -> None:
    """The fingerprint's hashes (reduced decode) against imagehash on the full decode, per photo."""
    paths = sorted(_shared_photos().rglob("*.jpg"))
    distances = []
    for path in paths:
        fp = fingerprint_record(Record(path.name, "train", None, path))
        with Image.open(path) as im:
            distances.append(
                ((fp.phash ^ int(str(imagehash.phash(im)), 16)).bit_count(),
                 (fp.dhash ^ int(str(imagehash.dhash(im)), 16)).bit_count())
            )  # fmt: skip
    worst_phash, worst_dhash = np.max(np.array(distances), axis=0).tolist()
    assert worst_phash <= _SETTLE_DISTANCE
    assert worst_dhash <= _SETTLE_DISTANCE


def test_reduced_decode_applies_exif_orientation_to_the_full_size() -> None:
    image = _photo(7, (400, 300))
    turned = fingerprint_bytes(Record("x", "train", None), jpeg_turned_on_display(image, 92))
    upright = fingerprint_bytes(Record("y", "train", None), _jpeg(image.transpose(Image.Transpose.ROTATE_270), 92))
    assert turned.pixel_digest.startswith(PROVISIONAL)
    assert (turned.width, turned.height) == (upright.width, upright.height) == (300, 400)
    assert (turned.phash ^ upright.phash).bit_count() <= 4


@pytest.mark.parametrize(("size", "mode"), [((32, 32), "RGB"), ((20, 12), "L"), ((30, 30), "RGBA"), ((90, 70), "RGB")])
def test_channel_stats_are_exact_for_small_and_larger_images(size: tuple[int, int], mode: str) -> None:
    rng = np.random.default_rng(size[0])
    bands = len(mode)
    arr = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    if mode == "RGBA":
        arr[..., 3] = rng.integers(0, 200, arr.shape[:2], dtype=np.uint8)  # not opaque: alpha is kept
    image = Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)
    fp = fingerprint_bytes(Record("x", "train", None), _png(image))
    flat = arr.reshape(-1, bands).astype(np.float64)
    assert fp.stats is not None
    np.testing.assert_allclose(fp.stats.mean, flat.mean(axis=0), atol=1e-3)
    np.testing.assert_allclose(fp.stats.std, flat.std(axis=0), atol=1e-3)
    assert fp.stats.min == tuple(flat.min(axis=0))
    assert fp.stats.max == tuple(flat.max(axis=0))


def test_flat_images_are_settled_by_their_means_not_all_at_once(tmp_path: Path, full_decodes: list[str]) -> None:
    rng = np.random.default_rng(5)
    flat = np.clip(rng.normal(0, 0.6, (300, 400, 3)) + np.array([30, 200, 90]), 0, 255).astype(np.uint8)
    paths = {f"{k}.jpg": _write(tmp_path, f"{k}.jpg", _jpeg(_photo(60 + k, (400, 300)))) for k in range(5)}
    paths["flat.jpg"] = _write(tmp_path, "flat.jpg", _jpeg(Image.fromarray(flat)))
    with Image.open(paths["flat.jpg"]) as im:
        paths["flat.png"] = _write(tmp_path, "flat.png", _png(im.convert("RGB")))
    paths["white.png"] = _write(tmp_path, "white.png", _png(Image.new("RGB", (400, 300), "white")))
    fps = [fingerprint_record(Record(key, "train", None, path)) for key, path in sorted(paths.items())]
    assert [fp.record.key for fp in fps if fp.flat] == ["flat.jpg", "flat.png", "white.png"]
    settled = {fp.record.key: fp for fp in settle_pixel_digests(fps)}
    assert full_decodes == ["flat.jpg"]  # not every JPEG of that size because some image is flat
    assert settled["flat.jpg"].pixel_digest == settled["flat.png"].pixel_digest
