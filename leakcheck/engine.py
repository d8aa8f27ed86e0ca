"""Engines run the fingerprint pass: in this process, or in a local process pool. Checks never know which."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext

from leakcheck.fingerprint import FingerprintOptions, fingerprint_array, fingerprint_record
from leakcheck.model import Fingerprint, Record
from leakcheck.sources.arrays import Sample

ProgressStart = Callable[[int], Callable[[int], None]]
# Below this many files a pool costs more to start than it saves.
_MIN_PARALLEL = 64
_CHUNK = 16


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _fingerprint_chunk(records: Sequence[Record], options: FingerprintOptions) -> list[Fingerprint]:
    return [fingerprint_record(r, options) for r in records]


def _pool_context() -> BaseContext:
    # fork on Linux: workers never re-import the caller's __main__, so a script without an
    # `if __name__ == "__main__"` guard (or code piped to `python -`) still works. The pool forks all its
    # workers at the first submit, before any thread of ours (the progress bar's) has started.
    # Elsewhere fork is unsafe or missing, and spawn is the platform's default anyway.
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def fingerprint_all(
    records: Sequence[Record],
    options: FingerprintOptions,
    *,
    jobs: int | None = None,
    progress: ProgressStart | None = None,
) -> list[Fingerprint]:
    """Fingerprint every record, in input order.

    `progress(total)` is called once the workers run; the callback it returns is given the number of
    files finished as batches complete.
    """
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    if jobs == 1 or len(records) < _MIN_PARALLEL:
        advance = progress(len(records)) if progress else None
        out: list[Fingerprint] = []
        for r in records:
            out.append(fingerprint_record(r, options))
            if advance:
                advance(1)
        return out
    chunks = [records[i : i + _CHUNK] for i in range(0, len(records), _CHUNK)]
    results: list[Fingerprint] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=_pool_context()) as pool:
        futures = [pool.submit(_fingerprint_chunk, chunk, options) for chunk in chunks]
        advance = progress(len(records)) if progress else None
        for future in futures:
            done = future.result()
            results.extend(done)
            if advance:
                advance(len(done))
    return results


def _fingerprint_array_chunk(items: Sequence[Sample]) -> list[Fingerprint]:
    return [fingerprint_array(r, image, scale=scale) for r, image, scale in items]


def fingerprint_arrays(
    samples: Iterable[Sample],
    *,
    total: int | None = None,
    jobs: int | None = None,
    progress: ProgressStart | None = None,
) -> list[Fingerprint]:
    """Fingerprint in-memory samples (record, pixels, scale of their split) as they come, in input order.

    `progress(total)` is called once work starts, when `total` is known; the callback it returns is given
    the number of images finished. Samples may come from a stream (a tf.data pipeline): at most a few
    chunks per worker are held at once. In this process unless `jobs` asks for more: worker processes
    would start beside a loaded TensorFlow, or re-import a script that has no `__main__` guard.
    """
    jobs = 1 if jobs is None else jobs
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    advance: Callable[[int], None] | None = None
    if jobs == 1 or (total is not None and total < _MIN_PARALLEL * 4):
        advance = progress(total) if progress and total is not None else None
        out: list[Fingerprint] = []
        for record, image, scale in samples:
            out.append(fingerprint_array(record, image, scale=scale))
            if advance:
                advance(1)
        return out
    # Larger chunks than for files: each image is small, and its pixels travel to the worker by pickle.
    size = _CHUNK * 16
    results: list[Fingerprint] = []
    pending: deque[Future[list[Fingerprint]]] = deque()
    iterator = iter(samples)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context()) as pool:
        while chunk := list(itertools.islice(iterator, size)):
            pending.append(pool.submit(_fingerprint_array_chunk, chunk))
            if advance is None and progress and total is not None:
                advance = progress(total)  # after the first submit has forked the workers
            while len(pending) >= 2 * jobs or (pending and pending[0].done()):
                done = pending.popleft().result()
                results.extend(done)
                if advance:
                    advance(len(done))
        while pending:
            done = pending.popleft().result()
            results.extend(done)
            if advance:
                advance(len(done))
    return results
