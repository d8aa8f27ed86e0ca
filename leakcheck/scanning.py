"""`scan`: list the records, fingerprint them once, index, run the checks, return a Report."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from leakcheck._version import __version__
from leakcheck.cache import cache_config, open_cache
from leakcheck.checks import DEFAULT_CHECKS, Check
from leakcheck.engine import fingerprint_dataset
from leakcheck.errors import UsageError
from leakcheck.fingerprint import DEFAULT_MAX_PIXELS, FINGERPRINT_VERSION, FingerprintOptions
from leakcheck.index import Index, MatchOptions
from leakcheck.model import Finding
from leakcheck.report import Report, split_stats
from leakcheck.sources.folder import display_name, list_folder
from leakcheck.splits import DEFAULT_ALIASES

ProgressStart = Callable[[int], Callable[[int], None]]


def scan(
    path: str | os.PathLike[str],
    *,
    near: bool = True,
    phash_distance: int = 10,
    dhash_distance: int = 14,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    jobs: int | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    split_aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    progress: ProgressStart | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Report:
    """Audit the image folder at `path` (`<split>/<class>/<image>`) and return a Report.

    Args:
        near: also look for near-duplicates (re-encoded, resized, lightly edited copies).
        phash_distance, dhash_distance: the largest Hamming distances (of 64 bits) at which two images
            are near-duplicates; both must hold.
        max_pixels: images larger than this are reported, not decoded (decompression-bomb guard).
        jobs: worker processes for decoding; default all cores.
        progress: called with the number of files before decoding starts; returns a callback that is
            given the number of files done as they complete.
        cache: reuse fingerprints of unchanged files from earlier scans, and store new ones.
        cache_dir: where the cache lives (default: the user cache folder, e.g. ~/.cache/leakcheck);
            never inside the data folder.

    Raises:
        DataNotFoundError, LayoutError: the folder is missing or not in the expected layout.
        UsageError: an option is out of range, or `cache_dir` is inside the data folder.
    """
    try:
        match = MatchOptions(near=near, phash_distance=phash_distance, dhash_distance=dhash_distance)
        fp_options = FingerprintOptions(max_pixels=max_pixels)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if jobs is not None and jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    listing = list_folder(path, aliases=split_aliases)
    store = None
    if cache:
        config = cache_config(FINGERPRINT_VERSION, fp_options)
        store = open_cache(listing.root, None if cache_dir is None else Path(cache_dir), config)
    try:
        fingerprints = fingerprint_dataset(listing.records, fp_options, jobs=jobs, progress=progress, cache=store)
    finally:
        if store is not None:
            store.close()
    index = Index(fingerprints, match, skipped=listing.skipped)
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check.run(index))
    parameters: dict[str, Any] = {
        "near": near,
        "phash_distance": phash_distance,
        "dhash_distance": dhash_distance,
        "max_pixels": max_pixels,
        "checks": {check.id: dict(check.params()) for check in checks},
    }
    return Report(
        root=display_name(Path(path).resolve().name),
        findings=tuple(findings),
        splits=split_stats(index),
        relations=tuple(index.relations()),
        skipped=listing.skipped,
        parameters=parameters,
        version=__version__,
    )
