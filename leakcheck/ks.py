"""The two-sample Kolmogorov-Smirnov test in numpy, as `scipy.stats.ks_2samp` computes it (two-sided).

SciPy costs 0.3-0.8 s to import, more than the rest of a drift check; this module gives the same answers
without it. `ks_statistic` is scipy's D. `ks_pvalue` follows scipy's default `method="auto"`:

- up to `MAX_EXACT` values per side, the exact distribution, computed with scipy's own recurrences and
  floating-point operations in the same order, so that D and p are equal to scipy's bit for bit
  (equal sizes: the closed-form sum of `_compute_prob_outside_square`; other sizes: the lattice-path
  recursion for 1 - p of `_compute_outer_prob_inside_method`, here one anti-diagonal at a time instead
  of one cell at a time; each cell still combines the same two neighbours in the same way);
- above it, where scipy switches to `kstwo.sf(D, round(m n / (m + n)))`, the limiting Kolmogorov
  distribution with Stephens' finite-sample correction, at (e + 0.12 + 0.11 / e) D with
  e = sqrt(m n / (m + n)) (scipy's own formula before 1.5). Near the drift thresholds (p = 1e-4..0.05)
  it is within about 1% of scipy's value, and within 5% down to p = 1e-10; the tests check that drift
  decisions (p against a threshold) agree with scipy on realistic inputs.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

# scipy's MAX_AUTO_N: the exact distribution up to this many values in the larger sample.
MAX_EXACT = 10_000


def ks_2samp(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """The two-sided two-sample KS statistic D and its p-value, as `scipy.stats.ks_2samp(a, b)`."""
    x, y = _sorted(a), _sorted(b)
    d = ks_statistic(x, y, presorted=True)
    return ks_pvalue(d, len(x), len(y))


def ks_statistic(a: ArrayLike, b: ArrayLike, *, presorted: bool = False) -> float:
    """The largest gap between the two empirical CDFs (scipy's raw D, before `ks_pvalue` rounds it)."""
    x, y = (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)) if presorted else (_sorted(a), _sorted(b))
    if x.size == 0 or y.size == 0:
        raise ValueError("both samples need at least one value")
    both = np.concatenate([x, y])
    diffs = np.searchsorted(x, both, side="right") / x.size - np.searchsorted(y, both, side="right") / y.size
    return float(max(float(np.clip(-diffs.min(), 0, 1)), float(diffs.max())))


def ks_rounded(d: float, n1: int, n2: int) -> float:
    """The statistic as scipy returns it: in the exact range, `d` rounded to a multiple of 1 / lcm(n1, n2)
    (D is such a multiple; the rounding removes the error of the subtraction of the two CDFs)."""
    if max(n1, n2) > MAX_EXACT:
        return d
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    return round(d * lcm) * 1.0 / lcm


def ks_pvalue(d: float, n1: int, n2: int) -> tuple[float, float]:
    """(D, p) for a raw statistic `d` between samples of `n1` and `n2` values, like scipy's `auto` method.

    D comes back as `ks_rounded` gives it.
    """
    if n1 < 1 or n2 < 1:
        raise ValueError("both samples need at least one value")
    if max(n1, n2) <= MAX_EXACT:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = round(d * lcm)  # numpy's round, as in scipy: halves to even, like Python's
        d = h * 1.0 / lcm
        if h == 0:
            return d, 1.0
        p = _prob_outside_square(n1, h) if n1 == n2 else _prob_outside_band(n1, n2, g, h)
        if 0.0 <= p <= 1.0:
            return d, p
        # scipy falls back to the asymptotic distribution where the exact one fails; so do we.
    # Stephens' (1970) finite-sample correction of the limit, as scipy used before 1.5.
    en = math.sqrt(n1 * n2 / (n1 + n2))
    return d, min(1.0, max(0.0, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the limiting Kolmogorov distribution: 2 * sum_k (-1)^(k-1) exp(-2 k^2 x^2)."""
    if x <= 0.0:
        return 1.0
    if x < 1.0:
        # The alternating sum converges slowly near 0; use the dual (theta-function) series instead.
        w = math.pi**2 / (8 * x * x)
        cdf = math.sqrt(2 * math.pi) / x * math.fsum(math.exp(-((2 * k - 1) ** 2) * w) for k in range(1, 8))
        return 1.0 - cdf
    return 2.0 * math.fsum((1.0 if k % 2 else -1.0) * math.exp(-2.0 * k * k * x * x) for k in range(1, 101))


def _sorted(values: ArrayLike) -> NDArray[np.float64]:
    return np.sort(np.asarray(values, dtype=np.float64).ravel())


def _prob_outside_square(n: int, h: int) -> float:
    """P(D_{n,n} >= h/n), exactly as scipy's `_compute_prob_outside_square` (Horner-like sum)."""
    p = 0.0
    k = math.floor(n / h)
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        p = p1 * (1.0 - p)
        k -= 1
    return 2 * p


def _prob_outside_band(m: int, n: int, g: int, h: int) -> float:
    """The share of lattice paths from (0, 0) to (m, n) that leave the band |x n/g - y m/g| < h.

    scipy's `_compute_outer_prob_inside_method` (Hodges; Viehmann's recursion for 1 - p): cell (i, j) of
    the band holds (P(i-1, j) i + P(i, j-1) j) / (i + j), cells outside the band hold 1 and the band's
    cells of column 0 hold 0. scipy fills one column at a time, each cell after the one below it; the
    cells of one anti-diagonal i + j = s depend only on the previous anti-diagonal, so they are computed
    together here, each with the same operations as in scipy.
    """
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    cols = np.arange(m + 1)
    # Column i's band is rows lo[i] <= j < hi[i] (scipy's minj, maxj).
    lo = np.empty(m + 1, dtype=np.int64)
    hi = np.empty(m + 1, dtype=np.int64)
    lo[0], hi[0] = 0, min(math.ceil(h / mg), n + 1)
    lo[1:] = np.minimum(np.maximum(np.floor((ng * cols[1:] - h) / mg).astype(np.int64) + 1, 0), n)
    hi[1:] = np.minimum(np.ceil((ng * cols[1:] + h) / mg).astype(np.int64), n + 1)
    if bool((hi[1:] <= lo[1:]).any()):
        return 1.0
    rows = np.arange(n + 1)
    rows_f = rows.astype(np.float64)
    # prev[j] = P(s - 1 - j, j), the previous anti-diagonal by row; 1 outside the band. s = 0: (0, 0).
    prev = np.ones(n + 1)
    prev[0] = 0.0
    for s in range(1, m + n + 1):
        j0, j1 = max(0, s - m), min(n, s)  # the rows whose column i = s - j lies in 0..m
        i = s - rows[j0 : j1 + 1]
        i_f = i.astype(np.float64)
        j_f = rows_f[j0 : j1 + 1]
        below = np.empty(j1 - j0 + 1)  # P(i, j - 1); scipy starts row 0 of a column from 0.0 (times j = 0)
        below[0] = prev[j0 - 1] if j0 > 0 else 0.0
        below[1:] = prev[j0:j1]
        values = (prev[j0 : j1 + 1] * i_f + below * j_f) / (i_f + j_f)
        inside = (rows[j0 : j1 + 1] >= lo[i]) & (rows[j0 : j1 + 1] < hi[i])
        prev = np.ones(n + 1)
        prev[j0 : j1 + 1] = np.where(inside, values, 1.0)
        if j1 == s:  # row s of column 0: 0 inside the band, never recomputed
            prev[s] = 0.0 if s < hi[0] else 1.0
    return float(prev[n])
