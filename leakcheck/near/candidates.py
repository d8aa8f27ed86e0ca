"""Candidate generation: a generous, exact nearest-neighbour search over small views of each thumbnail.

Three views of every image, each a unit vector (brightness and contrast normalised):
- `grid`: the whole thumbnail at 12x12, compared under all eight quarter turns and mirrors;
- `window`: nine 12x12 windows covering 75% of each side, so that a crop finds its source;
- `polar`: ring spectra around the centre, unchanged by any rotation or mirror.
For each view, every image keeps its `k` most similar others (exact blocked search, the same result as
the full similarity matrix); the union of those lists, plus pairs whose pHashes are close under some
dihedral transform, goes to verification, which is where precision comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from leakcheck.near.descriptor import DIHEDRAL, NearDescriptor, dihedral
from leakcheck.near.verify import Hypothesis

F32 = NDArray[np.float32]
GRID = 12
RINGS = 6
ANGLES = 48
HARMONICS = 8
# Radial scales at which B's rings are compared with A's (rotations with an expanded canvas shrink it).
_RING_SCALES = (1.0, 0.86, 0.74)
_BLOCK = 512


def _unit(x: F32) -> F32:
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.maximum(norm, 1e-6), dtype=np.float32)


def _squash(pixels: F32, side: int) -> F32:
    img = Image.fromarray(pixels.astype(np.float32), "F")
    return np.asarray(img.resize((side, side), Image.Resampling.BOX), dtype=np.float32)


def polar(pixels: F32, radial_scale: float = 1.0) -> F32:
    """Samples on RINGS circles x ANGLES angles around the centre, inside the inscribed circle."""
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


@dataclass(frozen=True, slots=True)
class Views:
    """The search views of n images, each (n, views, d): grid in DIHEDRAL order; windows (crops of
    the image at two scales); disk (the central disk at several small rotations, same-size and
    shrunk as by a rotation that expands the canvas); polar."""

    grid: F32
    window: F32
    disk: F32
    polar: F32
    # Per image: ring spectra (rings, angles//2+1) at each of _RING_SCALES, for angle estimates.
    rings: NDArray[np.complex64]


# (scale of the window's side, positions per axis) for the crop view.
_WINDOWS: tuple[tuple[float, int], ...] = ((0.85, 2), (0.72, 3))
DISK = 10
_DISK_ANGLES: tuple[float, ...] = (-45.0, -37.5, -30.0, -22.5, -15.0, -7.5, 7.5, 15.0, 22.5, 30.0, 37.5, 45.0)


# The angle of each disk view (index 0 upright; then each angle plain, zoomed out and zoomed in).
_DISK_VIEW_ANGLES: tuple[float, ...] = (0.0, *(a for angle in _DISK_ANGLES for a in (angle, angle, angle)))


@cache
def _disk_mask() -> NDArray[np.bool_]:
    c = (DISK - 1) / 2.0
    yy, xx = np.mgrid[0:DISK, 0:DISK]
    return np.asarray((yy - c) ** 2 + (xx - c) ** 2 <= (DISK / 2.0) ** 2)


def _disk(px: F32, angle: float, zoom: float) -> F32:
    """The central disk of `px` turned by `angle` degrees, seeing `zoom` times as far out."""
    h, w = px.shape
    side = min(h, w) * zoom
    img = Image.fromarray(px, "F")
    cy, cx = h / 2.0, w / 2.0
    rad = np.radians(angle)
    c, s = np.cos(rad) * side / DISK, np.sin(rad) * side / DISK
    # Output pixel (x, y) samples input at centre + R * (x - DISK/2, y - DISK/2).
    ox, oy = -DISK / 2.0, -DISK / 2.0
    coeffs = (c, -s, cx + c * ox - s * oy, s, c, cy + s * ox + c * oy)
    out = np.asarray(img.transform((DISK, DISK), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR))
    m = _disk_mask()
    out = np.where(m, out, out[m].mean())
    return np.asarray(out, dtype=np.float32)


def views(descriptors: Sequence[NearDescriptor]) -> Views:
    n = len(descriptors)
    grid = np.zeros((n, len(DIHEDRAL), GRID * GRID), dtype=np.float32)
    n_windows = sum(p * p for _, p in _WINDOWS)
    window = np.zeros((n, n_windows, GRID * GRID), dtype=np.float32)
    disk = np.zeros((n, 3 * len(_DISK_ANGLES) + 1, DISK * DISK), dtype=np.float32)
    pol = np.zeros((n, 1, RINGS * HARMONICS), dtype=np.float32)
    rings = np.zeros((n, len(_RING_SCALES), RINGS, ANGLES // 2 + 1), dtype=np.complex64)
    for i, d in enumerate(descriptors):
        px = d.pixels()
        g = _squash(px, GRID)
        for v, (k, m) in enumerate(DIHEDRAL):
            grid[i, v] = dihedral(g, k, m).reshape(-1)
        v = 0
        for scale, per_axis in _WINDOWS:
            src = max(GRID, round(GRID / scale))
            big = _squash(px, src)
            for y in np.linspace(0, src - GRID, per_axis).round().astype(int):
                for x in np.linspace(0, src - GRID, per_axis).round().astype(int):
                    window[i, v] = big[y : y + GRID, x : x + GRID].reshape(-1)
                    v += 1
        disk[i, 0] = _disk(px, 0.0, 1.0).reshape(-1)
        for v, angle in enumerate(_DISK_ANGLES):
            rad = np.radians(angle)
            disk[i, 1 + 3 * v] = _disk(px, angle, 1.0).reshape(-1)
            # Turning with an expanded canvas: the canvas grows to hold the turned image, so its
            # central disk spans this much more of the picture.
            h, w = px.shape
            c, s_ = abs(float(np.cos(rad))), abs(float(np.sin(rad)))
            zoom = min(w * c + h * s_, w * s_ + h * c) / min(w, h)
            disk[i, 2 + 3 * v] = _disk(px, angle, zoom).reshape(-1)
            # ... and the way back, from an expanded canvas to its source's upright disk.
            disk[i, 3 + 3 * v] = _disk(px, angle, 1.0 / zoom).reshape(-1)
        for r, scale in enumerate(_RING_SCALES):
            rings[i, r] = np.fft.rfft(polar(px, scale), axis=1)
        pol[i, 0] = np.abs(rings[i, 0])[:, 1 : HARMONICS + 1].reshape(-1)
    return Views(_unit(grid), _unit(window), _unit(disk), _unit(pol), rings)


def top_k(queries: F32, database: F32, k: int, *, block: int = _BLOCK) -> tuple[NDArray[np.intp], F32]:
    """For each i, the k indices j != i of highest similarity max over views (queries[i] . database[j]).

    queries: (n, Vq, d), database: (n, Vd, d). Ties break toward the smaller j. Exact; blocked so that
    memory stays bounded by block x block x Vq x Vd floats.
    """
    n = queries.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.intp), np.zeros((n, 0), dtype=np.float32)
    best_idx = np.zeros((n, k), dtype=np.intp)
    best_sim = np.full((n, k), -np.inf, dtype=np.float32)
    vq, vd, dim = queries.shape[1], database.shape[1], queries.shape[2]
    for qs in range(0, n, block):
        q = queries[qs : qs + block].reshape(-1, dim)
        nq = min(block, n - qs)
        cand_idx: list[NDArray[np.intp]] = []
        cand_sim: list[F32] = []
        for ds in range(0, n, block):
            nd = min(block, n - ds)
            d = database[ds : ds + block].reshape(-1, dim)
            sims = (q @ d.T).reshape(nq, vq, nd, vd).max(axis=(1, 3))
            rows = np.arange(qs, qs + nq)
            inside = (rows >= ds) & (rows < ds + nd)
            sims[inside, rows[inside] - ds] = -np.inf
            cand_idx.append(np.broadcast_to(np.arange(ds, ds + nd), (nq, nd)))
            cand_sim.append(sims)
            if sum(c.shape[1] for c in cand_idx) >= 4 * block or ds + block >= n:
                idx = np.concatenate([best_idx[qs : qs + nq], *cand_idx], axis=1)
                sim = np.concatenate([best_sim[qs : qs + nq], *cand_sim], axis=1)
                # Highest similarity first, smaller index first among equals.
                order = np.lexsort((idx, -sim), axis=1)[:, :k]
                best_idx[qs : qs + nq] = np.take_along_axis(idx, order, axis=1)
                best_sim[qs : qs + nq] = np.take_along_axis(sim, order, axis=1)
                cand_idx, cand_sim = [], []
    return best_idx, best_sim


def top_k_brute_force(queries: F32, database: F32, k: int) -> tuple[NDArray[np.intp], F32]:
    """The oracle for `top_k`: the full similarity matrix, sorted."""
    n = queries.shape[0]
    sims = np.einsum("iad,jbd->ijab", queries, database).max(axis=(2, 3))
    np.fill_diagonal(sims, -np.inf)
    k = min(k, n - 1)
    order = np.lexsort((np.broadcast_to(np.arange(n), (n, n)), -sims), axis=1)[:, :k]
    return order.astype(np.intp), np.take_along_axis(sims, order, axis=1).astype(np.float32)


# Images whose whole-image views are at least this similar form a cluster (a photo and its light
# edits); the searches for heavier edits run on one image per cluster, so that a cluster cannot fill
# every neighbour slot of a heavily edited copy with itself.
CLUSTER_SIMILARITY = 0.9
_SMALL_CLUSTER = 4


def _clusters(n: int, idx: NDArray[np.intp], sim: F32) -> list[int]:
    """Union-find over the grid neighbours at CLUSTER_SIMILARITY or more: each image's root (smallest)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, (row, sims) in enumerate(zip(idx.tolist(), sim.tolist(), strict=True)):
        for j, s in zip(row, sims, strict=True):
            if s >= CLUSTER_SIMILARITY:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(n)]


def candidate_pairs(v: Views, k: int, floor: float) -> set[tuple[int, int]]:
    """Pairs (i < j) that some view puts among either image's k nearest, with similarity >= floor
    (the polar view, whose spectra are alike for most photos, must clear the midpoint to 1 as well)."""
    n = v.grid.shape[0]
    pairs: set[tuple[int, int]] = set()

    def add(idx: NDArray[np.intp], sim: F32, bar: float, ids: list[int]) -> list[tuple[int, int]]:
        found = []
        for i, (row, sims) in enumerate(zip(idx.tolist(), sim.tolist(), strict=True)):
            for j, s in zip(row, sims, strict=True):
                if s >= bar:
                    found.append((ids[i], ids[j]))
        return found

    # Whole image, one orientation of the query against all eight of the others.
    idx, sim = top_k(v.grid[:, :1], v.grid, k)
    everyone = list(range(n))
    pairs.update((min(i, j), max(i, j)) for i, j in add(idx, sim, floor, everyone))
    root = _clusters(n, idx, sim)
    members: dict[int, list[int]] = {}
    for i, r in enumerate(root):
        members.setdefault(r, []).append(i)
    for r, group in members.items():
        pairs.update((r, m) for m in group if m != r)
    reps = sorted(members)
    searches = (
        (v.grid[reps, :1], v.window[reps], floor),  # a crop against windows of its source
        (v.disk[reps], v.disk[reps, :1], floor),  # turned central disks against upright ones
        (v.polar[reps], v.polar[reps], (1.0 + floor) / 2.0),
    )
    for queries, database, bar in searches:
        idx, sim = top_k(queries, database, k)
        for a, b in add(idx, sim, bar, reps):
            pairs.add((min(a, b), max(a, b)))
            # Two heavy edits of one photo often cluster together, away from their source: let the
            # members of a small cluster meet the other side too (a large one is the source's own).
            for x, y in ((a, b), (b, a)):
                if len(members[y]) <= _SMALL_CLUSTER:
                    pairs.update((min(x, m), max(x, m)) for m in members[y] if m != x)
    return pairs


def hypotheses(a: NearDescriptor, b: NearDescriptor, va: Views, ia: int, vb: Views, ib: int) -> list[Hypothesis]:
    """The orientations worth trying for B onto A: upright, the best quarter turn or mirror, the angle
    of the best turned central disk, and the angle that lines up the polar profiles."""
    out = [Hypothesis(angle=0.0, mirrored=False)]

    def add(angle: float, mirrored: bool) -> None:
        if all(_angle_gap(angle, h.angle) > 4.0 or h.mirrored != mirrored for h in out):
            out.append(Hypothesis(angle=angle % 360.0, mirrored=mirrored))

    sims = vb.grid[ib] @ va.grid[ia, 0]
    k, m = DIHEDRAL[int(np.argmax(sims))]
    # The grid view that matches turns B by k quarter turns after mirroring: the same mapping onto A.
    add(90.0 * k, m)
    # Turned disks of A against B's upright disk, and of B against A's: the best angle either way.
    a_turned = va.disk[ia] @ vb.disk[ib, 0]
    b_turned = vb.disk[ib] @ va.disk[ia, 0]
    if max(a_turned.max(), b_turned.max()) > max(a_turned[0], 0.0):
        if a_turned.max() >= b_turned.max():
            add(-_DISK_VIEW_ANGLES[int(np.argmax(a_turned))], False)
        else:
            add(_DISK_VIEW_ANGLES[int(np.argmax(b_turned))], False)
    add(*polar_angle(va.rings[ia], vb.rings[ib]))
    return out


def _angle_gap(x: float, y: float) -> float:
    d = abs(x - y) % 360.0
    return min(d, 360.0 - d)


def polar_angle(a: NDArray[np.complex64], b: NDArray[np.complex64]) -> tuple[float, bool]:
    """The rotation (degrees counter-clockwise, after an optional mirror of B) that best lines up B's
    rings with A's, from their spectra (`Views.rings`), searched over B's ring scales."""
    # Mirroring B left-right maps angle t to pi - t: conjugate spectrum, times a phase for the pi.
    k = np.arange(ANGLES // 2 + 1)
    flip = np.exp(-2j * np.pi * k * (ANGLES // 2) / ANGLES)
    # All scales in one inverse transform each way (plain: complex64, mirrored: complex128 after the
    # phase, as one at a time); the first best in (scale, mirrored) order wins.
    plain = np.fft.irfft((a[0][None] * np.conj(b)).sum(axis=1), n=ANGLES, axis=-1)
    mirror = np.fft.irfft((a[0][None] * np.conj(np.conj(b) * flip)).sum(axis=1), n=ANGLES, axis=-1)
    corr = [row for pair in zip(plain, mirror, strict=True) for row in pair]
    shifts = [int(c.argmax()) for c in corr]
    peaks = np.array([float(c[s]) for c, s in zip(corr, shifts, strict=True)])
    best = int(np.argmax(peaks))
    return shifts[best] * 360.0 / ANGLES, best % 2 == 1
