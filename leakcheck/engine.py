"""Engines run the fingerprint pass: in this process, or in a local process pool. Checks never know which."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from leakcheck.fingerprint import FingerprintOptions, fingerprint_array, fingerprint_record
from leakcheck.model import Fingerprint, Record
from leakcheck.sources.arrays import Sample

Progress = Callable[[int], None]
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


def fingerprint_all(
    records: Sequence[Record],
    options: FingerprintOptions,
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> list[Fingerprint]:
    """Fingerprint every record, in input order; `progress(n)` is called as batches of n complete."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    if jobs == 1 or len(records) < _MIN_PARALLEL:
        out: list[Fingerprint] = []
        for r in records:
            out.append(fingerprint_record(r, options))
            if progress:
                progress(1)
        return out
    chunks = [records[i : i + _CHUNK] for i in range(0, len(records), _CHUNK)]
    # forkserver: children never inherit threads (a progress bar's) mid-lock, unlike plain fork.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    results: list[list[Fingerprint]] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
        for chunk_result in pool.map(_fingerprint_chunk, chunks, [options] * len(chunks)):
            results.append(chunk_result)
            if progress:
                progress(len(chunk_result))
    return [fp for chunk in results for fp in chunk]


def _fingerprint_array_chunk(items: Sequence[Sample]) -> list[Fingerprint]:
    return [fingerprint_array(r, image, scale=scale) for r, image, scale in items]


def fingerprint_arrays(
    samples: Iterable[Sample],
    *,
    total: int | None = None,
    jobs: int | None = None,
    progress: Callable[[int], Progress] | None = None,
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
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    results: list[Fingerprint] = []
    pending: deque[Future[list[Fingerprint]]] = deque()
    iterator = iter(samples)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
        advance = progress(total) if progress and total is not None else None
        while chunk := list(itertools.islice(iterator, size)):
            pending.append(pool.submit(_fingerprint_array_chunk, chunk))
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
