"""Hamming-distance search over 64-bit hashes: every pair of codes within a radius, exactly.

Two exact methods, chosen by a cost model (`plan_search`):

- **Blocked brute force**: O(n^2 / 2) popcounts in numpy blocks of bounded memory. Exact by
  construction and the oracle the faster method is tested against; the cheaper one for small sets.
- **Multi-index hashing** (Norouzi, Punjani and Fleet, CVPR 2012) with the generalised pigeonhole
  principle: split the (informative) bits into `m` chunks with thresholds `t_1 + ... + t_m = r - m + 1`;
  two codes within distance `r` are within `t_c` on at least one chunk `c` (otherwise their distance
  would be at least `sum(t_c + 1) = r + 1`). For each chunk, the codes are bucketed by chunk value and
  every pair of occupied buckets within `t_c` is found with whole-bitmap operations, one flip mask at a
  time. Candidates are verified on all 64 bits, so the result equals brute force; a pair found through
  several chunks is kept only from the first one.

Work per chunk is `V(s, t)` bitmap passes over `2^s` bits plus `n^2 / 2 * V(s, t) / 2^s` candidates
(`V` is the volume of a Hamming ball of radius `t` in `s` bits). The planner picks the widths and
thresholds (a knapsack over this cost); the best `s` is near `log2(n)`, so buckets hold O(1) codes, but
`t` then grows with `s` and the work per code grows like `n^H(r/64)` (binary entropy): linear at small
radii, about n^1.4 at radius 10 between 125k and 1M codes (docs/performance.md). Memory is bounded by
the block sizes, not by `n^2`; pairs are produced block by block.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from numpy.typing import NDArray

_BLOCK = 2048
# Elements of one probe block (queries x flip masks): ~4 million keeps each step's arrays around 32 MB.
_PROBE_ELEMENTS = 1 << 22
# Chunks wider than this would need bucket tables above 16 MB; the cost model never needs them.
_MAX_CHUNK_BITS = 24
# The cost model, in units of one brute-force pair (a vectorised XOR and popcount): a candidate pair is a
# few random gathers; each flip mask costs a pass over the chunk's bitmap plus a fixed Python overhead.
_CANDIDATE_COST = 4.0
_MASK_OVERHEAD = 20_000.0
# Bitmaps are handled as 64-bit words, so a chunk has at least 6 bits.
_MIN_CHUNK_BITS = 6

PairBlock = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.uint8]]
PositionPairs = tuple[NDArray[np.intp], NDArray[np.intp]]
# Candidate pairs expanded at once: bounds the working memory (about 100 MB at 1 << 20: an expanded pair
# and its checks take about 100 bytes) whatever the bucket sizes.
_EXPAND_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How `iter_hamming_pairs` searches: brute force (`chunks == ()`) or multi-index hashing.

    `chunks` holds (shift, bits, threshold) per chunk, least significant chunk first.
    """

    chunks: tuple[tuple[int, int, int], ...]
    cost: float

    @property
    def brute_force(self) -> bool:
        return not self.chunks


@cache
def _ball_volume(bits: int, radius: int) -> int:
    return sum(math.comb(bits, k) for k in range(min(radius, bits) + 1))


@cache
def _flip_masks(bits: int, radius: int) -> NDArray[np.uint32]:
    """Every `bits`-bit value with at most `radius` bits set, lightest first."""
    masks = [0]
    for k in range(1, min(radius, bits) + 1):
        masks.extend(sum(1 << b for b in combo) for combo in itertools.combinations(range(bits), k))
    return np.array(masks, dtype=np.uint32)


def _chunk_cost(n: int, width: int, threshold: int) -> float:
    volume = _ball_volume(width, threshold)
    return volume * (_MASK_OVERHEAD + 2.0**width / 8) + _CANDIDATE_COST * n * n / 2 * volume / 2.0**width


def plan_search(n: int, max_distance: int, *, bits: int = 64) -> SearchPlan:
    """The cheapest exact plan for `n` codes and this radius, by the cost model in the module docstring.

    `bits` is how many (low) bits of the codes can differ; the others are equal in every code.
    """
    return _plan(n, max_distance, bits)


@lru_cache(maxsize=256)
def _plan(n: int, max_distance: int, bits: int) -> SearchPlan:
    brute = SearchPlan((), n * (n - 1) / 2)
    need = max_distance + 1
    if brute.cost <= _MASK_OVERHEAD or need > bits:
        return brute  # every multi-index plan costs more than one flip mask; or no pigeonhole exists
    # Chunks of any widths (together at most `bits`) with thresholds summing to r + 1 - m: a knapsack over
    # (bits used, sum of threshold + 1), cheapest first. Bits left out of every chunk are simply not indexed.
    options = [
        (width, t, _chunk_cost(n, width, t))
        for width in range(_MIN_CHUNK_BITS, min(bits, _MAX_CHUNK_BITS) + 1)
        for t in range(min(need, width))
    ]
    best: dict[tuple[int, int], tuple[float, tuple[tuple[int, int], ...]]] = {(0, 0): (0.0, ())}
    for used in range(bits + 1):
        for spent in range(need):
            here = best.get((used, spent))
            if here is None:
                continue
            for width, t, cost in options:
                key = (used + width, spent + t + 1)
                if key[0] > bits or key[1] > need:
                    continue
                total = here[0] + cost
                old = best.get(key)
                if old is None or total < old[0]:
                    best[key] = (total, (*here[1], (width, t)))
    done = [value for (_, spent), value in best.items() if spent == need]
    if not done:
        return brute
    cost, chunks = min(done)
    if cost >= brute.cost:
        return brute
    shifts = np.cumsum([0] + [width for width, _ in chunks[:-1]]).tolist()
    return SearchPlan(tuple((shift, width, t) for shift, (width, t) in zip(shifts, chunks, strict=True)), cost)


def hamming_pairs(
    codes: NDArray[np.uint64], max_distance: int, *, block: int = _BLOCK
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.uint8]]:
    """All pairs i < j with popcount(codes[i] ^ codes[j]) <= max_distance, sorted by (i, j).

    Exact whatever the method; memory beyond the result is bounded whatever the number of codes.
    """
    blocks = list(iter_hamming_pairs(codes, max_distance, block=block))
    if not blocks:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty.copy(), np.empty(0, dtype=np.uint8)
    i = np.concatenate([b[0] for b in blocks])
    j = np.concatenate([b[1] for b in blocks])
    d = np.concatenate([b[2] for b in blocks])
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]


def iter_hamming_pairs(
    codes: NDArray[np.uint64],
    max_distance: int,
    *,
    plan: SearchPlan | None = None,
    block: int = _BLOCK,
    on_checked: Callable[[int], None] | None = None,
) -> Iterator[PairBlock]:
    """The pairs of `hamming_pairs`, as a stream of (i, j, distance) blocks in no particular order.

    Each pair i < j appears exactly once. `plan` forces a method (tests compare the two); without it,
    bits that are equal in every code (the DC bit of a pHash is always set) are left out of the index and
    the plan is made for the bits that remain. `on_checked` is called with the number of candidate pairs
    verified on all 64 bits, block by block (the benchmark counts them).
    """
    if max_distance < 0:
        raise ValueError("max_distance must be >= 0")
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    if codes.ndim != 1:
        raise ValueError("codes must be a one-dimensional array")
    n = codes.shape[0]
    if plan is None:
        varying = int(np.bitwise_or.reduce(codes ^ codes[0])) if n else 0
        plan = plan_search(n, max_distance, bits=varying.bit_count())
        if not plan.brute_force and varying != (1 << 64) - 1:
            codes = _gather_bits(codes, varying)  # same distances, informative bits at the bottom
    if plan.brute_force:
        if on_checked is not None:
            on_checked(n * (n - 1) // 2)
        yield from _brute_force(codes, max_distance, block)
    else:
        yield from _multi_index(codes, max_distance, plan.chunks, on_checked)


def _gather_bits(codes: NDArray[np.uint64], keep: int) -> NDArray[np.uint64]:
    """The bits of `keep` moved to the low end, in order, the others cleared (a PEXT), by byte tables."""
    rank = np.cumsum([keep >> b & 1 for b in range(64)]) - 1
    out = np.zeros_like(codes)
    values = np.arange(256)
    for byte in range(8):
        table = np.zeros(256, dtype=np.uint64)
        for b in range(8):
            if keep >> (8 * byte + b) & 1:
                table[(values >> b & 1) == 1] |= np.uint64(1 << int(rank[8 * byte + b]))
        if table.any():
            out |= table[(codes >> np.uint64(8 * byte)) & np.uint64(0xFF)]
    return out


def _brute_force(codes: NDArray[np.uint64], max_distance: int, block: int) -> Iterator[PairBlock]:
    n = codes.shape[0]
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
                yield ii + start, jj + cstart, dist[ii, jj].astype(np.uint8)


def _chunk_values(codes: NDArray[np.uint64], shift: int, bits: int) -> NDArray[np.uint32]:
    return ((codes >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.uint32)


# _SWAP[k] has the bits whose position has bit k clear: XOR-ing a bit position with 2^k swaps them
# with their partners, which is how a flip mask's low six bits permute the bits inside a 64-bit word.
_SWAP = tuple(np.uint64(sum(1 << p for p in range(64) if not (p >> k) & 1)) for k in range(6))


def _swapped(words: NDArray[np.uint64], low: int) -> NDArray[np.uint64]:
    """The bitmap with bit p of every word moved to bit p ^ low (low < 64)."""
    for k in range(6):
        if low >> k & 1:
            step = np.uint64(1 << k)
            words = ((words & _SWAP[k]) << step) | ((words >> step) & _SWAP[k])
    return words


class _ChunkTable:
    """The codes bucketed by one chunk's value; occupied and shared buckets as packed bitmaps."""

    def __init__(self, codes: NDArray[np.uint64], shift: int, bits: int) -> None:
        values = _chunk_values(codes, shift, bits)
        counts = np.bincount(values, minlength=1 << bits)
        self.counts = counts
        self.starts = np.zeros((1 << bits) + 1, dtype=np.intp)
        np.cumsum(counts, out=self.starts[1:])
        # 32-bit offsets halve the memory traffic of the random gathers below.
        self.first = self.starts[:-1].astype(np.int32)
        self.order = np.argsort(values, kind="stable").astype(np.intp)
        self.sorted_codes = codes[self.order]
        # The code of each bucket's last member: for the singleton buckets (most of them), the code itself,
        # so that a pair of singletons is verified with two gathers instead of four.
        self.bucket_code = np.zeros(1 << bits, dtype=np.uint64)
        self.bucket_code[values] = codes
        self.occupied = np.packbits(counts > 0, bitorder="little").view(np.uint64)
        self.shared = np.packbits(counts > 1, bitorder="little").view(np.uint64)
        self.word_index = np.arange(self.occupied.size, dtype=np.intp)

    def partner_sets(self, flips: list[int]) -> Iterator[tuple[int, NDArray[np.intp], NDArray[np.intp]]]:
        """For each flip > 0, the values u < u ^ flip with both buckets occupied: (flip, both single, either
        shared).

        The bitmap of {u ^ flip} is the occupied bitmap with its bits permuted inside each 64-bit word by
        the flip's low six bits, then its words permuted by the rest. Flips are taken grouped by their low
        six bits, so that the costly in-word permutation is done once per group (at most 64), and each flip
        costs one gather of words.
        """
        groups: dict[int, list[int]] = {}
        for flip in flips:
            groups.setdefault(flip & 63, []).append(flip)
        for low, group in sorted(groups.items()):
            occupied, shared = _swapped(self.occupied, low), _swapped(self.shared, low)
            for flip in group:
                if flip >> 6:
                    words = self.word_index ^ (flip >> 6)
                    both = self.occupied & occupied[words]
                    either_shared = self.shared | shared[words]
                else:
                    both = self.occupied & occupied
                    either_shared = self.shared | shared
                top = flip.bit_length() - 1
                if top >= 6:
                    both.reshape(-1, 2, 1 << (top - 6))[:, 1, :] = 0
                else:
                    both &= _SWAP[top]
                either_shared &= both
                yield flip, _set_bits(both ^ either_shared), _set_bits(either_shared)

    def pairs_across(self, u: NDArray[np.intp], v: NDArray[np.intp]) -> Iterator[PositionPairs]:
        """Positions (in sorted order) of every (member of bucket u[k], member of bucket v[k]), in blocks
        of about `_EXPAND_LIMIT` pairs whatever the bucket sizes (skewed codes make large buckets)."""
        lengths = self.counts[u] * self.counts[v]
        huge = lengths > _EXPAND_LIMIT
        for uu, vv in zip(u[huge].tolist(), v[huge].tolist(), strict=True):
            yield from self._block_pairs(uu, vv)
        u, v, lengths = u[~huge], v[~huge], lengths[~huge]
        if not u.size:
            return
        ends = np.cumsum(lengths)
        cuts = np.searchsorted(ends, np.arange(_EXPAND_LIMIT, int(ends[-1]), _EXPAND_LIMIT), side="right")
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), u.size], strict=True):
            if lo < hi:
                yield self._expand(u[lo:hi], v[lo:hi], lengths[lo:hi])

    def _expand(self, u: NDArray[np.intp], v: NDArray[np.intp], lengths: NDArray[np.intp]) -> PositionPairs:
        owner = np.repeat(np.arange(u.size), lengths)
        rank = np.arange(owner.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        width = self.counts[v][owner]
        return self.starts[u][owner] + rank // width, self.starts[v][owner] + rank % width

    def _block_pairs(self, u: int, v: int) -> Iterator[PositionPairs]:
        """Every member pair of two large buckets, block by block."""
        a_lo, a_hi = int(self.starts[u]), int(self.starts[u + 1])
        b_lo, b_hi = int(self.starts[v]), int(self.starts[v + 1])
        side = math.isqrt(_EXPAND_LIMIT)
        for a0 in range(a_lo, a_hi, side):
            rows = np.arange(a0, min(a0 + side, a_hi))
            for b0 in range(b_lo, b_hi, side):
                cols = np.arange(b0, min(b0 + side, b_hi))
                yield np.repeat(rows, cols.size), np.tile(cols, rows.size)

    def pairs_within(self) -> Iterator[PositionPairs]:
        """Positions of every pair of members of the same bucket, each once."""
        shared = np.flatnonzero(self.counts > 1)
        for a, b in self.pairs_across(shared, shared):
            keep = a < b
            yield a[keep], b[keep]


_ONE = np.uint64(1)


def _set_bits(words: NDArray[np.uint64]) -> NDArray[np.intp]:
    """Indices of the set bits of a little-endian packed bitmap, in no particular order."""
    index = np.flatnonzero(words)
    rest = words[index]
    found: list[NDArray[np.intp]] = []
    # Peel the lowest set bit of every non-zero word at once; its position is the popcount below it.
    while index.size:
        lowest = rest & (~rest + _ONE)
        found.append(index * 64 + np.bitwise_count(lowest - _ONE))
        rest &= rest - _ONE
        alive = np.flatnonzero(rest)
        index, rest = index[alive], rest[alive]
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _multi_index(
    codes: NDArray[np.uint64],
    max_distance: int,
    chunks: tuple[tuple[int, int, int], ...],
    on_checked: Callable[[int], None] | None,
) -> Iterator[PairBlock]:
    for c, (shift, bits, threshold) in enumerate(chunks):
        table = _ChunkTable(codes, shift, bits)
        earlier = chunks[:c]
        flips = _flip_masks(bits, threshold).tolist()
        for a, b in table.pairs_within():  # flip 0: pairs inside one bucket
            yield from _verified(table, a, b, None, max_distance, earlier, on_checked)
        for flip, single, shared in table.partner_sets(flips[1:]):
            if single.size:
                # Singleton buckets (most of them when n < 2^bits): one member each, no expansion.
                partner = single ^ flip
                diff = table.bucket_code[single] ^ table.bucket_code[partner]
                yield from _verified(table, single, partner, diff, max_distance, earlier, on_checked)
            for a, b in table.pairs_across(shared, shared ^ flip):
                yield from _verified(table, a, b, None, max_distance, earlier, on_checked)


def _verified(
    table: _ChunkTable,
    a: NDArray[np.integer],
    b: NDArray[np.integer],
    diff: NDArray[np.uint64] | None,
    max_distance: int,
    earlier: tuple[tuple[int, int, int], ...],
    on_checked: Callable[[int], None] | None,
) -> Iterator[PairBlock]:
    """The candidate pairs within the radius, as code indices.

    `a` and `b` are positions in the table's sorted order, or, with `diff` (their codes' XOR) given, the
    buckets of singleton pairs.
    """
    if on_checked is not None:
        on_checked(a.size)
    singletons = diff is not None
    if diff is None:
        diff = table.sorted_codes[a] ^ table.sorted_codes[b]
    dist = np.bitwise_count(diff)
    near = np.flatnonzero(dist <= max_distance)
    if not near.size:
        return
    a, b, diff, dist = a[near], b[near], diff[near], dist[near]
    # A pair within an earlier chunk's threshold was already reported by that chunk.
    for eshift, ebits, ethreshold in earlier:
        fresh = np.bitwise_count(_chunk_values(diff, eshift, ebits)) > ethreshold
        a, b, diff, dist = a[fresh], b[fresh], diff[fresh], dist[fresh]
    if a.size:
        if singletons:
            a, b = table.first[a], table.first[b]
        i, j = table.order[a], table.order[b]
        yield np.minimum(i, j), np.maximum(i, j), dist.astype(np.uint8)
