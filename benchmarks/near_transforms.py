"""Known edits for the near-duplicate quality benchmark, and the hard negatives it mixes in.

Each transform family has several strengths; a benchmark copy records its family and strength, so that
recall can be reported per family. Randomness comes from a seeded generator passed in.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Edit = Callable[[Image.Image, np.random.Generator], Image.Image]


@dataclass(frozen=True)
class Transform:
    family: str
    strength: str
    edit: Edit
    # Only the JPEG family decides its own encoding; other copies are stored like the originals.
    jpeg_quality: int | None = None


def _jpeg(q: int) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    return edit


def _resize(f: float) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        size = (max(8, round(im.width * f)), max(8, round(im.height * f)))
        return im.resize(size, Image.Resampling.LANCZOS if f < 1 else Image.Resampling.BICUBIC)

    return edit


def _crop(frac: float) -> Edit:
    """Remove `frac` of each dimension, split at random between the two sides."""

    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        dx, dy = round(im.width * frac), round(im.height * frac)
        left, top = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
        return im.crop((left, top, left + im.width - dx, top + im.height - dy))

    return edit


def _translate(frac: float) -> Edit:
    """Shift the content by `frac` of each dimension in a random direction; the uncovered strip is black."""

    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        sx, sy = (rng.choice([-1, 1]) for _ in range(2))
        dx, dy = int(sx * round(im.width * frac)), int(sy * round(im.height * frac))
        out = Image.new("RGB", im.size)
        out.paste(im, (dx, dy))
        return out

    return edit


def _rotate(deg: float, expand: bool) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        return im.rotate(deg, resample=Image.Resampling.BICUBIC, expand=expand)

    return edit


def _enhance(kind: type[ImageEnhance._Enhance], factor: float) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        return kind(im).enhance(factor)  # type: ignore[call-arg]

    return edit


def _hue(shift: float) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        h, s, v = im.convert("HSV").split()
        h = h.point(lambda x: (x + round(shift * 256)) % 256)
        return Image.merge("HSV", (h, s, v)).convert("RGB")

    return edit


def _blur(rel: float) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        return im.filter(ImageFilter.GaussianBlur(max(0.6, rel * max(im.size))))

    return edit


def _gaussian_noise(sigma: float) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        arr = np.asarray(im, dtype=np.float32) + rng.normal(0, sigma, (im.height, im.width, 3))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))

    return edit


def _salt_pepper(frac: float) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        arr = np.array(im)
        hit = rng.random(arr.shape[:2])
        arr[hit < frac / 2] = 0
        arr[hit > 1 - frac / 2] = 255
        return Image.fromarray(arr)

    return edit


def _letterbox(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    side = max(im.size)
    out = Image.new("RGB", (side, side))
    out.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return out


def _border(frac: float, colour: tuple[int, int, int]) -> Edit:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        return ImageOps.expand(im, border=max(1, round(frac * max(im.size))), fill=colour)

    return edit


def _text(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = im.copy()
    draw = ImageDraw.Draw(out)
    size = max(8, im.height // 8)
    font = ImageFont.load_default(size=size)
    x, y = int(rng.integers(0, max(1, im.width // 3))), int(rng.integers(0, max(1, im.height - 2 * size)))
    draw.text((x, y), "SAMPLE 2024", fill=(255, 255, 255), font=font, stroke_width=max(1, size // 10),
              stroke_fill=(0, 0, 0))  # fmt: skip
    return out


def _grayscale(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return im.convert("L")


TRANSFORMS: tuple[Transform, ...] = (
    *(Transform("jpeg", f"q{q}", _jpeg(q), jpeg_quality=q) for q in (20, 50, 95)),
    *(Transform("resize", f"x{f}", _resize(f)) for f in (0.25, 0.5, 2.0, 3.0)),
    *(Transform("crop", f"{round(f * 100)}%", _crop(f)) for f in (0.05, 0.15, 0.3)),
    *(Transform("translate", f"{round(f * 100)}%", _translate(f)) for f in (0.05, 0.1, 0.15)),
    Transform("mirror", "left-right", lambda im, rng: ImageOps.mirror(im)),
    Transform("mirror", "top-bottom", lambda im, rng: ImageOps.flip(im)),
    *(Transform("rotate-90", f"{d}deg", _rotate(d, True)) for d in (90, 180, 270)),
    *(
        Transform("rotate", f"{d}deg{'-expand' if e else ''}", _rotate(d, e))
        for d, e in ((5, False), (15, True), (30, False), (45, True), (75, False))
    ),
    *(Transform("colour", f"brightness{f}", _enhance(ImageEnhance.Brightness, f)) for f in (0.6, 1.4)),
    *(Transform("colour", f"contrast{f}", _enhance(ImageEnhance.Contrast, f)) for f in (0.6, 1.5)),
    *(Transform("colour", f"saturation{f}", _enhance(ImageEnhance.Color, f)) for f in (0.3, 2.0)),
    *(Transform("colour", f"hue{f}", _hue(f)) for f in (0.1, 0.3)),
    Transform("grayscale", "L", _grayscale),
    *(Transform("blur", f"{r}", _blur(r)) for r in (0.003, 0.008, 0.015)),
    *(Transform("noise", f"gauss{s}", _gaussian_noise(s)) for s in (10, 25)),
    Transform("noise", "salt-pepper5%", _salt_pepper(0.05)),
    Transform("pad", "letterbox", _letterbox),
    Transform("pad", "white10%", _border(0.1, (255, 255, 255))),
    Transform("text", "overlay", _text),
)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(t.family for t in TRANSFORMS))


def near_uniform_images(rng: np.random.Generator, size: tuple[int, int]) -> list[tuple[str, Image.Image]]:
    """Blank, all-black and sky-like images, each distinct (their own noise), none a copy of another."""
    w, h = size
    out: list[tuple[str, Image.Image]] = []
    for i in range(4):
        for name, base in (("black", (0, 0, 0)), ("white", (250, 250, 250)), ("grey", (128, 128, 128))):
            arr = np.full((h, w, 3), base, dtype=np.float32) + rng.normal(0, 1.5 + i, (h, w, 3))
            out.append((f"{name}{i}", Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))))
        top = np.array([70, 120, 200]) + rng.normal(0, 15, 3)
        bottom = np.array([170, 200, 240]) + rng.normal(0, 10, 3)
        t = np.linspace(0, 1, h)[:, None, None] ** (0.7 + 0.3 * i)
        sky = top * (1 - t) + bottom * t + rng.normal(0, 2, (h, w, 3))
        out.append((f"sky{i}", Image.fromarray(np.clip(np.broadcast_to(sky, (h, w, 3)), 0, 255).astype(np.uint8))))
    return out


def same_background_shots(
    background: Image.Image, objects: list[Image.Image], rng: np.random.Generator
) -> list[Image.Image]:
    """One backdrop with a different object placed on it each time (a product-photo studio)."""
    out: list[Image.Image] = []
    for obj in objects:
        shot = background.copy()
        side = min(shot.size) // 2
        thing = ImageOps.fit(obj, (side, side))
        mask = Image.new("L", (side, side))
        ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
        x = (shot.width - side) // 2 + int(rng.integers(-side // 8, side // 8 + 1))
        y = (shot.height - side) // 2 + int(rng.integers(-side // 8, side // 8 + 1))
        shot.paste(thing, (x, y), mask)
        out.append(shot)
    return out
