"""The detector's per-pair work on several cores: forked workers read their inputs from the parent's memory.

Each candidate pair's outcome is independent of the others (`verify_batch` gives every pair the same
arithmetic however pairs are batched), so splitting the pairs across processes changes no result. The
work is a function of a slice of positions (`task(start, stop)`); forked workers inherit it with
everything it refers to (descriptors, search views), so only the positions go to the workers and only
the results come back: nothing large is pickled.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from leakcheck.workers import die_with_parent

T = TypeVar("T")
# Below this many pairs, starting workers costs more than a second core saves (a pair takes ~3 ms).
MIN_PARALLEL = 256
# Slices per worker (load balance: some pairs try more hypotheses than others) and the smallest slice
# (batches of pairs amortise numpy's per-call cost).
_SLICES_PER_WORKER = 6
_MIN_SLICE = 96

# The task in progress, inherited by forked workers.
_TASK: Callable[[int, int], list[Any]] | None = None


def _run_slice(start: int, stop: int) -> list[Any]:
    assert _TASK is not None  # set before the pool forks
    return _TASK(start, stop)


def map_slices(
    task: Callable[[int, int], list[T]], n: int, workers: int, advance: Callable[[int], None] | None = None
) -> list[T]:
    """`task(0, n)` computed slice by slice (the same list), on up to `workers` processes where that
    pays (Linux, at least MIN_PARALLEL items); `advance(k)` is told as each slice of k items is done.
    `task(start, stop)` must return stop - start results that do not depend on how [0, n) is sliced."""
    global _TASK
    size = max(_MIN_SLICE, -(-n // (max(workers, 1) * _SLICES_PER_WORKER)))
    starts = range(0, n, size)
    if workers <= 1 or n < MIN_PARALLEL or sys.platform != "linux":
        out: list[T] = []
        for s in starts:
            out.extend(task(s, min(s + size, n)))
            if advance:
                advance(min(size, n - s))
        return out
    _TASK = task
    # As in the fingerprint pool: a collection in a forked worker would touch, and so copy, every object
    # the parent holds; frozen objects are left out of collections.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=min(workers, len(starts)), mp_context=context, initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:  # fmt: skip
            futures: list[Future[list[T]]] = [pool.submit(_run_slice, s, min(s + size, n)) for s in starts]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                if advance:
                    advance(sum(len(f.result()) for f in done))
            return [item for future in futures for item in future.result()]
    finally:
        _TASK = None
        if freeze:
            gc.unfreeze()
