"""Near-duplicate search alone: up to 1,000,000 synthetic 64-bit fingerprints with planted near pairs.

Run from the repository root:

    PYTHONPATH=. python benchmarks/search_speed.py             # 125k .. 1M codes, radius 10, both distributions
    PYTHONPATH=. python benchmarks/search_speed.py --sizes 100000 200000 --radius 14 --distributions uniform

Each size runs in a fresh child process, so that its peak RSS is its own. For each it prints the wall and
CPU time of `leakcheck.search.hamming_pairs`, the candidate pairs verified on all 64 bits (the work that
grows faster than n), the pairs found, whether every planted pair was found at its planted distance, the
peak RSS and the plan. Then it fits the growth exponent k of time ~ n^k and candidates ~ n^k over the
sizes (least squares on logs), and checks recall against brute force exactly on a subsample of the
largest set (the plan made for the full set, forced on the subsample, against every pair of it).

Two distributions of codes:

- `uniform`: independent uniform random 64-bit codes.
- `clustered`: pHash-like. Real pHashes have one constant bit (the DC coefficient is always above the
  median: bit 63 is set in all 275 Food-101 sample photos) and more spread in their distances than
  random codes (standard deviation 4.3 bits over the sample's pairs, against 4.0). Here every code is a
  cluster centre with each bit flipped with probability 5/16 (pairs in one cluster: 27.5 bits apart);
  there are n/20 centres, drawn with skewed sizes (centre index floor(K u^2)), and bit 63 is always set.

In both, `--planted` pairs are copies of a random code with exactly d distinct bits flipped, d uniform
in 0..radius (never bit 63 in `clustered`).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np
from numpy.typing import NDArray

from leakcheck.search import SearchPlan, iter_hamming_pairs, plan_search

DISTRIBUTIONS = ("uniform", "clustered")


def synthetic_codes(
    n: int, planted: int, radius: int, seed: int, distribution: str = "uniform"
) -> tuple[NDArray[np.uint64], NDArray[np.intp]]:
    """n codes in which `planted` pairs are exactly d bits apart; the pairs as rows (i, j, d) with i < j."""
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        codes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
        free_bits = 64
    elif distribution == "clustered":
        k = max(1, n // 20)
        centres = rng.integers(0, 2**64 - 1, k, dtype=np.uint64, endpoint=True)
        member_of = (k * rng.random(n) ** 2).astype(np.intp)
        # Each bit set with probability 5/16: a uniform 4-bit number below 5, bit-sliced over four words.
        b0, b1, b2, b3 = (rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True) for _ in range(4))
        noise = ~b3 & (~b2 | (~b1 & ~b0))
        codes = (centres[member_of] ^ noise) | np.uint64(1 << 63)
        free_bits = 63
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    picks = rng.choice(n, size=2 * planted, replace=False)
    src, dst = picks[:planted], picks[planted:]
    distance = rng.integers(0, radius + 1, planted)
    for s, d, k in zip(src.tolist(), dst.tolist(), distance.tolist(), strict=True):
        code = int(codes[s])
        for bit in rng.choice(free_bits, size=k, replace=False).tolist():
            code ^= 1 << bit
        codes[d] = code
    return codes, np.stack([np.minimum(src, dst), np.maximum(src, dst), distance], axis=1)


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM: ru_maxrss would also count the parent's
    memory at the time it started this process (the kernel carries it across exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def informative_bits(codes: NDArray[np.uint64]) -> int:
    """How many bits differ somewhere among the codes: what `iter_hamming_pairs` plans for."""
    return int(np.bitwise_or.reduce(codes ^ codes[0])).bit_count()


def measure_one(n: int, radius: int, planted: int, distribution: str) -> dict[str, object]:
    """One size, in this process: the figures of one table row."""
    codes, plant = synthetic_codes(n, min(planted, n // 4), radius, seed=n, distribution=distribution)
    plan = plan_search(n, radius, bits=informative_bits(codes))
    checked = [0]

    def count(k: int) -> None:
        checked[0] += k

    wall, cpu = time.perf_counter(), time.process_time()
    blocks = list(iter_hamming_pairs(codes, radius, on_checked=count))
    i = np.concatenate([b[0] for b in blocks])
    j = np.concatenate([b[1] for b in blocks])
    d = np.concatenate([b[2] for b in blocks]).astype(np.intp)
    order = np.lexsort((j, i))  # what hamming_pairs returns: sorted pairs
    i, j, d = i[order], j[order], d[order]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    found = dict(zip(zip(i.tolist(), j.tolist(), strict=True), d.tolist(), strict=True))
    hits = sum(found.get((a, b)) == k for a, b, k in plant.tolist())
    return {
        "n": n,
        "wall": wall,
        "cpu": cpu,
        "checked": checked[0],
        "pairs": len(found),
        "hits": hits,
        "planted": len(plant),
        "rss": peak_rss_mb(),
        "plan": " ".join(f"{bits}b/t{t}" for _, bits, t in plan.chunks) or "brute force",
        "model_cost": plan.cost,
    }


def fitted_exponent(sizes: list[float], values: list[float]) -> float:
    """The slope k of log(value) = k log(n) + c, least squares."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def recall(n: int, radius: int, planted: int, subsample: int, distribution: str) -> None:
    """The index against brute force on a subsample of the largest set, planted pairs included."""
    codes, plant = synthetic_codes(n, min(planted, n // 4), radius, seed=n, distribution=distribution)
    rng = np.random.default_rng(1)
    keep = np.unique(np.concatenate([plant[: subsample // 4, :2].ravel(), rng.choice(n, subsample, False)]))
    sub = codes[keep[:subsample]]
    fast_plan = plan_search(n, radius, bits=informative_bits(codes))  # the full set's plan, forced
    fast = {(int(a), int(b), int(c)) for ii, jj, dd in iter_hamming_pairs(sub, radius, plan=fast_plan)
            for a, b, c in zip(ii, jj, dd, strict=True)}  # fmt: skip
    wall = time.perf_counter()
    brute = {(int(a), int(b), int(c)) for ii, jj, dd in iter_hamming_pairs(sub, radius, plan=SearchPlan((), 0.0))
             for a, b, c in zip(ii, jj, dd, strict=True)}  # fmt: skip
    brute_s = time.perf_counter() - wall
    share = len(fast & brute) / len(brute) if brute else 1.0
    print(f"  recall vs brute force on {sub.size:,} codes: {share:.4f} ({len(fast & brute):,} of {len(brute):,} "
          f"pairs, {len(fast - brute)} extra); brute force took {brute_s:.1f} s wall, so about "
          f"{brute_s * (n / sub.size) ** 2:,.0f} s for {n:,} codes")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[125_000, 250_000, 500_000, 1_000_000])
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--planted", type=int, default=10_000)
    parser.add_argument("--subsample", type=int, default=30_000, help="codes checked against brute force")
    parser.add_argument("--distributions", nargs="+", choices=DISTRIBUTIONS, default=list(DISTRIBUTIONS))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one size in a child process
    args = parser.parse_args()
    if args.one:
        n, distribution = args.one.split(":")
        print(json.dumps(measure_one(int(n), args.radius, args.planted, distribution)))
        return

    print(f"radius {args.radius}, up to {args.planted:,} planted pairs per set; each size in a fresh process")
    for distribution in args.distributions:
        print(f"\n{distribution}")
        print(f"{'codes':>10} {'wall s':>7} {'cpu s':>7} {'candidates':>12} {'per code':>9} {'pairs':>8} "
              f"{'planted found':>14} {'peak RSS MB':>11}  plan")  # fmt: skip
        rows = []
        for n in args.sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--one", f"{n}:{distribution}", "--radius", str(args.radius),
                 "--planted", str(args.planted)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{n:>10,} {row['wall']:>7.1f} {row['cpu']:>7.1f} {row['checked']:>12,} "
                  f"{row['checked'] / n:>9,.0f} {row['pairs']:>8,} {row['hits']:>6,}/{row['planted']:<7,} "
                  f"{row['rss']:>11.0f}  {row['plan']}")  # fmt: skip
        if len(rows) > 1:
            sizes = [float(r["n"]) for r in rows]
            fits = {key: fitted_exponent(sizes, [max(float(r[key]), 1e-9) for r in rows])
                    for key in ("cpu", "wall", "checked", "model_cost")}  # fmt: skip
            print(f"  fitted exponent k (~ n^k) over {rows[0]['n']:,}..{rows[-1]['n']:,}: cpu {fits['cpu']:.2f}, "
                  f"wall {fits['wall']:.2f}, candidates {fits['checked']:.2f}, cost model {fits['model_cost']:.2f} "
                  f"(linear 1, brute force 2)")  # fmt: skip
        recall(args.sizes[-1], args.radius, args.planted, args.subsample, distribution)
    print(f"\nthis process's peak RSS {peak_rss_mb():.0f} MB; "
          f"log2 of the largest size: {math.log2(args.sizes[-1]):.1f} bits")  # fmt: skip


if __name__ == "__main__":
    main()
