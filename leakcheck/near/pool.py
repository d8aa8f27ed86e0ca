"""Verification on several cores: forked workers read the prepared pairs from the parent's memory.

Each pair's verification is independent of the others (`verify_batch` gives every pair the same
arithmetic however pairs are batched), so splitting the pairs across processes changes no result. Only
the pairs' positions go to the workers and only the verdicts come back: the prepared arrays (about
17 KB an image) are shared copy-on-write, never pickled.
"""

from __future__ import annotations

import gc
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from leakcheck.near.verify import Hypothesis, Prepared, Verdict, verify_batch

Job = tuple[Prepared, Prepared, Sequence[Hypothesis]]
# Below this many pairs, starting workers costs more than a second core saves (a pair takes ~2 ms).
MIN_PARALLEL = 256
# Slices per worker (load balance: some pairs try more hypotheses than others) and the smallest slice
# (batches of pairs amortise numpy's per-call cost).
_SLICES_PER_WORKER = 6
_MIN_SLICE = 96

# The jobs of the verification in progress, inherited by forked workers.
_JOBS: Sequence[Job] = ()


def _verify_slice(start: int, stop: int) -> list[Verdict | None]:
    return verify_batch(_JOBS[start:stop])


def verify_parallel(
    jobs: Sequence[Job], workers: int, advance: Callable[[int], None] | None = None
) -> list[Verdict | None]:
    """`verify_batch(jobs)`, on up to `workers` processes where that pays (Linux, enough pairs);
    `advance(n)` is told as each slice of n pairs is done."""
    global _JOBS
    size = max(_MIN_SLICE, -(-len(jobs) // (max(workers, 1) * _SLICES_PER_WORKER)))
    starts = range(0, len(jobs), size)
    if workers <= 1 or len(jobs) < MIN_PARALLEL or sys.platform != "linux":
        out: list[Verdict | None] = []
        for s in starts:
            out.extend(verify_batch(jobs[s : s + size]))
            if advance:
                advance(min(size, len(jobs) - s))
        return out
    _JOBS = jobs
    # As in the fingerprint pool: a collection in a forked worker would touch, and so copy, every object
    # the parent holds; frozen objects are left out of collections.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, len(starts)), mp_context=context) as pool:
            futures = [pool.submit(_verify_slice, s, min(s + size, len(jobs))) for s in starts]
            pending: set[Future[list[Verdict | None]]] = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                if advance:
                    advance(sum(len(f.result()) for f in done))
            return [verdict for future in futures for verdict in future.result()]
    finally:
        _JOBS = ()
        if freeze:
            gc.unfreeze()
