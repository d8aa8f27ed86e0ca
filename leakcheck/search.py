"""Hamming-distance search over 64-bit hashes.

Blocked brute force: exact by construction, O(n^2 / 2) popcounts in numpy blocks of bounded memory.
It is the oracle any faster index must match.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_BLOCK = 2048


def hamming_pairs(
    codes: NDArray[np.uint64], max_distance: int, *, block: int = _BLOCK
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.uint8]]:
    """All pairs i < j with popcount(codes[i] ^ codes[j]) <= max_distance, sorted by (i, j).

    Memory is bounded by `block * block` bytes whatever the number of codes.
    """
    if max_distance < 0:
        raise ValueError("max_distance must be >= 0")
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    n = codes.shape[0]
    out_i: list[NDArray[np.intp]] = []
    out_j: list[NDArray[np.intp]] = []
    out_d: list[NDArray[np.uint8]] = []
    for start in range(0, n, block):
        rows = codes[start : start + block]
        for cstart in range(start, n, block):
            cols = codes[cstart : cstart + block]
            dist = np.bitwise_count(rows[:, None] ^ cols[None, :])
            mask = dist <= max_distance
            if cstart == start:
                mask &= np.triu(np.ones(mask.shape, dtype=bool), k=1)
            ii, jj = np.nonzero(mask)
            if ii.size:
                out_i.append(ii + start)
                out_j.append(jj + cstart)
                out_d.append(dist[ii, jj].astype(np.uint8))
    if not out_i:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty.copy(), np.empty(0, dtype=np.uint8)
    i = np.concatenate(out_i)
    j = np.concatenate(out_j)
    d = np.concatenate(out_d)
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]
