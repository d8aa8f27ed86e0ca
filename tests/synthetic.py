"""Generated images for the source and pixel tests: smooth random pictures, distinct under pHash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def smooth_images(
    n: int, *, size: int = 32, seed: int = 0, tint: tuple[float, float, float] = (1.15, 1.0, 0.8)
) -> NDArray[np.uint8]:
    """`n` RGB images (n x size x size x 3): random 8x8 colour fields upsampled, then tinted so that red
    outweighs blue, as in most photos. Brightness varies from image to image."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        big = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        gain = rng.uniform(0.6, 1.0)
        out[i] = np.clip(big * gain * np.array(tint), 0, 255).astype(np.uint8)
    return out


def write_folder(root: Path, splits: dict[str, tuple[NDArray[np.uint8], list[str]]]) -> None:
    """Write `root/<split>/<label>/<i>.png`, where i is the image's index in its split's array."""
    for split, (x, y) in splits.items():
        for i, (image, label) in enumerate(zip(x, y, strict=True)):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:04d}.png")
