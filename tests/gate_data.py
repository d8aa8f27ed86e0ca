"""Small image data sets for the gate's tests: random smooth images (distinct perceptual hashes), with
leaks planted as byte copies and re-encodes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.factory import reencode_file as reencode
from tests.factory import snapshot

__all__ = ["make_dataset", "reencode", "smooth_image", "snapshot", "write_image"]


def smooth_image(seed: int, size: int = 64) -> Image.Image:
    """Random 6x6 colour noise blown up with bicubic interpolation: smooth, and unlike any other seed."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), "RGB")
    return small.resize((size, size), Image.Resampling.BICUBIC)


def write_image(path: Path, seed: int, *, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    smooth_image(seed).save(path, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return path


def make_dataset(root: Path, *, per_class: int = 6, test_per_class: int = 3) -> Path:
    """root/{train,test}/{cat,dog}/NN.jpg, all distinct, plus two leaks into test:
    test/cat/leak-bytes.jpg (a byte copy of train/cat/00.jpg) and test/dog/leak-near.jpg (a re-encode
    of train/dog/01.jpg)."""
    seed = 0
    for split, n in (("train", per_class), ("test", test_per_class)):
        for label in ("cat", "dog"):
            for i in range(n):
                seed += 1
                write_image(root / split / label / f"{i:02d}.jpg", seed)
    shutil.copyfile(root / "train/cat/00.jpg", root / "test/cat/leak-bytes.jpg")
    reencode(root / "train/dog/01.jpg", root / "test/dog/leak-near.jpg")
    return root
