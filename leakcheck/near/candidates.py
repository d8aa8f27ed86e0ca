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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from leakcheck.near.descriptor import DIHEDRAL, NearDescriptor
from leakcheck.near.verify import Hypothesis
from leakcheck.progress import ProgressStart

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
GRID = 12
RINGS = 6
ANGLES = 48
HARMONICS = 8
# Radial scales at which B's rings are compared with A's (rotations with an expanded canvas shrink it).
_RING_SCALES = (1.0, 0.86, 0.74)
_BLOCK = 512


def _unit(x: F32) -> F32:
    # Contiguous, so that the sums run the same way whatever slice of a batch `x` is.
    x = np.ascontiguousarray(x)
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.maximum(norm, 1e-6), dtype=np.float32)


# The search views' entries are whole multiples of GRAIN, so each product of two entries is a whole
# multiple of GRAIN^2, and any partial sum of a dot product of two such unit vectors is one too, of at
# most (1 + sqrt(d) * GRAIN / 2)^2 / GRAIN^2 < 2^23 of them (Cauchy-Schwarz). float32 holds all of these
# exactly: a similarity does not depend on the order in which BLAS adds its terms, which changes with
# the shapes of the blocks it multiplies. Any subset of images searched against any other therefore
# gives bit for bit the similarities of the whole search (an incremental search relies on it), on any
# machine. The rounding moves a similarity by about 1e-4 at most.
GRAIN = 2.0**-11


def on_grid(x: F32) -> F32:
    """`x` rounded to whole multiples of GRAIN (exact: scaling by a power of two)."""
    return np.asarray(np.round(x * np.float32(1.0 / GRAIN)) * np.float32(GRAIN), dtype=np.float32)


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

# The squares a thumbnail is squashed to (PIL's BOX filter): the grid view's, then each window scale's.
_SIDES: tuple[int, ...] = (GRID, *(max(GRID, round(GRID / scale)) for scale, _ in _WINDOWS))


@dataclass(frozen=True, slots=True)
class _Box:
    """PIL's BOX resize of one axis of `size` samples to each of _SIDES (stacked: T = sum(_SIDES)
    outputs), computed as PIL computes one pass: output t = sum over k of weight[k, t] * input[index[k, t]],
    the terms added up in doubles in order of k (every input sample whose centre falls in the output
    sample's box, weighted 1 / their count; padding taps weigh 0), stored as float32. Squashing runs
    across, then down; PIL sometimes runs the passes the other way round, which moves a value by at most
    one float32 step."""

    index: NDArray[np.intp]
    weight: F64

    def apply(self, x: F64, axis: int) -> F32:
        """`x` resized along `axis` (1 or 2 of a batch), rounded to float32 as PIL's pass stores it."""
        out: F64 = np.take(x, self.index[0], axis=axis)
        shape = [1, 1, 1]
        shape[axis] = -1
        out *= self.weight[0].reshape(shape)
        for k in range(1, len(self.index)):
            out += np.take(x, self.index[k], axis=axis) * self.weight[k].reshape(shape)
        return out.astype(np.float32)


@cache
def _box(size: int) -> _Box:
    """The BOX resize of `size` samples to each of _SIDES; which samples count is asked of PIL itself."""
    counted: list[NDArray[np.intp]] = []
    for side in _SIDES:
        # Resizing only the width of the identity puts, in row j, the weights of input sample j.
        eye = Image.fromarray(np.eye(size, dtype=np.float32), "F")
        support = np.asarray(eye.resize((side, size), Image.Resampling.BOX)).T > 0
        counted += [np.flatnonzero(row) for row in support]
    taps = max(len(c) for c in counted)
    index = np.zeros((taps, len(counted)), dtype=np.intp)
    weight = np.zeros((taps, len(counted)), dtype=np.float64)
    for t, c in enumerate(counted):
        index[: len(c), t] = c
        weight[: len(c), t] = 1.0 / len(c)
    return _Box(index, weight)


@cache
def _square_index() -> NDArray[np.intp]:
    """Where the grid views (in DIHEDRAL order) and then the windows lie in a picture squashed by `_Box`
    across and down, flattened (T x T, T = sum(_SIDES); the squashes to each side are its diagonal
    blocks): (len(DIHEDRAL) + windows, GRID * GRID)."""
    t = sum(_SIDES)
    starts = np.cumsum((0, *_SIDES))

    def block(b: int) -> NDArray[np.intp]:
        r = np.arange(_SIDES[b]) + starts[b]
        return np.asarray(r[:, None] * t + r[None, :], dtype=np.intp)

    g = block(0)
    out = [np.rot90(g[:, ::-1] if m else g, k).reshape(-1) for k, m in DIHEDRAL]
    for b, (_, per_axis) in enumerate(_WINDOWS, start=1):
        big, src = block(b), _SIDES[b]
        for y in np.linspace(0, src - GRID, per_axis).round().astype(int):
            for x in np.linspace(0, src - GRID, per_axis).round().astype(int):
                out.append(big[y : y + GRID, x : x + GRID].reshape(-1))
    return np.stack(out)


@dataclass(frozen=True, slots=True)
class _Taps:
    """Bilinear samples of an h x w picture: sample s is sum_t weight[t, s] * flat[index[t, s]]."""

    index: NDArray[np.intp]
    weight: F64

    def sample(self, columns: F64) -> F32:
        """`columns` (h * w, n): n flattened pictures side by side -> (samples, n), summed in doubles
        (as PIL and the per-image rings did) and then rounded."""
        out: F64 = np.take(columns, self.index[0], axis=0)
        out *= self.weight[0][:, None]
        tap = np.empty_like(out)
        for t in range(1, len(self.index)):
            np.take(columns, self.index[t], axis=0, out=tap)
            tap *= self.weight[t][:, None]
            out += tap
        return out.astype(np.float32)


def _bilinear(ys: NDArray[np.floating], xs: NDArray[np.floating], h: int, w: int) -> _Taps:
    """Taps for clamped bilinear interpolation at (ys, xs), pixel-index coordinates inside the picture."""
    y0 = np.minimum(np.floor(ys).astype(np.intp), max(h - 2, 0))
    x0 = np.minimum(np.floor(xs).astype(np.intp), max(w - 2, 0))
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = ys - y0, xs - x0
    index = np.stack([y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1]).reshape(4, -1)
    weight = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy]).reshape(4, -1)
    return _Taps(index, weight.astype(np.float64))


@cache
def _polar_taps(h: int, w: int, radial_scale: float) -> _Taps:
    """Samples on RINGS circles x ANGLES angles around the centre, inside the inscribed circle."""
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    radius = (min(h, w) - 1) / 2.0 * radial_scale
    r = radius * np.linspace(0.2, 0.95, RINGS, dtype=np.float32)[:, None]
    t = np.linspace(0, 2 * np.pi, ANGLES, endpoint=False, dtype=np.float32)[None, :]
    ys = np.clip(cy - r * np.sin(t), 0, h - 1)
    xs = np.clip(cx + r * np.cos(t), 0, w - 1)
    return _bilinear(ys, xs, h, w)


def polar(pixels: F32, radial_scale: float = 1.0) -> F32:
    """Samples on RINGS circles x ANGLES angles around the centre, inside the inscribed circle, each
    ring less its mean: (RINGS, ANGLES)."""
    h, w = pixels.shape
    column = np.asarray(pixels, dtype=np.float64).reshape(-1, 1)
    rings = _polar_taps(h, w, radial_scale).sample(column).reshape(RINGS, ANGLES)
    return np.asarray(rings - rings.mean(axis=1, keepdims=True), dtype=np.float32)


@cache
def _disk_mask() -> NDArray[np.bool_]:
    c = (DISK - 1) / 2.0
    yy, xx = np.mgrid[0:DISK, 0:DISK]
    return np.asarray((yy - c) ** 2 + (xx - c) ** 2 <= (DISK / 2.0) ** 2)


def _disk_turns(h: int, w: int) -> list[tuple[float, float]]:
    """(angle, zoom) of each disk view of an h x w picture, in _DISK_VIEW_ANGLES order."""
    out = [(0.0, 1.0)]
    for angle in _DISK_ANGLES:
        rad = np.radians(angle)
        # Turning with an expanded canvas: the canvas grows to hold the turned image, so its central
        # disk spans this much more of the picture (zoom); 1 / zoom is the way back, from an expanded
        # canvas to its source's upright disk.
        c, s = abs(float(np.cos(rad))), abs(float(np.sin(rad)))
        zoom = min(w * c + h * s, w * s + h * c) / min(w, h)
        out += [(angle, 1.0), (angle, zoom), (angle, 1.0 / zoom)]
    return out


@cache
def _disk_taps(h: int, w: int) -> _Taps:
    """The central disk of an h x w picture turned by each angle of `_disk_turns`, seeing `zoom` times
    as far out, sampled as PIL's AFFINE transform with BILINEAR resampling does: output pixel (x, y)
    reads the input at centre + R * (x + 1/2 - DISK/2, y + 1/2 - DISK/2) with pixel centres at i + 1/2
    and edges clamped; a sample outside the picture is 0."""
    # PIL's own arithmetic (the coefficients, then a0 * x + a1 * y + a2 in doubles), so that samples
    # that fall exactly on the picture's edge land on the same side of it.
    gy, gx = np.mgrid[0:DISK, 0:DISK].astype(np.float64) + 0.5
    ys, xs = [], []
    for angle, zoom in _disk_turns(h, w):
        side = min(h, w) * zoom
        rad = np.radians(angle)
        c, s = np.cos(rad) * side / DISK, np.sin(rad) * side / DISK
        o = -DISK / 2.0
        xs.append(c * gx + -s * gy + (w / 2.0 + c * o - s * o))
        ys.append(s * gx + c * gy + (h / 2.0 + s * o + c * o))
    xin, yin = np.stack(xs), np.stack(ys)
    inside = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    fx, fy = xin - 0.5, yin - 0.5
    x, y = np.floor(fx), np.floor(fy)
    dx, dy = fx - x, fy - y
    x0, x1 = np.clip(x, 0, w - 1).astype(np.intp), np.clip(x + 1, 0, w - 1).astype(np.intp)
    y0, y1 = np.clip(y, 0, h - 1).astype(np.intp), np.clip(y + 1, 0, h - 1).astype(np.intp)
    index = np.stack([y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1]).reshape(4, -1)
    weight = np.stack([(1 - dx) * (1 - dy), dx * (1 - dy), (1 - dx) * dy, dx * dy]) * inside
    return _Taps(index, weight.reshape(4, -1))


@cache
def _shape_taps(h: int, w: int) -> _Taps:
    """Every disk view, then the polar rings at each of _RING_SCALES, of an h x w picture."""
    parts = [_disk_taps(h, w), *(_polar_taps(h, w, scale) for scale in _RING_SCALES)]
    return _Taps(np.concatenate([p.index for p in parts], axis=1), np.concatenate([p.weight for p in parts], axis=1))


# Images whose views are computed together (all of one thumbnail shape, so that they share every
# sampling position and squash matrix).
_CHUNK = 64


def views(descriptors: Sequence[NearDescriptor]) -> Views:
    """The views of every image, a chunk of same-shape thumbnails at a time: the squashes, turned disks and
    polar rings are weighted gathers from positions worked out once per thumbnail shape. The values are
    those of PIL's BOX resize and AFFINE/BILINEAR transform of one image at a time (bit for bit but for
    rare one-step differences in the squashes)."""
    n = len(descriptors)
    n_grid = len(DIHEDRAL)
    n_windows = sum(p * p for _, p in _WINDOWS)
    n_disks = len(_DISK_VIEW_ANGLES)
    grid = np.zeros((n, n_grid, GRID * GRID), dtype=np.float32)
    window = np.zeros((n, n_windows, GRID * GRID), dtype=np.float32)
    disk = np.zeros((n, n_disks, DISK * DISK), dtype=np.float32)
    pol = np.zeros((n, 1, RINGS * HARMONICS), dtype=np.float32)
    rings = np.zeros((n, len(_RING_SCALES), RINGS, ANGLES // 2 + 1), dtype=np.complex64)
    shapes: dict[tuple[int, int], list[int]] = {}
    for i, d in enumerate(descriptors):
        shapes.setdefault((d.height, d.width), []).append(i)
    mask = _disk_mask().reshape(-1)
    squares = _square_index()
    for (h, w), members in shapes.items():
        rows, cols = _box(h), _box(w)
        t = sum(_SIDES)
        taps = _shape_taps(h, w)
        for start in range(0, len(members), _CHUNK):
            ids = np.asarray(members[start : start + _CHUNK], dtype=np.intp)
            m = len(ids)
            raw = np.frombuffer(b"".join(descriptors[i].thumb for i in ids), dtype=np.uint8)
            px = raw.reshape(m, h, w).astype(np.float64)
            # Every squash of every image at once: across, then down (the squashes are the diagonal blocks).
            across = cols.apply(px, axis=2).astype(np.float64)
            squashed = rows.apply(across, axis=1).reshape(m, t * t)
            picked = squashed[:, squares]  # (m, views, GRID * GRID)
            grid[ids] = on_grid(_unit(picked[:, :n_grid]))
            window[ids] = on_grid(_unit(picked[:, n_grid:]))
            samples = np.ascontiguousarray(taps.sample(np.ascontiguousarray(px.reshape(m, h * w).T)).T)
            turned = samples[:, : n_disks * DISK * DISK].reshape(m, n_disks, DISK * DISK)
            # The mean over the disk of each turned view fills its corners (summed as one contiguous row).
            inner = np.ascontiguousarray(turned[:, :, mask])
            disk[ids] = on_grid(_unit(np.where(mask, turned, inner.mean(axis=2, keepdims=True))))
            circles = samples[:, n_disks * DISK * DISK :].reshape(m, len(_RING_SCALES), RINGS, ANGLES)
            spectra = np.fft.rfft(circles - circles.mean(axis=3, keepdims=True), axis=3).astype(np.complex64)
            rings[ids] = spectra
            pol[ids, 0] = on_grid(_unit(np.abs(spectra[:, 0, :, 1 : HARMONICS + 1]).reshape(m, -1)))
    return Views(grid, window, disk, pol, rings)


def top_k(
    queries: F32,
    database: F32,
    k: int,
    *,
    block: int = _BLOCK,
    advance: Callable[[int], None] | None = None,
    query_ids: NDArray[np.intp] | None = None,
    database_ids: NDArray[np.intp] | None = None,
) -> tuple[NDArray[np.intp], F32]:
    """For each query image i, the k database images j != i of highest similarity max over views
    (queries[i] . database[j]).

    queries: (n, Vq, d) and database: (n, Vd, d), one row per image. `query_ids` and `database_ids`
    (ascending) pick the images searched and searched among (default: all); every query is among the
    database's images, or none is. Returns image ids, best first, ties broken toward the smaller id.
    Exact; blocked so that memory stays bounded by block x block x Vq x Vd floats (the queries are
    gathered a block at a time, the database once). `advance(m)` is told as each block of m queries
    is done.
    """
    # (Ascending distinct ids as many as the rows are every row: nothing to gather.)
    every_query = query_ids is None or len(query_ids) == queries.shape[0]
    qids = np.arange(queries.shape[0], dtype=np.intp) if query_ids is None else query_ids
    dids = np.arange(database.shape[0], dtype=np.intp) if database_ids is None else database_ids
    if len(dids) < database.shape[0]:
        database = database[dids]
    nq_all, nd_all = len(qids), len(dids)
    among = nq_all > 0 and nd_all > 0 and bool(np.isin(qids[:1], dids)[0])
    k = min(k, nd_all - int(among))
    if k <= 0:
        if advance is not None:
            advance(nq_all)
        return np.zeros((nq_all, 0), dtype=np.intp), np.zeros((nq_all, 0), dtype=np.float32)
    best_idx = np.zeros((nq_all, k), dtype=np.intp)
    best_sim = np.full((nq_all, k), -np.inf, dtype=np.float32)
    vq, vd, dim = queries.shape[1], database.shape[1], queries.shape[2]
    for qs in range(0, nq_all, block):
        nq = min(block, nq_all - qs)
        rows = qids[qs : qs + nq]
        mine = queries[qs : qs + nq] if every_query else queries[rows]
        # View-major blocks, so that the maxima over views are elementwise maxima of whole slabs.
        q = np.ascontiguousarray(mine.transpose(1, 0, 2)).reshape(-1, dim)
        for ds in range(0, nd_all, block):
            nd = min(block, nd_all - ds)
            d = np.ascontiguousarray(database[ds : ds + block].transpose(1, 0, 2)).reshape(-1, dim)
            sims = (q @ d.T).reshape(vq, nq, vd, nd).max(axis=0).max(axis=1)
            ids = dids[ds : ds + nd]
            if among:
                # An image is not its own neighbour.
                at = np.minimum(np.searchsorted(ids, rows), nd - 1)
                own = ids[at] == rows
                sims[own.nonzero()[0], at[own]] = -np.inf
            idx = np.concatenate([best_idx[qs : qs + nq], np.broadcast_to(ids, (nq, nd))], axis=1)
            sim = np.concatenate([best_sim[qs : qs + nq], sims], axis=1)
            best_idx[qs : qs + nq], best_sim[qs : qs + nq] = _best(idx, sim, k)
        if advance is not None:
            advance(nq)
    return best_idx, best_sim


def _best(idx: NDArray[np.intp], sim: F32, k: int) -> tuple[NDArray[np.intp], F32]:
    """Each row's k entries of highest `sim`, the smaller `idx` first among equals, in that order.

    A partial partition finds each row's k-th highest value; the entries at or above it are the answer
    unless some tie with it, in which case that row is sorted in full (rare: equal views)."""
    if sim.shape[1] <= k:
        order = np.lexsort((idx, -sim), axis=1)
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(sim, order, axis=1)
    part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(sim, part, axis=1).min(axis=1)
    tied = (sim >= kth[:, None]).sum(axis=1) > k
    top_idx = np.take_along_axis(idx, part, axis=1)
    top_sim = np.take_along_axis(sim, part, axis=1)
    if tied.any():
        whole = np.lexsort((idx[tied], -sim[tied]), axis=1)[:, :k]
        top_idx[tied] = np.take_along_axis(idx[tied], whole, axis=1)
        top_sim[tied] = np.take_along_axis(sim[tied], whole, axis=1)
    order = np.lexsort((top_idx, -top_sim), axis=1)
    return np.take_along_axis(top_idx, order, axis=1), np.take_along_axis(top_sim, order, axis=1)


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


def _roots(n: int, idx: NDArray[np.intp], sim: F32) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Each image's cluster root (`_clusters` of the whole-image search) and the roots, ascending: the
    images the crop, disk and polar searches run on."""
    root = np.asarray(_clusters(n, idx, sim), dtype=np.intp)
    return root, np.unique(root)


# The searches `candidate_pairs` runs: whole images, then crops, turned disks and polar profiles.
_SEARCHES = 4


def candidate_pairs(v: Views, k: int, floor: float, progress: ProgressStart | None = None) -> set[tuple[int, int]]:
    """Pairs (i < j) that some view puts among either image's k nearest, with similarity >= floor
    (the polar view, whose spectra are alike for most photos, must clear the midpoint to 1 as well).
    `progress`: see `search`."""
    return pairs_of(search(v, k, progress=progress), floor)


@dataclass(frozen=True, slots=True)
class Neighbours:
    """What the four searches found: for every image of each search (all images for the whole-image
    search; the clusters' representatives `reps` for crops, turned disks and polar profiles), its k
    nearest (image positions, best first) and their similarities. `keys` name the images across scans
    (empty: not kept), so that a later search can reuse what still holds."""

    k: int
    keys: tuple[bytes, ...]
    idx: tuple[NDArray[np.intp], ...]
    sim: tuple[F32, ...]
    root: NDArray[np.intp]
    reps: NDArray[np.intp]


def search(
    v: Views,
    k: int,
    *,
    keys: Sequence[bytes] = (),
    earlier: Neighbours | None = None,
    progress: ProgressStart | None = None,
) -> Neighbours:
    """The four searches over the images of `v`, each image's k nearest by each view.

    With `keys` (one per image, distinct) and the `earlier` search of a set of images that shares some
    of them, in the same relative order, an image whose earlier neighbours are all still searched keeps
    them, merged with its nearest among the images new to that search; only the others are searched in
    full. The result is the same as without `earlier`, bit for bit: similarities are exact (`GRAIN`)
    and ties break by position, which the shared images keep relative to each other.

    `progress(4 * n)`, if given, is called as the search starts and returns a callback told how many
    more of the four searches' queries are done (images that a cluster's first image stands for count
    as done once the clusters are known)."""
    n = v.grid.shape[0]
    advance = progress(_SEARCHES * n) if progress is not None else None
    moved = _moved(earlier, keys, k, n)
    everyone = np.arange(n, dtype=np.intp)
    # Whole image, one orientation of the query against all eight of the others.
    found = [_search_among(v.grid[:, :1], v.grid, k, everyone, _reusable(earlier, moved, 0), advance)]
    root, reps = _roots(n, *found[0])
    if advance is not None:
        advance((_SEARCHES - 1) * (n - len(reps)))
    searches = (
        (v.grid[:, :1], v.window),  # a crop against windows of its source
        (v.disk, v.disk[:, :1]),  # turned central disks against upright ones
        (v.polar, v.polar),
    )
    for s, (queries, database) in enumerate(searches, start=1):
        found.append(_search_among(queries, database, k, reps, _reusable(earlier, moved, s), advance))
    return Neighbours(k, tuple(keys), tuple(i for i, _ in found), tuple(x for _, x in found), root, reps)


def pairs_of(found: Neighbours, floor: float) -> set[tuple[int, int]]:
    """The candidate pairs (i < j) of a search: neighbours at `floor` or more (the polar view: at the
    midpoint between `floor` and 1), each cluster's members with its first image, and the members of a
    small cluster with whatever the crop, disk or polar search puts beside one of them."""
    pairs: set[tuple[int, int]] = set()

    def above(s: int, bar: float, ids: NDArray[np.intp]) -> list[tuple[int, int]]:
        out = []
        for i, row, sims in zip(ids.tolist(), found.idx[s].tolist(), found.sim[s].tolist(), strict=True):
            out += [(i, j) for j, x in zip(row, sims, strict=True) if x >= bar]
        return out

    n = len(found.root)
    pairs.update((min(i, j), max(i, j)) for i, j in above(0, floor, np.arange(n, dtype=np.intp)))
    members: dict[int, list[int]] = {}
    for i, r in enumerate(found.root.tolist()):
        members.setdefault(r, []).append(i)
    for r, group in members.items():
        pairs.update((r, m) for m in group if m != r)
    for s, bar in ((1, floor), (2, floor), (3, (1.0 + floor) / 2.0)):
        for a, b in above(s, bar, found.reps):
            pairs.add((min(a, b), max(a, b)))
            # Two heavy edits of one photo often cluster together, away from their source: let the
            # members of a small cluster meet the other side too (a large one is the source's own).
            for x, y in ((a, b), (b, a)):
                if len(members[y]) <= _SMALL_CLUSTER:
                    pairs.update((min(x, m), max(x, m)) for m in members[y] if m != x)
    return pairs


# Stored searches: a header line of JSON, then the keys and each search's neighbour positions (int32)
# and similarities (float32), little-endian.
_KEY_BYTES = 20


def encode_neighbours(found: Neighbours) -> bytes:
    """`found` as bytes for `decode_neighbours` (its keys must be set, each `_KEY_BYTES` long)."""
    if any(len(key) != _KEY_BYTES for key in found.keys) or len(found.keys) != len(found.root):
        raise ValueError(f"a stored search names every image by a key of {_KEY_BYTES} bytes")
    widths = [int(i.shape[1]) for i in found.idx]
    head = json.dumps({"n": len(found.root), "k": found.k, "widths": widths, "reps": len(found.reps)})
    parts = [head.encode(), b"\n", b"".join(found.keys)]
    for idx, sim in zip(found.idx, found.sim, strict=True):
        parts += [idx.astype("<i4").tobytes(), sim.astype("<f4").tobytes()]
    return b"".join(parts)


def decode_neighbours(payload: bytes) -> Neighbours | None:
    """A stored search, or None unless it is whole and consistent (sizes, positions in range, finite
    similarities, and representatives that its own whole-image search gives)."""
    head_bytes, _, body = payload.partition(b"\n")
    try:
        head = json.loads(head_bytes)
        n, k, widths, n_reps = int(head["n"]), int(head["k"]), [int(w) for w in head["widths"]], int(head["reps"])
    except (ValueError, KeyError, TypeError):
        return None
    if n < 0 or k < 0 or len(widths) != _SEARCHES or not all(0 <= w <= k for w in widths) or not 0 <= n_reps <= n:
        return None
    rows = [n, n_reps, n_reps, n_reps]
    if len(body) != n * _KEY_BYTES + sum(8 * r * w for r, w in zip(rows, widths, strict=True)):
        return None
    keys = tuple(body[i * _KEY_BYTES : (i + 1) * _KEY_BYTES] for i in range(n))
    at = n * _KEY_BYTES
    idx, sim = [], []
    for r, w in zip(rows, widths, strict=True):
        idx.append(np.frombuffer(body, "<i4", r * w, at).reshape(r, w).astype(np.intp))
        at += 4 * r * w
        sim.append(np.frombuffer(body, "<f4", r * w, at).reshape(r, w).astype(np.float32))
        at += 4 * r * w
    if any(((i < 0) | (i >= n)).any() for i in idx) or not all(np.isfinite(x).all() for x in sim):
        return None
    root, reps = _roots(n, idx[0], sim[0])
    if len(reps) != n_reps:
        return None
    return Neighbours(k, keys, tuple(idx), tuple(sim), root, reps)


def _moved(earlier: Neighbours | None, keys: Sequence[bytes], k: int, n: int) -> NDArray[np.intp] | None:
    """Where each image of `earlier` is now (-1: gone), or None when nothing of it can be reused (no
    keys, another k, repeated keys, or shared images in another relative order)."""
    if earlier is None or len(keys) != n or earlier.k != k or not earlier.keys:
        return None
    now = {key: p for p, key in enumerate(keys)}
    if len(now) != n:
        return None
    moved = np.array([now.get(key, -1) for key in earlier.keys], dtype=np.intp)
    kept = moved[moved >= 0]
    if (np.diff(kept) <= 0).any():
        return None
    return moved


@dataclass(frozen=True, slots=True)
class _Reusable:
    """An earlier search's lists of the images still here: `rows` (their positions now, ascending) and
    their neighbours' positions now (-1: gone) and similarities."""

    rows: NDArray[np.intp]
    idx: NDArray[np.intp]
    sim: F32


def _reusable(earlier: Neighbours | None, moved: NDArray[np.intp] | None, s: int) -> _Reusable | None:
    if earlier is None or moved is None:
        return None
    rows = moved if s == 0 else moved[earlier.reps]
    here = rows >= 0
    return _Reusable(rows[here], moved[earlier.idx[s][here]], earlier.sim[s][here])


def _search_among(
    queries: F32,
    database: F32,
    k: int,
    rows: NDArray[np.intp],
    reusable: _Reusable | None,
    advance: Callable[[int], None] | None,
) -> tuple[NDArray[np.intp], F32]:
    """`top_k` among the images `rows` (ascending positions; `queries` and `database` hold every image's
    views), with the neighbour lists of `reusable` that still hold merged with the images new to this
    search instead of searched again."""
    n = len(rows)
    if reusable is None or n == 0:
        return top_k(queries, database, k, advance=advance, query_ids=rows, database_ids=rows)
    width = min(k, n - 1)
    end = int(rows[-1]) + 1
    here = np.zeros(end + 1, dtype=bool)  # (index -1, a neighbour gone, lands on the False at the end)
    here[rows] = True
    was = np.zeros(end, dtype=bool)
    was[reusable.rows[reusable.rows < end]] = True
    added = rows[~was[rows]]
    # A list still holds if the image is still in this search and every neighbour in it still is.
    holds = (
        here[np.minimum(reusable.rows, end)]
        & here[np.minimum(reusable.idx, end)].all(axis=1)
        & (min(k, reusable.idx.shape[1] + len(added)) == width)
    )
    kept, kept_idx, kept_sim = reusable.rows[holds], reusable.idx[holds], reusable.sim[holds]
    fresh = np.setdiff1d(rows, kept, assume_unique=True)
    if len(fresh) == n:
        return top_k(queries, database, k, advance=advance, query_ids=rows, database_ids=rows)
    at = np.zeros(end, dtype=np.intp)
    at[rows] = np.arange(n)
    idx = np.zeros((n, width), dtype=np.intp)
    sim = np.zeros((n, width), dtype=np.float32)
    if len(fresh):
        f = at[fresh]
        idx[f], sim[f] = top_k(queries, database, k, advance=advance, query_ids=fresh, database_ids=rows)
    if len(added):
        new_idx, new_sim = top_k(queries, database, k, advance=advance, query_ids=kept, database_ids=added)
        joined = np.concatenate([kept_idx, new_idx], axis=1), np.concatenate([kept_sim, new_sim], axis=1)
        kept_idx, kept_sim = _best(*joined, k)
    elif advance is not None:
        advance(len(kept))
    idx[at[kept]], sim[at[kept]] = kept_idx, kept_sim
    return idx, sim


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
