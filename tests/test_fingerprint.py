"""Fingerprints: agreement with imagehash, canonical pixels, EXIF orientation, every format."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from leakcheck.cli import main
from leakcheck.fingerprint import FingerprintOptions, fingerprint_bytes, full_pixel_digest
from leakcheck.hashing import dhash, phash
from leakcheck.model import Record
from tests.factory import encode, jpeg_turned_on_display, make_image


def _fp(data: bytes, name: str = "x") -> object:
    return fingerprint_bytes(Record(name, "train", None), data)


def test_hashes_equal_imagehash_on_generated_images() -> None:
    for seed in range(40):
        gray = make_image(seed, (50 + seed, 70)).convert("L")
        assert phash(gray) == int(str(imagehash.phash(gray)), 16)
        assert dhash(gray) == int(str(imagehash.dhash(gray)), 16)


def test_hashes_equal_imagehash_on_real_photos(shared_photos: Path) -> None:
    paths = sorted(shared_photos.rglob("*.jpg"))
    assert len(paths) >= 100
    for path in paths:
        with Image.open(path) as im:
            gray = im.convert("L")
        assert phash(gray) == int(str(imagehash.phash(gray)), 16), path
        assert dhash(gray) == int(str(imagehash.dhash(gray)), 16), path


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "GIF", "WEBP"])
def test_every_format_decodes(fmt: str) -> None:
    image = make_image(3)
    if fmt == "GIF":
        image = image.quantize(64)
    data = encode(image, fmt) if fmt != "WEBP" else _webp_lossless(image)
    fp = fingerprint_bytes(Record("x", "train", None), data)
    assert fp.ok, fp.error
    assert fp.format == fmt
    assert (fp.width, fp.height) == (96, 80)


def _webp_lossless(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "WEBP", lossless=True)
    return buf.getvalue()


def test_lossless_containers_share_the_pixel_digest() -> None:
    image = make_image(5)
    digests = {fingerprint_bytes(Record("x", "t", None), encode(image, f)).pixel_digest for f in ("PNG", "BMP", "TIFF")}
    digests.add(fingerprint_bytes(Record("x", "t", None), _webp_lossless(image)).pixel_digest)
    rgba = image.convert("RGBA")
    digests.add(fingerprint_bytes(Record("x", "t", None), encode(rgba, "PNG")).pixel_digest)
    assert len(digests) == 1


def test_grayscale_stored_as_rgb_matches_grayscale() -> None:
    gray = make_image(6).convert("L")
    a = fingerprint_bytes(Record("a", "t", None), encode(gray, "PNG"))
    b = fingerprint_bytes(Record("b", "t", None), encode(gray.convert("RGB"), "PNG"))
    assert a.pixel_digest == b.pixel_digest
    assert (a.mode, b.mode) == ("L", "RGB")


def test_a_resized_copy_is_not_exact() -> None:
    image = make_image(7)
    a = fingerprint_bytes(Record("a", "t", None), encode(image, "PNG"))
    b = fingerprint_bytes(Record("b", "t", None), encode(image.resize((95, 80)), "PNG"))
    assert a.pixel_digest != b.pixel_digest


def test_exif_orientation_is_applied() -> None:
    image = make_image(8, (120, 60))
    fp = fingerprint_bytes(Record("x", "t", None), jpeg_turned_on_display(image, 95))
    assert (fp.width, fp.height) == (60, 120)
    upright = fingerprint_bytes(Record("y", "t", None), encode(image.transpose(Image.Transpose.ROTATE_270), "JPEG", 95))
    assert (fp.phash ^ upright.phash).bit_count() <= 4


def test_channel_stats_are_exact() -> None:
    image = make_image(9)
    fp = fingerprint_bytes(Record("x", "t", None), encode(image, "PNG"))
    arr = np.asarray(image, dtype=np.float64).reshape(-1, 3)
    assert fp.stats is not None
    np.testing.assert_allclose(fp.stats.mean, arr.mean(axis=0), atol=1e-3)
    np.testing.assert_allclose(fp.stats.std, arr.std(axis=0), atol=1e-3)
    assert fp.stats.min == tuple(arr.min(axis=0))
    assert fp.stats.max == tuple(arr.max(axis=0))


def test_flat_images_are_marked() -> None:
    blank = Image.new("RGB", (64, 64), (30, 120, 200))
    assert fingerprint_bytes(Record("x", "t", None), encode(blank, "PNG")).flat
    assert not fingerprint_bytes(Record("y", "t", None), encode(make_image(1), "PNG")).flat


def test_the_colour_hidden_under_transparent_pixels_is_not_part_of_the_pixels() -> None:
    """Two cut-outs that look the same, one hiding black and the other white under their transparent
    part (as editors and optimisers leave it), have one pixel digest; a visible difference still counts."""
    rgba = np.dstack([np.asarray(make_image(8)), np.full((80, 96), 255, dtype=np.uint8)])
    rgba[:, :30, 3] = 0
    black, white = rgba.copy(), rgba.copy()
    black[:, :30, :3] = 0
    white[:, :30, :3] = 255
    a, b = (
        fingerprint_bytes(Record(n, "t", None), encode(Image.fromarray(x, "RGBA"), "PNG"))
        for n, x in (("a", black), ("b", white))
    )
    assert a.pixel_digest == b.pixel_digest
    assert a.near is not None
    assert b.near is not None
    assert a.near.thumb == b.near.thumb
    shown = white.copy()
    shown[:, 40, :3] = 0
    c = fingerprint_bytes(Record("c", "t", None), encode(Image.fromarray(shown, "RGBA"), "PNG"))
    assert c.pixel_digest != a.pixel_digest


def test_max_pixels_above_pillows_own_limit_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow refuses, as it opens a file, an image above twice Image.MAX_IMAGE_PIXELS (89 million by default,
    # so --max-pixels 300000000 had no effect on a 14000x14000 PNG); a small Pillow limit stands for it here.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = encode(make_image(1, (60, 50)), "PNG")  # 3,000 pixels, above Pillow's 2,000
    record = Record("x", "train", None, tmp_path / "x.png")
    (tmp_path / "x.png").write_bytes(data)
    fp = fingerprint_bytes(record, data, FingerprintOptions(max_pixels=5000))
    assert fp.error is None
    assert (fp.width, fp.height) == (60, 50)
    assert full_pixel_digest(record, FingerprintOptions(max_pixels=5000)) == fp.pixel_digest
    assert Image.MAX_IMAGE_PIXELS == 1000  # (restored)
    # A configured limit between Pillow's and the image is ours, with its message naming the size.
    refused = fingerprint_bytes(record, data, FingerprintOptions(max_pixels=2500))
    assert refused.error == (
        "image is 60x50 (3,000 pixels), above the limit of 2,500; raise --max-pixels if it is genuine"
    )
    assert full_pixel_digest(record, FingerprintOptions(max_pixels=2500)) is None
    # Pillow's limit is never lowered, nor set when it is off (None).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert fingerprint_bytes(record, data, FingerprintOptions(max_pixels=5000)).error is None
    assert Image.MAX_IMAGE_PIXELS is None
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert fingerprint_bytes(record, data, FingerprintOptions(max_pixels=100)).error is not None
    assert Image.MAX_IMAGE_PIXELS == 1000


def jpeg_with_corrupt_exif() -> bytes:
    """A readable JPEG whose EXIF block claims more than it holds: Pillow warns 'Corrupt EXIF data'."""
    jpeg = encode(make_image(2, (64, 64)), "JPEG")
    exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x05\x01\x12\0\x03\xff\xff\xff\xff\0\x06\0\0" + b"\xff" * 40
    return jpeg[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + jpeg[2:]


def test_pillow_warnings_about_a_file_are_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = jpeg_with_corrupt_exif()
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        with Image.open(io.BytesIO(data)) as im:
            im.getexif()  # (what the fingerprint does with it)
    assert "Corrupt EXIF data" in " ".join(str(w.message) for w in raw)
    record = Record("x", "train", None, tmp_path / "x.jpg")
    (tmp_path / "x.jpg").write_bytes(data)
    # (The tests turn warnings into errors: a warning raised in the decode stopped the scan.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fp = fingerprint_bytes(record, data)
        assert full_pixel_digest(record) is not None
    assert fp.error is None
    assert (fp.width, fp.height) == (64, 64)
    assert caught == []
    # On the command line: nothing on stderr, and the scan goes on.
    for split in ("train", "test"):
        (tmp_path / "data" / split / "a").mkdir(parents=True)
        make_image(3 if split == "train" else 4).save(tmp_path / "data" / split / "a" / "ok.png")
    (tmp_path / "data" / "train" / "a" / "badexif.jpg").write_bytes(data)
    assert main(["scan", str(tmp_path / "data"), "--no-cache", "-q", "--jobs", "1"]) == 0
    assert capsys.readouterr().err == ""


def test_fingerprint_array_refuses_an_unknown_scale() -> None:
    """A typo ("0_1") would silently read 0-1 pixels as 0-255: hashes and statistics all wrong."""
    from leakcheck.fingerprint import fingerprint_array
    from leakcheck.model import Record

    pixels = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    assert fingerprint_array(Record("a", "train", None), pixels, scale="0-1").scale == "0-1"
    with pytest.raises(ValueError, match="scale must be one of 0-255, 0-1"):
        fingerprint_array(Record("a", "train", None), pixels, scale="0_1")
