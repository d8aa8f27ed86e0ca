"""The Hamming search against a brute-force oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from leakcheck.search import hamming_pairs

codes_st = st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=0, max_size=60)


def _oracle(codes: list[int], radius: int) -> list[tuple[int, int, int]]:
    return [
        (i, j, (a ^ b).bit_count())
        for i, a in enumerate(codes)
        for j, b in enumerate(codes)
        if i < j and (a ^ b).bit_count() <= radius
    ]


def _near_copies(draw: st.DrawFn) -> list[int]:
    base = draw(codes_st)
    flips = draw(st.lists(st.tuples(st.integers(0, 59), st.integers(0, 63)), max_size=40))
    out = list(base)
    for idx, bit in flips:
        if base:
            out.append(base[idx % len(base)] ^ (1 << bit))
    return out


@settings(max_examples=200, deadline=None)
@given(codes=st.composite(_near_copies)(), radius=st.integers(0, 64), block=st.integers(1, 17))
def test_matches_brute_force(codes: list[int], radius: int, block: int) -> None:
    i, j, d = hamming_pairs(np.array(codes, dtype=np.uint64), radius, block=block)
    assert list(zip(i.tolist(), j.tolist(), d.tolist(), strict=True)) == _oracle(codes, radius)


def test_empty_and_single() -> None:
    for codes in ([], [5]):
        i, j, d = hamming_pairs(np.array(codes, dtype=np.uint64), 10)
        assert i.size == j.size == d.size == 0
