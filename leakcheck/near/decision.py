"""The final decision on a verified pair: how much the alignment is worth, given what it had to search.

Verification finds the best way to lay B over A among many orientations, scales and shifts. The more
freedom that search used, the more an image needs distinctive two-dimensional structure for a close
fit to mean anything: a picture made of one edge (a plate rim against a table, a horizon) lines up with
any other such picture once turned, mirrored, scaled and shifted to suit. This is the aperture problem
of image alignment, and the structure tensor measures it: where only one gradient direction is present,
its smaller eigenvalue is zero, and an alignment along the edge is undetermined.

`structure(d)` is the share of a thumbnail's gradient energy that is two-dimensional (0: nothing but
parallel edges; about 0.5: isotropic texture). `decide` turns the verifier's calibrated score into the
reported one, taking into account whether the alignment moved B (mirror, turn, scale, shift) and the
structure of the plainer image; its weights are fitted by `benchmarks/near_quality.py --calibrate` on the
calibration half of the benchmark, which includes hard negatives cut from real photos (tiles).
"""

from __future__ import annotations

import math

import numpy as np

from leakcheck.near.descriptor import NearDescriptor, smooth
from leakcheck.near.verify import Alignment, Verdict

# Structure below this is treated as this (log scale): a pair can't be penalised without bound.
STRUCTURE_FLOOR = 1e-3
# The decision adds `moved * (DECISION[0] + DECISION[1] * log10 structure)` to the logit of the
# verifier's score: a pair that B only re-placed keeps its score, and a moved one gains or loses by how
# much two-dimensional structure the plainer image has. Fitted (logistic regression with the verifier's
# logit as offset) by `benchmarks/near_quality.py --calibrate` on the calibration half.
DECISION: tuple[float, float] = (5.877, 7.014)


def structure(d: NearDescriptor) -> float:
    """The share (0-1) of the thumbnail's gradient energy that is two-dimensional."""
    px = smooth(d.pixels())
    gy, gx = (np.asarray(g, dtype=np.float32) for g in np.gradient(px))
    jxx, jyy, jxy = smooth(gx * gx), smooth(gy * gy), smooth(gx * gy)
    half_trace = (jxx + jyy) / 2.0
    lam_min = half_trace - np.sqrt(((jxx - jyy) / 2.0) ** 2 + jxy**2)
    # The thumbnail's own border is no structure of the picture.
    inner = (slice(2, -2), slice(2, -2)) if min(px.shape) > 6 else (slice(None), slice(None))
    energy = float(half_trace[inner].mean())
    if energy <= 1e-6:
        return 0.0
    return float(np.clip(lam_min[inner].mean() / energy, 0.0, 1.0))


def moved(al: Alignment) -> bool:
    """Whether the alignment did more than re-place B where it was (mirror, turn, rescale or shift)."""
    turn = al.angle % 360.0
    return (
        al.mirrored
        or min(turn, 360.0 - turn) > 1.0
        or abs(math.log(al.scale)) > 0.1
        or al.overlap < 0.85
        or al.squashed
    )


def features(verdict: Verdict, structure_a: float, structure_b: float) -> tuple[float, float, float]:
    """(logit of the verifier's score, moved 0/1, moved x log10 structure of the plainer image)."""
    p = min(max(verdict.score, 1e-6), 1.0 - 1e-6)
    m = 1.0 if moved(verdict.alignment) else 0.0
    s = math.log10(max(min(structure_a, structure_b), STRUCTURE_FLOOR))
    return math.log(p / (1.0 - p)), m, m * s


def decide(verdict: Verdict, structure_a: float, structure_b: float) -> float:
    """The reported score (0-1) of a verified pair."""
    logit, m, ms = features(verdict, structure_a, structure_b)
    z = logit + DECISION[0] * m + DECISION[1] * ms
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
