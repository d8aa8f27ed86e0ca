"""Verification: does image B show the same picture as image A once aligned?

B's thumbnail is warped into A's frame under a few hypotheses (upright, the quarter turn or mirror and
the free angles the candidate stage suggests, each at a grid of scales); for each,
the best translation is found at once by a masked normalised cross-correlation computed with FFTs over
every shift (half resolution). The best few alignments are then refined at full thumbnail resolution,
where two similarities are measured on the overlap: of the pixels (brightness and contrast normalised
away) and of their fine structure (edges; what tells one plate of pasta from another). A logistic
function of those and of the overlap gives a score in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
_REFINE_KEEP = 2
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


def _sample(img: F32, ys: F32, xs: F32) -> tuple[F32, NDArray[np.bool_]]:
    """Bilinear samples of `img` (h, w) or of each plane of (c, h, w) at (ys, xs), stacked last;
    points more than half a pixel outside are invalid."""
    planes = img if img.ndim == 3 else img[None]
    h, w = planes.shape[1:]
    valid = (ys >= -0.5) & (ys <= h - 0.5) & (xs >= -0.5) & (xs <= w - 0.5)
    y = np.clip(ys, 0, h - 1.001)
    x = np.clip(xs, 0, w - 1.001)
    y0 = y.astype(np.intp)
    x0 = x.astype(np.intp)
    fy = (y - y0).astype(np.float32)
    fx = (x - x0).astype(np.float32)
    i00 = y0 * w + x0
    i01 = i00 + (1 if w > 1 else 0)
    i10 = i00 + (w if h > 1 else 0)
    i11 = i10 + (1 if w > 1 else 0)
    w00 = (1 - fy) * (1 - fx)
    w01 = (1 - fy) * fx
    w10 = fy * (1 - fx)
    w11 = fy * fx
    out = []
    for plane in planes.reshape(planes.shape[0], -1):
        out.append(plane.take(i00) * w00 + plane.take(i01) * w01 + plane.take(i10) * w10 + plane.take(i11) * w11)
    vals = out[0] if img.ndim == 2 else np.stack(out, axis=-1)
    return np.asarray(vals, dtype=np.float32), valid


def _half(img: F32) -> F32:
    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    if h < 2 or w < 2:
        return img
    v = img[:h, :w]
    return np.asarray((v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2]) / 4, dtype=np.float32)


def _warp_stack(b: F32, hyps: list[tuple[float, bool, float]], side: int) -> tuple[F32, F32]:
    """B warped onto a `side` x `side` canvas (centre to centre) under each (angle, mirrored, scale)."""
    grid = np.arange(side, dtype=np.float32) - (side - 1) / 2.0
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    params = np.array([(math.radians(a), 1.0 if m else 0.0, s) for a, m, s in hyps], dtype=np.float32)
    qy, qx = _map_points(b.shape, params[:, 0], params[:, 1] > 0, params[:, 2], ys[None], xs[None])
    vals, valid = _sample(b, qy, qx)
    mask = valid.astype(np.float32)
    return np.asarray(vals * mask, dtype=np.float32), mask


def _map_points(
    shape: tuple[int, ...], rad: F32, mirrored: NDArray[np.bool_], scale: F32, ys: F32, xs: F32
) -> tuple[F32, F32]:
    """B coordinates of offsets (ys, xs) from the aligned centre, for K alignments at once (K, ...)."""
    shape_k = (-1,) + (1,) * (ys.ndim - 1)
    c = (np.cos(rad) / scale).reshape(shape_k)
    s = (np.sin(rad) / scale).reshape(shape_k)
    cb = _centre(shape[0], shape[1])
    qx = c * xs - s * ys
    qy = s * xs + c * ys
    qx = np.where(mirrored.reshape(shape_k), -qx, qx) + cb[1]
    return np.asarray(qy + cb[0], dtype=np.float32), np.asarray(qx, dtype=np.float32)


def _masked_ncc(a: F32, w: F32, m: F32, min_overlap: float) -> tuple[F32, F32]:
    """NCC of A against each masked warped image W at every shift; -1 where the overlap is too small.

    Returns (ncc, n) arrays of shape (H, F, F): entry [k, dy, dx] compares A(p) with W_k(p - d).
    """
    ha, wa = a.shape
    side = w.shape[1]
    size = (ha + side, wa + side)
    # One forward and one inverse transform call for everything (numpy's per-call cost dominates).
    fwd_a = np.fft.rfft2(np.stack([a, a * a, np.ones_like(a)]), s=size)
    fa, fa2, fma = fwd_a[0], fwd_a[1], fwd_a[2]
    fwd_w = np.conj(np.fft.rfft2(np.stack([w, w * w, m]), s=size))
    fw, fw2, fm = fwd_w[0], fwd_w[1], fwd_w[2]
    inv = np.fft.irfft2(np.stack([fma * fm, fa * fm, fa2 * fm, fma * fw, fma * fw2, fa * fw]), s=size)
    n = np.rint(inv[0])
    sa, saa, sb, sbb, sab = inv[1], inv[2], inv[3], inv[4], inv[5]
    nn = np.maximum(n, 1)
    cov = sab - sa * sb / nn
    va = saa - sa * sa / nn
    vb = sbb - sb * sb / nn
    ncc = cov / np.sqrt(np.maximum(va * vb, 1e-6))
    area_w = m.reshape(m.shape[0], -1).sum(axis=1)[:, None, None]
    enough = (n >= min_overlap * np.minimum(ha * wa, area_w)) & (va > 1e-3 * nn) & (vb > 1e-3 * nn)
    return np.where(enough, ncc, -1.0).astype(np.float32), n.astype(np.float32)


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


def _measure(a: Prepared, b: Prepared, params: F32) -> tuple[F32, F32, F32]:
    """(pixel NCC, edge NCC, overlap) of B placed on A under each row (rad, mirrored, scale, ty, tx)."""
    ha, wa = a.pixels.shape
    hb, wb = b.pixels.shape
    ca = _centre(ha, wa)
    gy = np.arange(ha, dtype=np.float32)[None, :, None] - ca[0] - params[:, 3, None, None]
    gx = np.arange(wa, dtype=np.float32)[None, None, :] - ca[1] - params[:, 4, None, None]
    gy, gx = np.broadcast_arrays(gy, gx)
    qy, qx = _map_points(b.pixels.shape, params[:, 0], params[:, 1] > 0, params[:, 2], gy, gx)
    both, valid = _sample(b.stacked, qy, qx)
    vals, evals = both[..., 0], both[..., 1]
    # Stay a pixel inside B's border: edge responses there are artefacts of the thumbnail's edge.
    inner = valid & (qy >= 0.5) & (qy <= hb - 1.5) & (qx >= 0.5) & (qx <= wb - 1.5)
    k = params.shape[0]
    w = inner.reshape(k, -1).astype(np.float32)
    count = w.sum(axis=1)
    area_b = max(hb - 2, 1) * max(wb - 2, 1) * params[:, 2] ** 2
    overlap = count / np.maximum(1.0, np.minimum(ha * wa, area_b))
    av = np.broadcast_to(a.pixels.reshape(1, -1), w.shape)
    ae = np.broadcast_to(a.edges.reshape(1, -1), w.shape)
    pixel = _masked_stats(av, vals.reshape(k, -1), w)
    edge = _masked_stats(ae, evals.reshape(k, -1), w)
    enough = (count >= 12) & (overlap >= MIN_OVERLAP * 0.9)
    return (
        np.where(enough, pixel, -1.0).astype(np.float32),
        np.where(enough, edge, -1.0).astype(np.float32),
        np.minimum(overlap, 1.0).astype(np.float32),
    )


def calibrated(pixel: float | F32, edge: float | F32, overlap: float | F32, free: float | F32 = 0.0) -> F32:
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


def verify(a: Prepared, b: Prepared, hypotheses: list[Hypothesis]) -> Verdict | None:
    """The best alignment of B onto A among the hypotheses, and its score; None if nothing overlaps."""
    hyps = [(h.angle, h.mirrored, s) for h in hypotheses for s in (SCALES if h.angle % 90.0 == 0 else ROTATED_SCALES)]
    warped, mask = _warp_stack(b.coarse, hyps, _COARSE_CANVAS)
    ncc, _ = _masked_ncc(a.coarse, warped, mask, MIN_OVERLAP)
    flat = ncc.reshape(len(hyps), -1)
    best_per_hyp = flat.max(axis=1)
    order = [
        k for k in np.argsort(-best_per_hyp, kind="stable")[:_REFINE_KEEP].tolist() if best_per_hyp[k] >= COARSE_FLOOR
    ]
    if not order:
        return None
    size = ncc.shape[1:]
    ch, cw = a.coarse.shape
    half_a = _centre(ch, cw)
    fy, fx = a.pixels.shape[0] / ch, a.pixels.shape[1] / cw
    rows: list[F32] = []
    for k in order:
        angle, mirrored, scale = hyps[k]
        dy, dx = np.unravel_index(int(flat[k].argmax()), size)
        # The shift wraps around: indices past A's extent are negative offsets of the canvas origin.
        dy = dy - size[0] if dy >= ch else dy
        dx = dx - size[1] if dx >= cw else dx
        ty = (dy + (_COARSE_CANVAS - 1) / 2.0 - half_a[0]) * fy
        tx = (dx + (_COARSE_CANVAS - 1) / 2.0 - half_a[1]) * fx
        rows.append(np.array([math.radians(angle), 1.0 if mirrored else 0.0, scale, ty, tx], dtype=np.float32))
    current = np.stack(rows)
    free = bool(np.any(np.abs(np.degrees(current[:, 0]) % 90.0) > 1e-3))
    # (One flag for the whole set: a pair whose orientation is free is scored as a free rotation.)
    stages = (_SHIFT_1, _SCALE_ANGLE_FREE if free else _SCALE_ONLY, _SHIFT_HALF)
    for deltas in stages:
        moves = _moves(current, deltas)
        k, m = moves.shape[:2]
        pixel, edge, overlap = _measure(a, b, moves.reshape(k * m, 5))
        scores = np.where(pixel > -1, calibrated(pixel, edge, overlap, float(free)), -1.0).reshape(k, m)
        pick = scores.argmax(axis=1)
        current = moves[np.arange(k), pick]
        pixel, edge, overlap = (x.reshape(k, m)[np.arange(k), pick] for x in (pixel, edge, overlap))
        scores = scores[np.arange(k), pick]
    i = int(scores.argmax())
    if scores[i] < 0:
        return None
    params = current
    rad, mir, scale, ty, tx = params[i].tolist()
    alignment = Alignment(
        angle=round(math.degrees(rad) % 360.0, 2),
        mirrored=mir > 0,
        scale=round(scale, 4),
        dy=round(ty / a.pixels.shape[0], 4),
        dx=round(tx / a.pixels.shape[1], 4),
        overlap=round(float(overlap[i]), 4),
    )
    return Verdict(round(float(scores[i]), 6), round(float(pixel[i]), 6), round(float(edge[i]), 6), alignment)
