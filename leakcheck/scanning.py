"""`scan`: list the records, fingerprint them once, index, run the checks, return a Report."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leakcheck._version import __version__
from leakcheck.checks import DEFAULT_CHECKS, Check
from leakcheck.engine import ProgressStart, fingerprint_all
from leakcheck.errors import UsageError
from leakcheck.fingerprint import DEFAULT_MAX_PIXELS, FingerprintOptions
from leakcheck.index import Index, MatchOptions
from leakcheck.model import Finding
from leakcheck.report import Report, split_stats
from leakcheck.sources.folder import display_name, list_folder
from leakcheck.sources.ignores import IgnoreRules, ignore_paths
from leakcheck.splits import DEFAULT_ALIASES


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
    ignore: Sequence[str] = (),
    progress: ProgressStart | None = None,
) -> Report:
    """Audit the image folder at `path` (`<split>/<class>/<image>`) and return a Report.

    Args:
        near: also look for near-duplicates (re-encoded, resized, lightly edited copies).
        phash_distance, dhash_distance: the largest Hamming distances (of 64 bits) at which two images
            are near-duplicates; both must hold.
        max_pixels: images larger than this are reported, not decoded (decompression-bomb guard).
        jobs: worker processes for decoding; default all cores.
        ignore: globs of relative paths to leave out (see `leakcheck.sources.ignores`).
        progress: called with the number of files once decoding starts; returns a callback that is
            given the number of files done as they complete.

    Raises:
        DataNotFoundError, LayoutError: the folder is missing or not in the expected layout.
        UsageError: an option is out of range.
    """
    try:
        match = MatchOptions(near=near, phash_distance=phash_distance, dhash_distance=dhash_distance)
        fp_options = FingerprintOptions(max_pixels=max_pixels)
        rules = IgnoreRules(tuple(ignore))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if jobs is not None and jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    listing = list_folder(path, aliases=split_aliases)
    if rules:
        listing = ignore_paths(listing, rules)
    fingerprints = fingerprint_all(listing.records, fp_options, jobs=jobs, progress=progress)
    index = Index(fingerprints, match, skipped=listing.skipped)
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check.run(index))
    parameters: dict[str, Any] = {
        "near": near,
        "phash_distance": phash_distance,
        "dhash_distance": dhash_distance,
        "max_pixels": max_pixels,
        **({"ignore": list(rules.patterns)} if rules else {}),
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
        root_path=Path(path).resolve(),
    )
