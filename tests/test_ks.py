"""leakcheck.ks against scipy.stats.ks_2samp: the same D and p bit for bit in the exact range (up to
10,000 values per side), the same decisions at the drift thresholds above it; scipy.stats never imported by a scan."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from leakcheck.ks import MAX_EXACT, kolmogorov_sf, ks_2samp, ks_pvalue, ks_rounded, ks_statistic


def _samples(rng: np.random.Generator, n1: int, n2: int, shift: float, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.normal(0.0, 1.0, n1).round(decimals)
    b = rng.normal(shift, 1.0, n2).round(decimals)
    return a, b


def test_exact_range_equals_scipy_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        n1 = int(rng.integers(1, 300))
        n2 = n1 if trial % 4 == 0 else int(rng.integers(1, 300))
        a, b = _samples(rng, n1, n2, float(rng.choice([0.0, 0.1, 0.3, 1.0])), int(rng.integers(0, 3)))
        expected = stats.ks_2samp(a, b)
        assert ks_2samp(a, b) == (float(expected.statistic), float(expected.pvalue)), (n1, n2)


@pytest.mark.parametrize(
    ("n1", "n2", "shift"), [(4167, 833, 0.2), (833, 4167, 0.05), (2500, 2500, 0.1), (9000, 10000, 0.3)]
)
def test_drift_sized_splits_equal_scipy(n1: int, n2: int, shift: float) -> None:
    a, b = _samples(np.random.default_rng(n1 + n2), n1, n2, shift, 2)
    expected = stats.ks_2samp(a, b)
    assert ks_2samp(a, b) == (float(expected.statistic), float(expected.pvalue))


def test_integer_properties_with_ties_equal_scipy() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        a = rng.integers(70, 96, int(rng.integers(20, 400))).astype(float)  # JPEG qualities: many ties
        b = rng.integers(60, 96, int(rng.integers(20, 400))).astype(float)
        expected = stats.ks_2samp(a, b)
        assert ks_2samp(a, b) == (float(expected.statistic), float(expected.pvalue))


def test_statistic_is_symmetric_and_rounded_like_scipy() -> None:
    a, b = _samples(np.random.default_rng(3), 120, 45, 0.5, 1)
    raw = ks_statistic(a, b)
    assert raw == ks_statistic(b, a)
    assert ks_rounded(raw, 120, 45) == float(stats.ks_2samp(a, b).statistic)
    assert ks_pvalue(raw, 120, 45) == ks_pvalue(raw, 45, 120)
    assert ks_2samp([1.0, 2.0], [1.0, 2.0]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="at least one"):
        ks_2samp([], [1.0])


def test_large_samples_decide_like_scipy() -> None:
    """Above MAX_EXACT scipy uses kstwo at n = mn/(m+n), leakcheck the corrected limit: decisions agree."""
    rng = np.random.default_rng(11)
    for threshold in (1e-3 / 6, 1e-3, 0.05):
        agree = 0
        for trial in range(40):
            n1, n2 = MAX_EXACT + 1 + int(rng.integers(0, 20_000)), int(rng.integers(500, 15_000))
            # Shifts that put p around the thresholds, where a disagreement could happen.
            a, b = _samples(rng, n1, n2, float(rng.uniform(0.0, 0.12)), 2)
            expected = float(stats.ks_2samp(a, b).pvalue)
            d, p = ks_2samp(a, b)
            assert d == float(stats.ks_2samp(a, b).statistic)
            assert p == pytest.approx(expected, rel=0.05) or max(p, expected) < 1e-12, trial
            agree += (p <= threshold) == (expected <= threshold)
        assert agree == 40, threshold


def test_kolmogorov_limit_equals_scipy_kstwobign() -> None:
    for x in (0.0, 0.05, 0.3, 0.8, 0.99, 1.0, 1.2, 1.8, 2.5, 4.0, 6.0):
        assert kolmogorov_sf(x) == pytest.approx(float(stats.kstwobign.sf(x)), rel=1e-9, abs=1e-300)


def test_a_scan_never_imports_scipy_stats() -> None:
    # (scipy.stats costs ~0.6 s to import; the near-duplicate verifier's scipy.fft, ~0.15 s, is allowed.)
    code = (
        "import sys, leakcheck, numpy as np\n"
        "x = np.random.default_rng(0).integers(0, 255, (60, 16, 16, 3), dtype=np.uint8)\n"
        "y = np.random.default_rng(1).integers(0, 120, (40, 12, 12, 3), dtype=np.uint8)\n"
        "report = leakcheck.scan_arrays({'train': x, 'test': y})\n"
        "assert any(f.check == 'split-drift' for f in report.findings), report.findings\n"
        "print(sorted(m for m in sys.modules if m == 'scipy.stats' or m.startswith('scipy.stats.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
