"""The fast Hamming search against the brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakcheck import search
from leakcheck.search import SearchPlan, hamming_pairs, iter_hamming_pairs, plan_search

BRUTE = SearchPlan((), 0.0)


def _pairs(codes: np.ndarray, radius: int, plan: SearchPlan) -> list[tuple[int, int, int]]:
    rows = [t for i, j, d in iter_hamming_pairs(codes, radius, plan=plan) for t in zip(i, j, d, strict=True)]
    return sorted((int(i), int(j), int(d)) for i, j, d in rows)


@st.composite
def code_sets(draw: st.DrawFn) -> np.ndarray:
    """Random 64-bit codes, some of them copies of others with a few bits flipped (the interesting pairs)."""
    base = draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=60))
    codes = list(base)
    for _ in range(draw(st.integers(0, 60))):
        src = draw(st.sampled_from(base))
        flips = draw(st.lists(st.integers(0, 63), max_size=14))
        for bit in flips:
            src ^= 1 << bit
        codes.append(src)
    order = draw(st.permutations(range(len(codes))))
    return np.array([codes[k] for k in order], dtype=np.uint64)


@settings(max_examples=100, deadline=None)
@given(
    codes=code_sets(),
    radius=st.integers(0, 12),
    planned_for=st.sampled_from([5_000, 10**5, 125_000, 10**6]),
    bits=st.sampled_from([64, 63, 50]),
)
def test_multi_index_hashing_equals_brute_force(codes: np.ndarray, radius: int, planned_for: int, bits: int) -> None:
    # Plans made for larger sets use other chunkings (and plans for fewer informative bits index fewer bits);
    # every one of them must find exactly the oracle's pairs.
    plan = plan_search(planned_for, radius, bits=bits)
    assert _pairs(codes, radius, plan) == _pairs(codes, radius, BRUTE)


@pytest.mark.parametrize("radius", [0, 1, 6, 10, 12])
def test_every_pair_once_and_sorted(radius: int) -> None:
    rng = np.random.default_rng(radius)
    base = rng.integers(0, 2**64 - 1, 3000, dtype=np.uint64, endpoint=True)
    flips = np.uint64(1) << rng.integers(0, 64, 1000).astype(np.uint64)
    codes = np.concatenate([base, base[:1000] ^ flips, base[:500]])
    i, j, d = hamming_pairs(codes, radius)
    assert bool((i < j).all())
    assert np.array_equal(np.lexsort((j, i)), np.arange(i.size))
    assert np.array_equal(d, np.bitwise_count(codes[i] ^ codes[j]))
    fast = _pairs(codes, radius, plan_search(10**6, radius))
    assert fast == _pairs(codes, radius, BRUTE)
    assert fast == list(zip(i.tolist(), j.tolist(), d.tolist(), strict=True))
    assert len(fast) >= 500 + (1000 if radius else 0)  # the planted copies are found


def test_plan_is_multi_index_for_large_sets_and_brute_force_for_small() -> None:
    assert plan_search(10**6, 10).chunks
    assert plan_search(50, 10).brute_force
    # Radius 64 matches everything: no pigeonhole helps.
    assert plan_search(10**6, 64).brute_force


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="max_distance"):
        hamming_pairs(np.zeros(3, dtype=np.uint64), -1)
    with pytest.raises(ValueError, match="one-dimensional"):
        hamming_pairs(np.zeros((2, 2), dtype=np.uint64), 1)


@pytest.mark.parametrize("radius", [3, 10])
def test_skewed_codes_are_expanded_in_bounded_blocks(radius: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Real hashes are not uniform: here every code shares its low 40 bits, so the low chunks hold one
    # bucket of 3,000 codes, far above the (lowered) expansion limit.
    monkeypatch.setattr(search, "_EXPAND_LIMIT", 1000)
    rng = np.random.default_rng(radius)
    high = rng.integers(0, 2**24, 3000, dtype=np.uint64) << np.uint64(40)
    codes = high | np.uint64(0x12_3456_789A)
    sizes: list[int] = []
    real = search._ChunkTable._expand

    def spy(self: search._ChunkTable, *args: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = real(self, *args)
        sizes.append(out[0].size)
        return out

    monkeypatch.setattr(search._ChunkTable, "_expand", spy)
    plan = plan_search(10**6, radius)
    assert _pairs(codes, radius, plan) == _pairs(codes, radius, BRUTE)
    assert max(sizes, default=0) <= 2 * 1000


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 10**7), radius=st.integers(0, 40), bits=st.integers(0, 64))
def test_plans_keep_the_pigeonhole(n: int, radius: int, bits: int) -> None:
    plan = search.plan_search(n, radius, bits=bits)
    if plan.brute_force:
        return
    shift = 0
    for chunk_shift, width, threshold in plan.chunks:
        assert chunk_shift == shift  # contiguous chunks from bit 0, inside the informative bits
        assert search._MIN_CHUNK_BITS <= width <= search._MAX_CHUNK_BITS
        assert 0 <= threshold < width
        shift += width
    assert shift <= bits
    # Any pair within the radius is within some chunk's threshold.
    assert sum(t + 1 for _, _, t in plan.chunks) == radius + 1


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.integers(0, 2**64 - 1), max_size=40))
def test_set_bits_of_a_bitmap(words: list[int]) -> None:
    bitmap = np.array(words, dtype=np.uint64)
    expected = np.flatnonzero(np.unpackbits(bitmap.view(np.uint8), bitorder="little"))
    assert np.array_equal(np.sort(search._set_bits(bitmap)), expected)


@settings(max_examples=100, deadline=None)
@given(codes=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20), keep=st.integers(0, 2**64 - 1))
def test_gather_bits_is_pext(codes: list[int], keep: int) -> None:
    kept = [b for b in range(64) if keep >> b & 1]
    expected = [sum((c >> b & 1) << k for k, b in enumerate(kept)) for c in codes]
    assert search._gather_bits(np.array(codes, dtype=np.uint64), keep).tolist() == expected


@pytest.mark.parametrize("radius", [0, 4, 10])
def test_constant_bits_are_left_out_and_pairs_stay_exact(radius: int) -> None:
    # pHash-like: bit 63 is set in every code and bits 20-27 are clear, so the plan is made for 55 bits.
    rng = np.random.default_rng(radius)
    base = rng.integers(0, 2**64 - 1, 3000, dtype=np.uint64, endpoint=True)
    flips = rng.integers(0, 2**64 - 1, 1500, dtype=np.uint64, endpoint=True)
    sparse = flips & rng.integers(0, 2**64 - 1, 1500, dtype=np.uint64, endpoint=True) & (flips >> np.uint64(3))
    codes = np.concatenate([base, base[:1500] ^ sparse])
    codes = (codes | np.uint64(1 << 63)) & ~np.uint64(0xFF << 20)
    assert not search.plan_search(codes.size, radius, bits=55).brute_force
    checked: list[int] = []
    fast = sorted(
        (int(a), int(b), int(c))
        for i, j, d in iter_hamming_pairs(codes, radius, on_checked=checked.append)
        for a, b, c in zip(i, j, d, strict=True)
    )
    assert fast == _pairs(codes, radius, BRUTE)
    assert 0 < sum(checked) < codes.size * (codes.size - 1) // 2
    assert sum(checked) >= len(fast)


def test_brute_force_checks_every_pair() -> None:
    checked: list[int] = []
    codes = np.arange(100, dtype=np.uint64)
    list(iter_hamming_pairs(codes, 3, plan=BRUTE, on_checked=checked.append))
    assert sum(checked) == 100 * 99 // 2
