"""Verification: does image B show the same picture as image A once aligned?

B's thumbnail is warped into A's frame under a few hypotheses (upright, the quarter turn or mirror and
the free angles the candidate stage suggests, each at a grid of scales); for each, the cross-correlation
over every shift is computed at once with FFTs (half resolution), and the normalised cross-correlation
(NCC) on the overlap is measured at its highest peaks. The best few alignments are then refined at full
thumbnail resolution, where two similarities are measured on the overlap: of the pixels (brightness and
contrast normalised away) and of their fine structure (edges; what tells one plate of pasta from
another). A logistic function of those and of the overlap gives a score in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from leakcheck.near.descriptor import NearDescriptor, smooth

F32 = NDArray[np.float32]

# Relative scales of B in A's frame searched at the coarse level (crops of 30% to pads/expansions of 1.4).
SCALES: tuple[float, ...] = (0.66, 0.74, 0.83, 0.92, 1.0, 1.1, 1.22)
# A free rotation shrinks the picture when the canvas grows to hold it (by up to 1.41 at 45 degrees).
ROTATED_SCALES: tuple[float, ...] = (0.83, 0.92, 1.0, 1.12, 1.25, 1.38)
# Below this coarse similarity no refinement can reach a reportable score: stop early.
COARSE_FLOOR = 0.5
# An alignment must overlap at least this fraction of the smaller of the two images.
MIN_OVERLAP = 0.42
_COARSE_CANVAS = 24
# The best coarse alignments refined per pair: at most this many, each within _REFINE_GAP of the best
# (a clear winner is refined alone; close alternatives, common for rotations, both).
_REFINE_KEEP = 2
_REFINE_GAP = 0.05
# An alignment scoring below this after the whole-pixel stage skips the scale and angle stage (most
# pairs of different pictures); it still gets the half-pixel stage, where some textures first line up.
_STAGE1_FLOOR = 0.001
# Logistic calibration of the score from (pixel NCC, edge NCC, overlap, free rotation 0/1); fitted by
# `benchmarks/near_quality.py --calibrate` on the calibration half of the benchmark images only.
CALIBRATION: tuple[float, float, float, float, float] = (20.378, 8.295, 5.781, -0.189, -27.388)


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A candidate orientation of B relative to A: degrees counter-clockwise, after an optional mirror."""

    angle: float
    mirrored: bool


@dataclass(frozen=True, slots=True)
class Alignment:
    """How B maps onto A: B mirrored (optionally), turned by `angle` degrees, scaled by `scale`, and its
    centre shifted by (`dx`, `dy`) fractions of A's size; `overlap` is the shared fraction of the smaller;
    `squashed`: B was first stretched to A's aspect ratio."""

    angle: float
    mirrored: bool
    scale: float
    dx: float
    dy: float
    overlap: float
    # B was first stretched to A's aspect ratio (a copy resized to a fixed shape).
    squashed: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    pixel_similarity: float
    edge_similarity: float
    alignment: Alignment


def _centre(h: int, w: int) -> tuple[float, float]:
    return (h - 1) / 2.0, (w - 1) / 2.0


@dataclass(frozen=True, slots=True)
class _Planes:
    """The images of a batch zero-padded to one shape: `flat` (n, H * W, planes) and each one's (h, w)."""

    flat: F32
    dims: NDArray[np.intp]
    side: int  # W, the padded row length

    @staticmethod
    def of(images: Sequence[F32]) -> _Planes:
        stacks = [x if x.ndim == 3 else x[None] for x in images]
        dims = np.array([x.shape[1:] for x in stacks], dtype=np.intp)
        hm, wm = int(dims[:, 0].max()), int(dims[:, 1].max())
        out = np.zeros((len(stacks), hm, wm, stacks[0].shape[0]), dtype=np.float32)
        for n, x in enumerate(stacks):
            out[n, : x.shape[1], : x.shape[2]] = np.moveaxis(x, 0, -1)
        return _Planes(out.reshape(len(stacks), hm * wm, stacks[0].shape[0]), dims, wm)

    def centres(self, owner: NDArray[np.intp]) -> tuple[F32, F32]:
        d = self.dims[owner].astype(np.float32)
        return np.asarray((d[:, 0] - 1) / 2.0, dtype=np.float32), np.asarray((d[:, 1] - 1) / 2.0, dtype=np.float32)


def _sample(img: _Planes, owner: NDArray[np.intp], ys: F32, xs: F32) -> tuple[list[F32], NDArray[np.bool_]]:
    """Bilinear samples of each plane of image `owner[k]` at (ys[k], xs[k]) for every row k;
    points more than half a pixel outside are invalid."""
    shape_k = (-1,) + (1,) * (ys.ndim - 1)
    hw = img.dims[owner]
    hf, wf = hw[:, 0].reshape(shape_k).astype(np.float32), hw[:, 1].reshape(shape_k).astype(np.float32)
    valid = (ys >= -0.5) & (ys <= hf - 0.5) & (xs >= -0.5) & (xs <= wf - 0.5)
    return _values(img, owner, ys, xs), valid


def _inner(img: _Planes, owner: NDArray[np.intp], ys: F32, xs: F32) -> NDArray[np.bool_]:
    """Points at least a pixel inside B's border (edge responses there are artefacts of the thumbnail's
    edge); a subset of `_sample`'s valid points."""
    hw = img.dims[owner]
    hbf, wbf = hw[:, 0].astype(np.float32)[:, None, None], hw[:, 1].astype(np.float32)[:, None, None]
    return (ys >= 0.5) & (ys <= hbf - 1.5) & (xs >= 0.5) & (xs <= wbf - 1.5)


def _values(img: _Planes, owner: NDArray[np.intp], ys: F32, xs: F32) -> list[F32]:
    """Bilinear samples of each plane of image `owner[k]` at (ys[k], xs[k]) for every row k."""
    shape_k = (-1,) + (1,) * (ys.ndim - 1)
    hw = img.dims[owner]
    h, w = hw[:, 0].reshape(shape_k), hw[:, 1].reshape(shape_k)
    # (The same float32 limits as a single image's `h - 1.001`.)
    y = np.clip(ys, 0, (h - 1.001).astype(np.float32))
    x = np.clip(xs, 0, (w - 1.001).astype(np.float32))
    y0 = y.astype(np.intp)
    x0 = x.astype(np.intp)
    # (Exact in float32: 0 <= y - y0 < 1 with y0 = floor(y); the same values as in float64.)
    fy = y - y0.astype(np.float32)
    fx = x - x0.astype(np.float32)
    per_image = img.flat.shape[1]
    i00 = (owner.reshape(shape_k) * per_image + y0 * img.side) + x0
    # Every plane's value of each corner in one gather (planes are interleaved).
    src = img.flat.reshape(-1, img.flat.shape[2])
    if (hw > 1).all():
        # (The other corners of an image at least 2 x 2: the next sample along and the next row's two.)
        corners = [src[at:].take(i00, axis=0) for at in (0, 1, img.side, img.side + 1)]
    else:
        step_x = (w > 1).astype(np.intp)
        i10 = i00 + np.where(h > 1, img.side, 0)
        corners = [src.take(i, axis=0) for i in (i00, i00 + step_x, i10, i10 + step_x)]
    gy, gx = 1 - fy, 1 - fx
    vals = corners[0]
    vals *= (gy * gx)[..., None]
    for corner, weight in zip(corners[1:], (gy * fx, fy * gx, fy * fx), strict=True):
        corner *= weight[..., None]
        vals += corner
    return [vals[..., c] for c in range(vals.shape[-1])]


def _half(img: F32) -> F32:
    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    if h < 2 or w < 2:
        return img
    v = img[:h, :w]
    return np.asarray((v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2]) / 4, dtype=np.float32)


def _warp_stack(b: _Planes, owner: NDArray[np.intp], params: F32, side: int) -> tuple[F32, F32]:
    """Image `owner[k]` warped onto a `side` x `side` canvas (centre to centre) under each row
    (rad, mirrored, scale) of `params`."""
    grid = np.arange(side, dtype=np.float32) - (side - 1) / 2.0
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    cy, cx = b.centres(owner)
    qy, qx = _map_points(cy, cx, params[:, 0], params[:, 1] > 0, params[:, 2], ys[None], xs[None])
    (vals,), valid = _sample(b, owner, qy, qx)
    mask = valid.astype(np.float32)
    return np.asarray(vals * mask, dtype=np.float32), mask


def _map_points(
    cy: F32, cx: F32, rad: F32, mirrored: NDArray[np.bool_], scale: F32, ys: F32, xs: F32
) -> tuple[F32, F32]:
    """B coordinates of offsets (ys, xs) from the aligned centre, for K alignments at once (K, ...),
    B's centre of alignment k being (cy[k], cx[k])."""
    shape_k = (-1,) + (1,) * (ys.ndim - 1)
    c = (np.cos(rad) / scale).reshape(shape_k)
    s = (np.sin(rad) / scale).reshape(shape_k)
    qx = c * xs - s * ys
    qy = s * xs + c * ys
    qx = np.where(mirrored.reshape(shape_k), -qx, qx) + cx.reshape(shape_k)
    return np.asarray(qy + cy.reshape(shape_k), dtype=np.float32), np.asarray(qx, dtype=np.float32)


# Shifts per alignment at which the coarse search measures the masked NCC: the highest peaks of the
# plain cross-correlation.
_PEAKS = 5


def _coarse_peaks(
    a: F32, owner: NDArray[np.intp], w: F32, m: F32, min_overlap: float, warp_of: NDArray[np.intp] | None = None
) -> tuple[F32, NDArray[np.intp]]:
    """For each alignment k, of a warped image W = w[warp_of[k]] (zero off its mask M = m[warp_of[k]];
    `warp_of` defaults to k, one warp per alignment) and A = a[owner[k]], the best shift d and its NCC of
    A(p) with W(p - d) over their overlap (-1 if it overlaps too little or is flat). Alignments that share
    a warp (pairs with the same B under the same hypothesis) share its transform.

    Every shift's cross-correlation of the two centred images costs one transform each way; the NCC,
    which a partial overlap needs, is then measured directly at the `_PEAKS` highest of them only.
    Returns (ncc, shift index into the (ha + side, wa + side) grid, negative shifts wrapped round).
    """
    # Imported here: a scan that verifies nothing (the hash method) need not pay for scipy.
    import scipy.fft

    if warp_of is None:
        warp_of = np.arange(len(owner), dtype=np.intp)
    ha, wa = a.shape[1:]
    side = w.shape[1]
    size = (ha + side, wa + side)
    ac = a - a.mean(axis=(1, 2), keepdims=True)
    area_w = m.reshape(m.shape[0], -1).sum(axis=1)
    wc = (w - (w.reshape(w.shape[0], -1).sum(axis=1) / np.maximum(area_w, 1.0))[:, None, None]) * m
    fa = scipy.fft.rfft2(ac, s=size)
    fw = scipy.fft.rfft2(wc, s=size)
    np.conj(fw, out=fw)
    product = fw[warp_of]
    product *= fa[owner]
    corr = scipy.fft.irfft2(product, s=size, overwrite_x=True).reshape(len(owner), -1)
    top = np.argpartition(-corr, _PEAKS - 1, axis=1)[:, :_PEAKS]
    iy, ix = np.divmod(top, size[1])
    dy = np.where(iy >= ha, iy - size[0], iy)
    dx = np.where(ix >= wa, ix - size[1], ix)
    # A(p) against W(p - d) at every p of A's grid, for each (alignment, peak): W's flat positions.
    qy = np.arange(ha)[None, None, :, None] - dy[:, :, None, None]
    qx = np.arange(wa)[None, None, None, :] - dx[:, :, None, None]
    inside = (qy >= 0) & (qy < side) & (qx >= 0) & (qx < side)
    flat_q = np.clip(qy, 0, side - 1) * side + np.clip(qx, 0, side - 1) + (warp_of * side * side)[:, None, None, None]
    k = len(owner)
    # (W is already zero off its mask.)
    mv = (m.reshape(-1).take(flat_q) * inside).reshape(k, _PEAKS, -1)
    wv = w.reshape(-1).take(flat_q).reshape(k, _PEAKS, -1) * mv
    av = a.reshape(a.shape[0], 1, -1)[owner] * mv
    n = mv.sum(axis=2)
    nn = np.maximum(n, 1.0)
    sa, sb = av.sum(axis=2), wv.sum(axis=2)
    cov = (av * wv).sum(axis=2) - sa * sb / nn
    va = (av * av).sum(axis=2) - sa * sa / nn
    vb = (wv * wv).sum(axis=2) - sb * sb / nn
    ncc = cov / np.sqrt(np.maximum(va * vb, 1e-6))
    enough = (n >= min_overlap * np.minimum(ha * wa, area_w[warp_of])[:, None]) & (va > 1e-3 * nn) & (vb > 1e-3 * nn)
    ncc = np.where(enough, ncc, -1.0)
    pick = ncc.argmax(axis=1)
    sel = np.arange(k)
    return ncc[sel, pick].astype(np.float32), top[sel, pick]


def _edges(img: F32) -> F32:
    return np.asarray(img - smooth(img), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Per-image arrays the verifier reuses across all of that image's candidate pairs."""

    pixels: F32
    edges: F32
    coarse: F32
    stacked: F32


def prepare(d: NearDescriptor, detail_side: int | None = None) -> Prepared:
    """The verifier's arrays for one image; `detail_side` (pixels) first blurs the thumbnail to the
    detail an image that small can hold, so that a tiny copy is compared with its source on equal terms."""
    px = d.pixels()
    if detail_side is not None and detail_side < max(px.shape):
        f = detail_side / max(px.shape)
        small = (max(1, round(px.shape[1] * f)), max(1, round(px.shape[0] * f)))
        img = Image.fromarray(px, "F").resize(small, Image.Resampling.BOX)
        px = np.asarray(img.resize((px.shape[1], px.shape[0]), Image.Resampling.BICUBIC), dtype=np.float32)
    edges = _edges(px)
    return Prepared(px, edges, _half(px), np.ascontiguousarray(np.stack([px, edges])))


def _masked_stats(x: F32, y: F32, w: F32) -> F32:
    """Weighted NCC of x and y along the last axis (weights w in {0, 1})."""
    n = np.maximum(w.sum(axis=-1), 1.0)
    mx = (x * w).sum(axis=-1) / n
    my = (y * w).sum(axis=-1) / n
    dx = (x - mx[..., None]) * w
    dy = (y - my[..., None]) * w
    num = (dx * dy).sum(axis=-1)
    den = np.sqrt((dx * dx).sum(axis=-1) * (dy * dy).sum(axis=-1))
    return np.asarray(np.where(den > 1e-6, num / np.maximum(den, 1e-6), 0.0), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class _Batch:
    """The arrays of a batch of pairs whose A images share one shape: A's pixels and edges (n, h * w),
    A's half-resolution images (n, h/2, w/2), and B's padded full and half-resolution images."""

    a_shape: tuple[int, int]
    a_pixels: F32
    a_edges: F32
    a_coarse: F32
    b_stacked: _Planes
    b_coarse: _Planes

    @staticmethod
    def of(pairs: Sequence[tuple[Prepared, Prepared]]) -> _Batch:
        a_shape = pairs[0][0].pixels.shape
        if any(a.pixels.shape != a_shape for a, _ in pairs):
            raise ValueError("a batch's A images must share one shape")
        return _Batch(
            (int(a_shape[0]), int(a_shape[1])),
            np.stack([a.pixels.reshape(-1) for a, _ in pairs]),
            np.stack([a.edges.reshape(-1) for a, _ in pairs]),
            np.stack([a.coarse for a, _ in pairs]),
            _Planes.of([b.stacked for _, b in pairs]),
            _Planes.of([b.coarse for _, b in pairs]),
        )


# Alignments measured per call of `_measure_rows` (bounds the memory of its temporaries).
_MEASURE_ROWS = 256

Measured = tuple[F32, F32, F32]


def _in_parts(measure: Callable[[slice], Measured], n: int, per_call: int) -> Measured:
    """`measure` of rows [0, n), called on slices of at most `per_call` rows, the results joined."""
    parts = [measure(slice(s, s + per_call)) for s in range(0, n, per_call)]
    if len(parts) == 1:
        return parts[0]
    pixel, edge, overlap = (np.concatenate([p[n] for p in parts]) for n in range(3))
    return pixel, edge, overlap


def _inner_area(b: _Planes, owner: NDArray[np.intp]) -> F32:
    """The area of each image `owner[k]` a pixel inside its border (where `_inner` holds)."""
    hw = b.dims[owner]
    return (np.maximum(hw[:, 0] - 2, 1) * np.maximum(hw[:, 1] - 2, 1)).astype(np.float32)


def _similarities(batch: _Batch, rows: NDArray[np.intp], vals: F32, evals: F32, w: F32, area_b: F32) -> Measured:
    """(pixel NCC, edge NCC, overlap) of B's samples `vals` and `evals` (K, h * w) against the A image of
    the batch's pair `rows[k]`, over the points where `w` is 1; `area_b`: B's inner area in A's frame."""
    ha, wa = batch.a_shape
    count = w.sum(axis=1)
    overlap = count / np.maximum(1.0, np.minimum(ha * wa, area_b))
    pixel = _masked_stats(batch.a_pixels[rows], vals, w)
    edge = _masked_stats(batch.a_edges[rows], evals, w)
    enough = (count >= 12) & (overlap >= MIN_OVERLAP * 0.9)
    return (
        np.where(enough, pixel, -1.0).astype(np.float32),
        np.where(enough, edge, -1.0).astype(np.float32),
        np.minimum(overlap, 1.0).astype(np.float32),
    )


def _measure(batch: _Batch, owner: NDArray[np.intp], params: F32) -> Measured:
    """(pixel NCC, edge NCC, overlap) of B placed on A under each row (rad, mirrored, scale, ty, tx),
    row k for the batch's pair `owner[k]`."""
    return _in_parts(lambda rows: _measure_rows(batch, owner[rows], params[rows]), len(owner), _MEASURE_ROWS)


def _measure_rows(batch: _Batch, owner: NDArray[np.intp], params: F32) -> Measured:
    ha, wa = batch.a_shape
    ca = _centre(ha, wa)
    gy = np.arange(ha, dtype=np.float32)[None, :, None] - ca[0] - params[:, 3, None, None]
    gx = np.arange(wa, dtype=np.float32)[None, None, :] - ca[1] - params[:, 4, None, None]
    gy, gx = np.broadcast_arrays(gy, gx)
    cy, cx = batch.b_stacked.centres(owner)
    qy, qx = _map_points(cy, cx, params[:, 0], params[:, 1] > 0, params[:, 2], gy, gx)
    vals, evals = _values(batch.b_stacked, owner, qy, qx)
    k = params.shape[0]
    w = _inner(batch.b_stacked, owner, qy, qx).reshape(k, -1).astype(np.float32)
    area_b = _inner_area(batch.b_stacked, owner) * params[:, 2] ** 2
    return _similarities(batch, owner, vals.reshape(k, -1), evals.reshape(k, -1), w, area_b)


def _measure_shifts(batch: _Batch, owner: NDArray[np.intp], current: F32, deltas: F32) -> Measured:
    """`_measure` of each alignment (K, 5) moved by each of 3 x 3 shifts `deltas` (M, 4: no turn, no
    scaling, dy and dx in {-step, 0, step}, step 1 or 1/2), returned (K * M,) in `_moves` order.

    A shift of A's grid by a step only moves the points at which B is sampled along that grid, so B is
    sampled once on A's grid extended by a step at the step's spacing, and each shift is a window of it
    (the sample points are the same up to float32 rounding of the coordinates)."""
    per_call = max(1, _MEASURE_ROWS // len(deltas))
    return _in_parts(
        lambda rows: _measure_shift_rows(batch, owner[rows], current[rows], deltas), current.shape[0], per_call
    )


def _measure_shift_rows(batch: _Batch, owner: NDArray[np.intp], current: F32, deltas: F32) -> Measured:
    ha, wa = batch.a_shape
    ca = _centre(ha, wa)
    step = float(np.abs(deltas[:, 2:]).max())
    per_px = round(1.0 / step)
    # Positions i - d of A's grid for every shift d: from -step to (size - 1) + step, `step` apart.
    uy = np.arange(-1, per_px * (ha - 1) + 2, dtype=np.float32) * np.float32(step)
    ux = np.arange(-1, per_px * (wa - 1) + 2, dtype=np.float32) * np.float32(step)
    gy = uy[None, :, None] - ca[0] - current[:, 3, None, None]
    gx = ux[None, None, :] - ca[1] - current[:, 4, None, None]
    gy, gx = np.broadcast_arrays(gy, gx)
    cy, cx = batch.b_stacked.centres(owner)
    qy, qx = _map_points(cy, cx, current[:, 0], current[:, 1] > 0, current[:, 2], gy, gx)
    vals, evals = _values(batch.b_stacked, owner, qy, qx)
    inner = _inner(batch.b_stacked, owner, qy, qx)
    k, m = current.shape[0], len(deltas)
    windows = []
    for dy, dx in deltas[:, 2:].tolist():
        y0, x0 = 1 - round(dy * per_px), 1 - round(dx * per_px)
        windows.append(
            (
                slice(y0, y0 + per_px * (ha - 1) + 1, per_px),
                slice(x0, x0 + per_px * (wa - 1) + 1, per_px),
            )
        )

    def cut(x: NDArray[Any]) -> NDArray[Any]:
        return np.stack([x[:, sy, sx] for sy, sx in windows], axis=1).reshape(k * m, ha * wa)

    area_b = np.repeat(_inner_area(batch.b_stacked, owner), m) * np.repeat(current[:, 2], m) ** 2
    return _similarities(batch, np.repeat(owner, m), cut(vals), cut(evals), cut(inner).astype(np.float32), area_b)


def calibrated(
    pixel: float | F32, edge: float | F32, overlap: float | F32, free: float | NDArray[np.floating[Any]] = 0.0
) -> F32:
    """The score: a logistic function of the similarities, the overlap and whether the angle is free."""
    wp, we, wo, wf, bias = CALIBRATION
    z = wp * np.asarray(pixel) + we * np.asarray(edge) + wo * np.asarray(overlap) + wf * np.asarray(free) + bias
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))), dtype=np.float32)


# Coordinate descent after the coarse search: shift by a pixel, then scale and angle together, then
# shift by half a pixel; each stage keeps the best move of each alignment.
_SHIFT_1 = np.array([(0.0, 1.0, dy, dx) for dy in (-1.0, 0.0, 1.0) for dx in (-1.0, 0.0, 1.0)], dtype=np.float32)
_SHIFT_HALF = _SHIFT_1 * np.array([1.0, 1.0, 0.5, 0.5], dtype=np.float32)
_SCALE_ANGLE_FREE = np.array(
    [(math.radians(da), ds, 0.0, 0.0) for da in (-3.0, 0.0, 3.0) for ds in (0.96, 1.0, 1.04)], dtype=np.float32
)
_SCALE_ONLY = np.array([(0.0, ds, 0.0, 0.0) for ds in (0.96, 1.0, 1.04)], dtype=np.float32)


def _moves(current: F32, deltas: F32) -> F32:
    """Each alignment (K, 5) moved by each delta (M, 4: d angle, scale factor, dy, dx): (K, M, 5)."""
    out = np.repeat(current[:, None, :], len(deltas), axis=1)
    out[:, :, 0] += deltas[None, :, 0]
    out[:, :, 2] *= deltas[None, :, 1]
    out[:, :, 3] += deltas[None, :, 2]
    out[:, :, 4] += deltas[None, :, 3]
    return out


def verify(a: Prepared, b: Prepared, hypotheses: Sequence[Hypothesis]) -> Verdict | None:
    """The best alignment of B onto A among the hypotheses, and its score; None if nothing overlaps."""
    return verify_batch([(a, b, hypotheses)])[0]


# Pairs verified together (bounds the memory of the coarse search: ~28 hypotheses x 40 x 40 each). The
# results do not depend on it; the cost does: on 3,355 candidate pairs of distinct 32 px tiles, 16-32
# pairs took 2.0-2.1 ms a pair and 48 took 2.3-2.5 (larger temporaries: more fresh pages to fault in).
_CHUNK = 32


def verify_batch(jobs: Sequence[tuple[Prepared, Prepared, Sequence[Hypothesis]]]) -> list[Verdict | None]:
    """`verify(a, b, hypotheses)` for each job, computed in batches of pairs whose A images share one
    shape (the same results as one pair at a time: every pair's arithmetic is unchanged)."""
    out: list[Verdict | None] = [None] * len(jobs)
    groups: dict[tuple[int, ...], list[int]] = {}
    for n, (a, _, _) in enumerate(jobs):
        groups.setdefault(a.pixels.shape, []).append(n)
    for members in groups.values():
        for s in range(0, len(members), _CHUNK):
            chunk = members[s : s + _CHUNK]
            for n, verdict in zip(chunk, _verify_chunk([jobs[n] for n in chunk]), strict=True):
                out[n] = verdict
    return out


def _verify_chunk(jobs: Sequence[tuple[Prepared, Prepared, Sequence[Hypothesis]]]) -> list[Verdict | None]:
    batch = _Batch.of([(a, b) for a, b, _ in jobs])
    hyps = [
        [(h.angle, h.mirrored, s) for h in hs for s in (SCALES if h.angle % 90.0 == 0 else ROTATED_SCALES)]
        for _, _, hs in jobs
    ]
    counts = [len(h) for h in hyps]
    owner = np.repeat(np.arange(len(jobs), dtype=np.intp), counts)
    params = np.array([(math.radians(a), 1.0 if m else 0.0, s) for hs in hyps for a, m, s in hs], dtype=np.float32)
    # One warp (and transform) per B image and hypothesis, however many of the chunk's pairs share it:
    # warping depends on nothing else (the same B is the same `Prepared`), so the results are unchanged.
    warps: dict[tuple[int, float, bool, float], int] = {}
    warp_of = np.array(
        [warps.setdefault((id(b), *h), len(warps)) for (_, b, _), hs in zip(jobs, hyps, strict=True) for h in hs],
        dtype=np.intp,
    )
    warp_rows = np.unique(warp_of, return_index=True)[1]
    warped, mask = _warp_stack(batch.b_coarse, owner[warp_rows], params[warp_rows], _COARSE_CANVAS)
    best_all, arg_all = _coarse_peaks(batch.a_coarse, owner, warped, mask, MIN_OVERLAP, warp_of)
    ch, cw = batch.a_coarse.shape[1:]
    size = (ch + _COARSE_CANVAS, cw + _COARSE_CANVAS)
    half_a = _centre(ch, cw)
    fy, fx = batch.a_shape[0] / ch, batch.a_shape[1] / cw
    rows: list[F32] = []
    row_owner: list[int] = []
    first = 0
    for p, hs in enumerate(hyps):
        best_per_hyp = best_all[first : first + len(hs)]
        top = float(best_per_hyp.max()) if len(best_per_hyp) else -1.0
        order = [
            k
            for k in np.argsort(-best_per_hyp, kind="stable")[:_REFINE_KEEP].tolist()
            if best_per_hyp[k] >= COARSE_FLOOR and best_per_hyp[k] >= top - _REFINE_GAP
        ]
        for k in order:
            angle, mirrored, scale = hs[k]
            dy, dx = np.unravel_index(int(arg_all[first + k]), size)
            # The shift wraps around: indices past A's extent are negative offsets of the canvas origin.
            dy = dy - size[0] if dy >= ch else dy
            dx = dx - size[1] if dx >= cw else dx
            ty = (dy + (_COARSE_CANVAS - 1) / 2.0 - half_a[0]) * fy
            tx = (dx + (_COARSE_CANVAS - 1) / 2.0 - half_a[1]) * fx
            rows.append(np.array([math.radians(angle), 1.0 if mirrored else 0.0, scale, ty, tx], dtype=np.float32))
            row_owner.append(p)
        first += len(hs)
    out: list[Verdict | None] = [None] * len(jobs)
    if not rows:
        return out
    current = np.stack(rows)
    owners = np.array(row_owner, dtype=np.intp)
    # One flag per pair: a pair whose orientation is free (in any kept alignment) is scored as a free rotation.
    turned = np.abs(np.degrees(current[:, 0]) % 90.0) > 1e-3
    free_pair = np.zeros(len(jobs), dtype=bool)
    np.logical_or.at(free_pair, owners, turned)
    free = free_pair[owners]
    pixel = edge = overlap = scores = np.zeros(0, dtype=np.float32)
    for stage in range(3):
        if stage != 1:
            deltas = _SHIFT_1 if stage == 0 else _SHIFT_HALF
            current, pixel, edge, overlap, scores = _refine(batch, current, owners, free, deltas)
            continue
        # Scale and angle together for free rotations, scale alone otherwise.
        current = current.copy()
        hopeful = scores >= _STAGE1_FLOOR
        for deltas, sel in ((_SCALE_ANGLE_FREE, free & hopeful), (_SCALE_ONLY, ~free & hopeful)):
            if sel.any():
                moved, *measured = _refine(batch, current[sel], owners[sel], free[sel], deltas)
                current[sel] = moved
                for target, value in zip((pixel, edge, overlap, scores), measured, strict=True):
                    target[sel] = value
    a_h, a_w = batch.a_shape
    first = 0
    for p, n_rows in enumerate(np.bincount(owners, minlength=len(jobs)).tolist()):
        if n_rows == 0:
            continue
        i = first + int(scores[first : first + n_rows].argmax())
        first += n_rows
        if scores[i] < 0:
            continue
        rad, mir, scale, ty, tx = current[i].tolist()
        alignment = Alignment(
            angle=round(math.degrees(rad) % 360.0, 2),
            mirrored=mir > 0,
            scale=round(scale, 4),
            dy=round(ty / a_h, 4),
            dx=round(tx / a_w, 4),
            overlap=round(float(overlap[i]), 4),
        )
        out[p] = Verdict(round(float(scores[i]), 6), round(float(pixel[i]), 6), round(float(edge[i]), 6), alignment)
    return out


def _refine(
    batch: _Batch,
    current: F32,
    owners: NDArray[np.intp],
    free: NDArray[np.bool_],
    deltas: F32,
) -> tuple[F32, F32, F32, F32, F32]:
    """One stage of the coordinate descent: each alignment moved by each delta, the best move kept;
    returns (alignments, pixel, edge, overlap, score) of the kept moves."""
    moves = _moves(current, deltas)
    k, m = moves.shape[:2]
    if deltas is _SHIFT_1 or deltas is _SHIFT_HALF:
        pixel, edge, overlap = _measure_shifts(batch, owners, current, deltas)
    else:
        pixel, edge, overlap = _measure(batch, np.repeat(owners, m), moves.reshape(k * m, 5))
    flag = np.repeat(free, m).astype(np.float64)
    scores = np.where(pixel > -1, calibrated(pixel, edge, overlap, flag), -1.0).reshape(k, m)
    pick = scores.argmax(axis=1)
    rows = np.arange(k)
    pixel, edge, overlap = (x.reshape(k, m)[rows, pick] for x in (pixel, edge, overlap))
    return moves[rows, pick], pixel, edge, overlap, scores[rows, pick]
