"""The candidate views, computed a group of same-shape thumbnails at a time, against a plain per-image
oracle: PIL's BOX resize for the grid and windows, PIL's AFFINE/BILINEAR transform for the turned disks,
and a per-image bilinear read of the polar rings."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from leakcheck.near.candidates import (
    _DISK_ANGLES,
    _RING_SCALES,
    _WINDOWS,
    ANGLES,
    DISK,
    GRAIN,
    GRID,
    HARMONICS,
    RINGS,
    Views,
    _disk_mask,
    polar,
    views,
)
from leakcheck.near.descriptor import DIHEDRAL, NearDescriptor, describe, dihedral
from tests.test_near import EDITS, FOOD, scene

F32 = NDArray[np.float32]
# The module itself (leakcheck.near's `candidates` attribute is a function of that name).
_MODULE = importlib.import_module("leakcheck.near.candidates")


def _oracle_unit(x: F32) -> F32:
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.maximum(norm, 1e-6), dtype=np.float32)


def _oracle_squash(pixels: F32, side: int) -> F32:
    img = Image.fromarray(pixels.astype(np.float32), "F")
    return np.asarray(img.resize((side, side), Image.Resampling.BOX), dtype=np.float32)


def _oracle_polar(pixels: F32, radial_scale: float) -> F32:
    h, w = pixels.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    radius = (min(h, w) - 1) / 2.0 * radial_scale
    r = radius * np.linspace(0.2, 0.95, RINGS, dtype=np.float32)[:, None]
    t = np.linspace(0, 2 * np.pi, ANGLES, endpoint=False, dtype=np.float32)[None, :]
    ys = np.clip(cy - r * np.sin(t), 0, h - 1)
    xs = np.clip(cx + r * np.cos(t), 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(np.intp), max(h - 2, 0))
    x0 = np.minimum(np.floor(xs).astype(np.intp), max(w - 2, 0))
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = ys - y0, xs - x0
    top = pixels[y0, x0] * (1 - fx) + pixels[y0, x1] * fx
    bottom = pixels[y1, x0] * (1 - fx) + pixels[y1, x1] * fx
    rings = np.asarray(top * (1 - fy) + bottom * fy, dtype=np.float32)
    return np.asarray(rings - rings.mean(axis=1, keepdims=True), dtype=np.float32)


def _oracle_disk(px: F32, angle: float, zoom: float) -> F32:
    h, w = px.shape
    side = min(h, w) * zoom
    img = Image.fromarray(px, "F")
    cy, cx = h / 2.0, w / 2.0
    rad = np.radians(angle)
    c, s = np.cos(rad) * side / DISK, np.sin(rad) * side / DISK
    ox, oy = -DISK / 2.0, -DISK / 2.0
    coeffs = (c, -s, cx + c * ox - s * oy, s, c, cy + s * ox + c * oy)
    out = np.asarray(img.transform((DISK, DISK), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR))
    m = _disk_mask()
    return np.asarray(np.where(m, out, out[m].mean()), dtype=np.float32)


def _oracle_views(descriptors: list[NearDescriptor]) -> Views:
    """The views one image at a time through PIL (the implementation before views were batched)."""
    n = len(descriptors)
    grid = np.zeros((n, len(DIHEDRAL), GRID * GRID), dtype=np.float32)
    window = np.zeros((n, sum(p * p for _, p in _WINDOWS), GRID * GRID), dtype=np.float32)
    disk = np.zeros((n, 3 * len(_DISK_ANGLES) + 1, DISK * DISK), dtype=np.float32)
    pol = np.zeros((n, 1, RINGS * HARMONICS), dtype=np.float32)
    rings = np.zeros((n, len(_RING_SCALES), RINGS, ANGLES // 2 + 1), dtype=np.complex64)
    for i, d in enumerate(descriptors):
        px = d.pixels()
        h, w = px.shape
        g = _oracle_squash(px, GRID)
        for v, (k, m) in enumerate(DIHEDRAL):
            grid[i, v] = dihedral(g, k, m).reshape(-1)
        v = 0
        for scale, per_axis in _WINDOWS:
            src = max(GRID, round(GRID / scale))
            big = _oracle_squash(px, src)
            for y in np.linspace(0, src - GRID, per_axis).round().astype(int):
                for x in np.linspace(0, src - GRID, per_axis).round().astype(int):
                    window[i, v] = big[y : y + GRID, x : x + GRID].reshape(-1)
                    v += 1
        disk[i, 0] = _oracle_disk(px, 0.0, 1.0).reshape(-1)
        for v, angle in enumerate(_DISK_ANGLES):
            rad = np.radians(angle)
            c, s_ = abs(float(np.cos(rad))), abs(float(np.sin(rad)))
            zoom = min(w * c + h * s_, w * s_ + h * c) / min(w, h)
            disk[i, 1 + 3 * v] = _oracle_disk(px, angle, 1.0).reshape(-1)
            disk[i, 2 + 3 * v] = _oracle_disk(px, angle, zoom).reshape(-1)
            disk[i, 3 + 3 * v] = _oracle_disk(px, angle, 1.0 / zoom).reshape(-1)
        for r, scale in enumerate(_RING_SCALES):
            rings[i, r] = np.fft.rfft(_oracle_polar(px, scale), axis=1)
        pol[i, 0] = np.abs(rings[i, 0])[:, 1 : HARMONICS + 1].reshape(-1)
    return Views(_oracle_unit(grid), _oracle_unit(window), _oracle_unit(disk), _oracle_unit(pol), rings)


def _random_descriptor(rng: np.random.Generator, h: int, w: int) -> NearDescriptor:
    """Smooth-ish random pixels of any shape (extreme thin ones included)."""
    noise = rng.normal(0, 1, (h + 4, w + 4)).cumsum(axis=0).cumsum(axis=1)[2 : h + 2, 2 : w + 2]
    span = float(np.ptp(noise)) or 1.0
    px = np.clip((noise - noise.min()) * (255.0 / span) + rng.normal(0, 8, (h, w)), 0, 255).astype(np.uint8)
    return NearDescriptor(px.tobytes(), h, w, (0.0, 0.0, 1.0, 1.0), bytes(192), (0,) * 8, 1.0, True)


def _descriptors() -> list[NearDescriptor]:
    images = []
    for seed, size in ((3, (160, 120)), (4, (120, 160)), (5, (150, 150)), (6, (200, 90)), (7, (300, 40))):
        original = scene(seed, size)
        images += [original, *(EDITS[f][0](original) for f in ("crop", "rotate-20", "letterbox", "mirror"))]
    if FOOD.is_dir():
        for path in sorted(FOOD.glob("test/*/*.jpg"))[::40][:12]:
            with Image.open(path) as im:
                images.append(im.convert("RGB"))
    out = [describe(im) for im in images]
    rng = np.random.default_rng(11)
    # Same-shape images spread through the list, shapes from square to one pixel thin.
    for h, w in ((32, 32), (24, 32), (32, 24), (32, 5), (3, 32), (32, 1), (1, 1), (32, 32), (24, 32)):
        out.insert(int(rng.integers(0, len(out) + 1)), _random_descriptor(rng, h, w))
    return out


@pytest.mark.parametrize("chunk", [64, 2])
def test_batched_views_match_the_per_image_pil_views(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    # A chunk of 2 splits every shape's group into several chunks.
    monkeypatch.setattr(_MODULE, "_CHUNK", chunk)
    # The views before their rounding to the search's grain (`test_views_lie_on_the_grain` below).
    monkeypatch.setattr(_MODULE, "on_grid", lambda x: x)
    ds = _descriptors()
    assert len({(d.height, d.width) for d in ds}) >= 8
    got, want = views(ds), _oracle_views(ds)
    for field in ("grid", "window", "disk", "polar"):
        a, b = getattr(got, field), getattr(want, field)
        assert a.shape == b.shape, field
        assert a.dtype == b.dtype == np.float32, field
        # The same arithmetic as PIL's: equal, or a float32 step apart where PIL ran a squash's two
        # passes the other way round.
        assert np.abs(a - b).max() <= 1e-6, (field, float(np.abs(a - b).max()))
    assert got.rings.shape == want.rings.shape
    assert got.rings.dtype == np.complex64
    scale = np.abs(want.rings).max(axis=(1, 2, 3), keepdims=True) + 1e-3
    assert (np.abs(got.rings - want.rings) / scale).max() <= 1e-6


def test_views_lie_on_the_grain_so_that_any_block_of_a_search_gives_the_same_similarities() -> None:
    v = views(_descriptors())
    for field in ("grid", "window", "disk", "polar"):
        x = getattr(v, field)
        assert np.array_equal(x / GRAIN, np.round(x / GRAIN)), field
        assert (np.linalg.norm(x, axis=-1) <= 1.0 + 0.5 * GRAIN * np.sqrt(x.shape[-1])).all(), field
        # Whatever rows and columns are multiplied together, each similarity is the whole product's.
        flat = x[:, 0]
        whole = flat @ flat.T
        for rows, cols in ((slice(0, 7), slice(3, None)), (slice(5, 6), slice(None)), ([1, 4, 9], [0, 2, 30])):
            assert np.array_equal(flat[rows] @ flat[cols].T, whole[rows][:, cols]), field


def test_polar_of_one_picture_matches_the_oracle() -> None:
    rng = np.random.default_rng(5)
    for h, w in ((32, 32), (19, 32), (32, 7), (2, 32)):
        px = rng.uniform(0, 255, (h, w)).astype(np.float32)
        for scale in _RING_SCALES:
            got = polar(px, scale)
            assert got.shape == (RINGS, ANGLES)
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, _oracle_polar(px, scale), atol=1e-3)


def test_views_of_nothing_are_empty() -> None:
    v = views([])
    assert v.grid.shape == (0, len(DIHEDRAL), GRID * GRID)
    assert v.disk.shape == (0, 3 * len(_DISK_ANGLES) + 1, DISK * DISK)
    assert v.rings.shape == (0, len(_RING_SCALES), RINGS, ANGLES // 2 + 1)
