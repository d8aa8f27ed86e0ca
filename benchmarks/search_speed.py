"""Near-duplicate search alone: 1,000,000 synthetic 64-bit fingerprints with planted near pairs.

Run from the repository root:

    PYTHONPATH=. python benchmarks/search_speed.py            # 250k, 500k and 1M codes, radius 10
    PYTHONPATH=. python benchmarks/search_speed.py --sizes 100000 --radius 12

For each size it prints the wall and CPU time of `leakcheck.search.hamming_pairs`, the plan it chose,
the pairs found, whether every planted pair was found, and the peak RSS. Recall against brute force
is checked exactly on a subsample (every code of the subsample against every other), and the brute
force time is extrapolated from that subsample (it is O(n^2)). The codes are uniform random, the hard
case for the index: real pHashes cluster more, which leaves more candidates to verify.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from numpy.typing import NDArray

from leakcheck.search import SearchPlan, hamming_pairs, iter_hamming_pairs, plan_search


def synthetic_codes(n: int, planted: int, radius: int, seed: int) -> tuple[NDArray[np.uint64], NDArray[np.intp]]:
    """n random codes in which `planted` pairs (returned as rows of indices) are within `radius` bits."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    picks = rng.choice(n, size=2 * planted, replace=False)
    src, dst = picks[:planted], picks[planted:]
    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        flips = rng.choice(64, size=int(rng.integers(0, radius + 1)), replace=False)
        code = int(codes[s])
        for bit in flips.tolist():
            code ^= 1 << bit
        codes[d] = code
    return codes, np.stack([np.minimum(src, dst), np.maximum(src, dst)], axis=1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--planted", type=int, default=10_000)
    parser.add_argument("--subsample", type=int, default=40_000, help="codes checked against brute force")
    args = parser.parse_args()

    print(f"radius {args.radius}, {args.planted:,} planted pairs per set")
    print(f"{'codes':>10} {'wall s':>8} {'cpu s':>8} {'pairs':>8} {'planted found':>14} {'peak RSS MB':>12}  plan")
    rows = []
    for n in args.sizes:
        codes, planted = synthetic_codes(n, min(args.planted, n // 4), args.radius, seed=n)
        plan = plan_search(n, args.radius)
        wall, cpu = time.perf_counter(), time.process_time()
        i, j, _ = hamming_pairs(codes, args.radius)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        found = set(zip(i.tolist(), j.tolist(), strict=True))
        hits = sum((a, b) in found for a, b in planted.tolist())
        chunks = " ".join(f"{bits}b/t{t}" for _, bits, t in plan.chunks) or "brute force"
        print(f"{n:>10,} {wall:>8.1f} {cpu:>8.1f} {len(found):>8,} {hits:>7,}/{len(planted):<6,} "
              f"{peak_rss_mb():>12.0f}  {chunks}")  # fmt: skip
        rows.append((n, wall, cpu))
    if len(rows) > 1:
        (n0, w0, c0), (n1, w1, c1) = rows[0], rows[-1]
        print(f"scaling {n0:,} -> {n1:,} codes (x{n1 / n0:.1f}): wall x{w1 / w0:.2f}, cpu x{c1 / c0:.2f} "
              f"(linear x{n1 / n0:.1f}, quadratic x{(n1 / n0) ** 2:.1f})")  # fmt: skip

    # Recall: the index against brute force on a subsample of the largest set, planted pairs included.
    n = args.sizes[-1]
    codes, planted = synthetic_codes(n, min(args.planted, n // 4), args.radius, seed=n)
    rng = np.random.default_rng(1)
    keep = np.unique(np.concatenate([planted[: args.subsample // 4].ravel(), rng.choice(n, args.subsample, False)]))
    sub = codes[keep[: args.subsample]]
    fast_plan = plan_search(n, args.radius)  # the plan used on the full set, forced on the subsample
    fast = {(int(a), int(b)) for ii, jj, _ in iter_hamming_pairs(sub, args.radius, plan=fast_plan)
            for a, b in zip(ii, jj, strict=True)}  # fmt: skip
    wall = time.perf_counter()
    brute = {(int(a), int(b)) for ii, jj, _ in iter_hamming_pairs(sub, args.radius, plan=SearchPlan((), 0.0))
             for a, b in zip(ii, jj, strict=True)}  # fmt: skip
    brute_s = time.perf_counter() - wall
    recall = len(fast & brute) / len(brute) if brute else 1.0
    print(f"recall vs brute force on {sub.size:,} codes: {recall:.4f} ({len(fast & brute):,} of {len(brute):,} pairs,"
          f" {len(fast - brute)} extra)")  # fmt: skip
    full_brute = brute_s * (n / sub.size) ** 2
    print(f"brute force: {brute_s:.1f} s for {sub.size:,} codes, so about {full_brute:,.0f} s for {n:,} "
          f"(the index: {rows[-1][1]:.1f} s, x{full_brute / rows[-1][1]:.0f} faster)")  # fmt: skip
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
