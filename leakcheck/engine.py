"""Engines run the fingerprint pass: in this process, or in a local process pool. Checks never know which.

`fingerprint_dataset` adds the persistent cache around the pool: files whose key, size and mtime are
unchanged are not opened at all, the rest are decoded in parallel, and the provisional pixel digests of
reduced decodes are settled before anything is stored.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.context import BaseContext
from typing import Any

from leakcheck.cache import CacheKey, FingerprintCache
from leakcheck.fingerprint import (
    FingerprintOptions,
    fingerprint_array,
    fingerprint_record,
    has_digest,
    settle_pixel_digests,
)
from leakcheck.model import Fingerprint, Record
from leakcheck.progress import ProgressStart
from leakcheck.sources.arrays import Sample
from leakcheck.workers import die_with_parent

# Below this many files the pool's start-up and hand-over costs more than a second core saves.
_MIN_PARALLEL = 64
# Chunks amortise the per-task cost of inter-process calls; about 8 chunks per worker keep the load
# balanced when some files are much slower to decode than others.
_CHUNKS_PER_JOB = 8
_MIN_CHUNK = 16
_MAX_CHUNK = 512


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _fingerprint_chunk(records: Sequence[Record], options: FingerprintOptions) -> list[Fingerprint]:
    return [fingerprint_record(r, options) for r in records]


def chunk_size(n: int, jobs: int) -> int:
    return max(_MIN_CHUNK, min(_MAX_CHUNK, -(-n // (jobs * _CHUNKS_PER_JOB))))


def _workers() -> dict[str, Any]:
    """The pools' worker set-up: each worker ends with the scan that started it."""
    return {"initializer": die_with_parent, "initargs": (os.getpid(),)}


def _pool_context() -> BaseContext:
    # fork on Linux: starting a worker costs about a millisecond (forkserver first starts and imports a
    # server process, ~0.3 s, and spawn re-imports numpy and Pillow in every worker), and workers never
    # re-import the caller's __main__, so a script without an `if __name__ == "__main__"` guard still
    # works. The pool forks its workers at the first submit, before the progress callback is started.
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
    files finished as chunks complete (in whatever order they complete).
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
    size = chunk_size(len(records), jobs)
    starts = range(0, len(records), size)
    # Forked workers share the caller's memory copy-on-write; a garbage collection in a worker would
    # touch, and so copy, every object the caller holds. Frozen objects are left out of collections.
    # (Only when nothing is frozen yet: unfreezing would otherwise undo a freeze of the caller's own.)
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        return _run_pool(records, options, jobs, size, starts, progress)
    finally:
        if freeze:
            gc.unfreeze()


def _run_pool(
    records: Sequence[Record],
    options: FingerprintOptions,
    jobs: int,
    size: int,
    starts: range,
    progress: ProgressStart | None,
) -> list[Fingerprint]:
    results: dict[int, list[Fingerprint]] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(starts)), mp_context=_pool_context(), **_workers()) as pool:
        pending: dict[Future[list[Fingerprint]], int] = {
            pool.submit(_fingerprint_chunk, records[s : s + size], options): s for s in starts
        }
        advance = progress(len(records)) if progress else None
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = future.result()
                results[pending.pop(future)] = chunk
                if advance:
                    advance(len(chunk))
    return [fp for s in starts for fp in results[s]]


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
    size = _MIN_CHUNK * 16
    results: list[Fingerprint] = []
    pending: deque[Future[list[Fingerprint]]] = deque()
    iterator = iter(samples)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(), **_workers()) as pool:
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


def cache_key(record: Record, stats: Mapping[str, tuple[int, int, int]] | None = None) -> CacheKey | None:
    """The file's identity for the cache, taken before it is read (a later change then misses);
    `stats`: (size, mtime_ns, ctime_ns) by sample key, already taken (a walk of the tree), else stat.

    Its time is the later of mtime and ctime: new bytes of the same size with the old mtime put back
    (`touch -r`, `cp -p` over a file) still move the ctime, and such a file is then digested again (its
    bytes, not a decode, when they are unchanged: a chmod or a hard link moves the ctime too)."""
    if record.path is None:
        return None
    if stats is not None and (known := stats.get(record.key)) is not None:
        return CacheKey(record.key, known[0], max(known[1], known[2]))
    try:
        st = os.stat(record.path)
    except OSError:
        return None
    return CacheKey(record.key, st.st_size, max(st.st_mtime_ns, st.st_ctime_ns))


def fingerprint_dataset(
    records: Sequence[Record],
    options: FingerprintOptions,
    *,
    jobs: int | None = None,
    progress: ProgressStart | None = None,
    cache: FingerprintCache | None = None,
    stats: Mapping[str, tuple[int, int, int]] | None = None,
    unchanged: Mapping[str, str] | None = None,
) -> list[Fingerprint]:
    """Fingerprint every record, reusing and refreshing `cache`; only new or changed files are decoded.

    `progress` is started with the number of records; files found in the cache count as done at once.
    `stats`: each file's (size, mtime_ns, ...) by sample key where a walk of the tree took them already.
    `unchanged`: the digest of each file's bytes by sample key where this scan has read them already
    (the report memo); such a file with new times and its cached digest is not read again.
    """
    use_cache = cache is not None and cache.usable
    keys = [cache_key(r, stats) for r in records] if use_cache else [None] * len(records)
    known: list[Fingerprint | None] = [None] * len(records)
    same_bytes: set[int] = set()
    if cache is not None and use_cache:
        keyed = [(i, k) for i, k in enumerate(keys) if k is not None]
        retimed: dict[int, Fingerprint] = {}
        found = cache.lookup([k for _, k in keyed], [records[i] for i, _ in keyed], retimed=retimed)
        for (i, _), fp in zip(keyed, found, strict=True):
            known[i] = fp
        # Files with new times but the size of their cached row (a fresh checkout, a copy, `touch`): the
        # same bytes keep their fingerprint, so they are read and digested, not decoded.
        read = unchanged or {}
        for j, fp in retimed.items():
            i = keyed[j][0]
            path = records[i].path
            if path is not None and (read.get(records[i].key) == fp.file_digest or has_digest(path, fp.file_digest)):
                known[i] = fp
                same_bytes.add(i)
    todo = [i for i, fp in enumerate(known) if fp is None]

    def start(_: int) -> Callable[[int], None]:
        advance = progress(len(records)) if progress else _ignore
        if len(todo) < len(records):
            advance(len(records) - len(todo))
        return advance

    fresh = fingerprint_all([records[i] for i in todo], options, jobs=jobs, progress=start)
    for i, fp in zip(todo, fresh, strict=True):
        known[i] = fp
    before = [fp for fp in known if fp is not None]
    settled = settle_pixel_digests(before, options)
    if cache is not None and use_cache:
        changed = set(todo) | {i for i, (a, b) in enumerate(zip(before, settled, strict=True)) if a is not b}
        # Files that could not be read at all (no digest) are not cached: the cause may be passing.
        entries = [(k, settled[i]) for i in sorted(changed) if (k := keys[i]) is not None and settled[i].file_digest]
        # Unchanged bytes under new times: the row stays, with the new mtime (nothing to encode again).
        retimed_keys = [k for i in sorted(same_bytes - changed) if (k := keys[i]) is not None]
        cache.store(entries, present=(k.key for k in keys if k is not None), retimed=retimed_keys)
    return settled


def _ignore(_: int) -> None:
    pass
