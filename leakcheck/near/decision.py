"""The final decision on a verified pair: how much the alignment is worth, given what it had to search.

Verification finds the best way to lay B over A among many orientations, scales and shifts. The more
freedom that search used, the more an image needs distinctive two-dimensional structure for a close
fit to mean anything: a picture made of one edge (a plate rim against a table, a horizon) lines up with
any other such picture once turned, mirrored, scaled and shifted to suit. This is the aperture problem
of image alignment, and the structure tensor measures it: where only one gradient direction is present,
its smaller eigenvalue is zero, and an alignment along the edge is undetermined.

`structure(d)` is the share of a thumbnail's gradient energy that is two-dimensional (0: nothing but
parallel edges; about 0.5: isotropic texture); `overlap_structure` measures it on the part of each image
the alignment overlaps. `decide` turns the verifier's calibrated score into the
reported one, taking into account whether the alignment moved B (mirror, turn, scale, shift) and the
structure of the plainer image; its weights are fitted by `benchmarks/near_quality.py --calibrate` on the
calibration half of the benchmark, which includes hard negatives cut from real photos (tiles).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from leakcheck.near.descriptor import NearDescriptor, smooth
from leakcheck.near.verify import Alignment, Verdict, _map_points

# Structure below this is treated as this (log scale): a pair can't be penalised without bound.
STRUCTURE_FLOOR = 1e-3
# The decision adds `moved * (DECISION[0] + DECISION[1] * log10 structure)` to the logit of the
# verifier's score: a pair that B only re-placed keeps its score, and a moved one gains or loses by how
# much two-dimensional structure the plainer image has. Fitted (logistic regression with the verifier's
# logit as offset) by `benchmarks/near_quality.py --calibrate` on the calibration half.
DECISION: tuple[float, float] = (6.369, 7.482)


# A shift of more than this fraction of A's side moved B (an edge lines up with any other shifted along it).
SHIFTED = 0.05

Tensor = tuple[NDArray[np.float32], NDArray[np.float32]]
TensorOf = Callable[[NearDescriptor], Tensor]


def _tensor(d: NearDescriptor) -> Tensor:
    """Per pixel: the structure tensor's smaller eigenvalue and half its trace (0 on a 2-px border,
    which is the thumbnail's edge rather than the picture's structure)."""
    px = smooth(d.pixels())
    # (A thumbnail one pixel thick, from a 1 x 500 strip, has no gradient across that side.)
    gy, gx = (
        np.asarray(np.gradient(px, axis=n), dtype=np.float32) if px.shape[n] > 1 else np.zeros_like(px) for n in (0, 1)
    )
    jxx, jyy, jxy = smooth(gx * gx), smooth(gy * gy), smooth(gx * gy)
    half_trace = (jxx + jyy) / 2.0
    lam_min = np.maximum(half_trace - np.sqrt(((jxx - jyy) / 2.0) ** 2 + jxy**2), 0.0)
    if min(px.shape) > 6:
        border = np.ones(px.shape, dtype=bool)
        border[2:-2, 2:-2] = False
        lam_min = np.where(border, 0.0, lam_min)
        half_trace = np.where(border, 0.0, half_trace)
    return np.asarray(lam_min, dtype=np.float32), np.asarray(half_trace, dtype=np.float32)


def _ratio(lam_min: NDArray[np.float32], half_trace: NDArray[np.float32]) -> float:
    energy = float(half_trace.sum())
    return float(np.clip(lam_min.sum() / energy, 0.0, 1.0)) if energy > 1e-6 else 0.0


def memoised() -> TensorOf:
    """`_tensor`, computed once per descriptor for as long as the returned function lives (each image
    of a scan is in about ten verified pairs)."""
    known: dict[int, tuple[NearDescriptor, Tensor]] = {}

    def tensor_of(d: NearDescriptor) -> Tensor:
        hit = known.get(id(d))
        if hit is None or hit[0] is not d:
            hit = known[id(d)] = (d, _tensor(d))
        return hit[1]

    return tensor_of


def structure(d: NearDescriptor, tensor_of: TensorOf = _tensor) -> float:
    """The share (0-1) of the thumbnail's gradient energy that is two-dimensional."""
    return _ratio(*tensor_of(d))


def overlap_structure(a: NearDescriptor, b: NearDescriptor, al: Alignment, tensor_of: TensorOf = _tensor) -> float:
    """The structure of the plainer of A and B, each measured only where the alignment overlaps them.

    Measured on the overlap, not the whole image, so that what a copy gained outside the shared picture
    (the fill wedges of a rotation, the bars of a letterbox) does not count against it."""
    if al.squashed:
        return min(structure(a, tensor_of), structure(b, tensor_of))
    ta, tb = tensor_of(a), tensor_of(b)
    ha, wa = a.height, a.width
    gy = np.arange(ha, dtype=np.float32)[:, None] - (ha - 1) / 2.0 - al.dy * ha
    gx = np.arange(wa, dtype=np.float32)[None, :] - (wa - 1) / 2.0 - al.dx * wa
    gy, gx = np.broadcast_arrays(gy, gx)
    # B's coordinates of A's pixels, by the verifier's own mapping (one alignment).
    one = np.ones(1, dtype=np.float32)
    qy, qx = _map_points(
        one * (b.height - 1) / 2.0, one * (b.width - 1) / 2.0, one * math.radians(al.angle),
        np.array([al.mirrored]), one * al.scale, gy[None], gx[None],
    )  # fmt: skip
    qy, qx = qy[0], qx[0]
    inside = (qy >= 0) & (qy <= b.height - 1) & (qx >= 0) & (qx <= b.width - 1)
    if not inside.any():
        return min(structure(a, tensor_of), structure(b, tensor_of))
    # A over the overlap, and B sampled (nearest pixel) where A's overlapping pixels fall on it.
    on_a = _ratio(ta[0][inside], ta[1][inside])
    iy = np.rint(qy[inside]).astype(np.intp)
    ix = np.rint(qx[inside]).astype(np.intp)
    on_b = _ratio(tb[0][iy, ix], tb[1][iy, ix])
    return min(on_a, on_b)


def moved(al: Alignment) -> bool:
    """Whether the alignment did more than re-place B where it was (mirror, turn, rescale or shift)."""
    turn = al.angle % 360.0
    return (
        al.mirrored
        or min(turn, 360.0 - turn) > 1.0
        or abs(math.log(al.scale)) > 0.1
        or max(abs(al.dx), abs(al.dy)) > SHIFTED
        or al.overlap < 0.85
        or al.squashed
    )


def _logit(score: float) -> float:
    p = min(max(score, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def _probability(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def features(
    verdict: Verdict, a: NearDescriptor, b: NearDescriptor, tensor_of: TensorOf = _tensor
) -> tuple[float, float, float]:
    """(logit of the verifier's score, moved 0/1, moved x log10 structure of the plainer image)."""
    m = moved(verdict.alignment)
    s = math.log10(max(overlap_structure(a, b, verdict.alignment, tensor_of), STRUCTURE_FLOOR)) if m else 0.0
    return _logit(verdict.score), float(m), s


def decide(verdict: Verdict, a: NearDescriptor, b: NearDescriptor, tensor_of: TensorOf = _tensor) -> float:
    """The reported score (0-1) of a verified pair of images with these descriptors (`tensor_of`: where
    their structure tensors come from, e.g. `memoised()` across many pairs)."""
    logit, m, ms = features(verdict, a, b, tensor_of)
    return _probability(logit + DECISION[0] * m + DECISION[1] * ms)


def ceiling(verdict: Verdict) -> float:
    """The highest score `decide` can give this verdict, whatever the two images: structure is at most 1,
    so its term is at most 0 and the decision adds at most DECISION[0] to the logit. (About half of the
    pairs of different pictures cannot reach the default threshold even so, and skip the structure
    tensors.)"""
    return _probability(_logit(verdict.score) + max(DECISION[0], 0.0))
