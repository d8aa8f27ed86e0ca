"""Builds small image data sets on disk with known, planted duplicates.

Each distinct image comes from a seed: low-frequency random colour fields, so that perceptual hashes of
different seeds are far apart and copies are recognisable. Every planting method records what it did, so
tests can assert exact finding counts.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


def make_image(seed: int, size: tuple[int, int] = (96, 80)) -> Image.Image:
    """A distinct, textured RGB image for each seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    base = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    detail = rng.normal(0, 6, size=(size[1], size[0], 3))
    arr = np.clip(np.asarray(base, dtype=np.float64) + detail, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 92) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buf, "JPEG", quality=quality)
    else:
        image.save(buf, fmt)
    return buf.getvalue()


def jpeg_turned_on_display(image: Image.Image, quality: int) -> bytes:
    """`image` as a JPEG whose EXIF orientation (6) tells viewers to turn it 90 degrees clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def flip_middle_byte(path: Path) -> None:
    """The same size, other bytes (and new times): what a size-and-digest check must tell apart."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def reencode_file(src: Path, dest: Path, quality: int = 60) -> Path:
    """A lossy re-encode of `src` at another JPEG quality, written to `dest`: a near duplicate."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        dest.write_bytes(encode(im, "JPEG", quality))
    return dest


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and folder below root: bytes (empty for folders) and modification time in ns.

    Equal snapshots before and after an operation prove it modified nothing.
    """
    out: dict[str, tuple[bytes, int]] = {}
    for dirpath, dirnames, files in os.walk(root):
        for name in dirnames:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix() + "/"] = (b"", path.stat().st_mtime_ns)
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


@dataclass
class DatasetFactory:
    """A data set under `root`, written as it is planned."""

    root: Path
    planted: dict[str, int] = field(default_factory=dict)

    def path(self, split: str, label: str | None, name: str) -> Path:
        folder = self.root / split / label if label else self.root / split
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def _note(self, what: str) -> None:
        self.planted[what] = self.planted.get(what, 0) + 1

    def add(
        self,
        split: str,
        label: str | None,
        name: str,
        seed: int,
        *,
        fmt: str = "JPEG",
        size: tuple[int, int] = (96, 80),
    ) -> Path:
        """A new distinct image."""
        p = self.path(split, label, name)
        p.write_bytes(encode(make_image(seed, size), fmt))
        return p

    def add_many(self, split: str, labels: list[str], per_label: int, seed0: int) -> list[Path]:
        out = []
        for li, label in enumerate(labels):
            for k in range(per_label):
                out.append(self.add(split, label, f"{label}_{k:03d}.jpg", seed0 + li * 1000 + k))
        return out

    def copy_bytes(self, src: Path, split: str, label: str | None, name: str) -> Path:
        """A byte-for-byte copy: an exact-bytes duplicate."""
        p = self.path(split, label, name)
        shutil.copyfile(src, p)
        self._note("exact-bytes")
        return p

    def resave_png(self, src: Path, split: str, label: str | None, name: str) -> Path:
        """The same decoded pixels in another container: an exact-pixels duplicate."""
        p = self.path(split, label, name)
        with Image.open(src) as im:
            im.save(p, "PNG")
        self._note("exact-pixels")
        return p

    def reencode(self, src: Path, split: str, label: str | None, name: str, quality: int = 60) -> Path:
        """A lossy re-encode at another JPEG quality: a near duplicate."""
        self._note("near")
        return reencode_file(src, self.path(split, label, name), quality)

    def resize(self, src: Path, split: str, label: str | None, name: str, scale: float = 0.8) -> Path:
        """A slightly smaller copy: a near duplicate."""
        p = self.path(split, label, name)
        with Image.open(src) as im:
            small = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
            p.write_bytes(encode(small, "JPEG", 92))
        self._note("near")
        return p
