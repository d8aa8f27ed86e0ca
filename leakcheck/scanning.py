"""`scan`: list the records, fingerprint them once, index, run the checks, return a Report."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from leakcheck._version import __version__
from leakcheck.checks import DEFAULT_CHECKS, Check
from leakcheck.engine import fingerprint_all
from leakcheck.errors import UsageError
from leakcheck.fingerprint import DEFAULT_MAX_PIXELS, FingerprintOptions
from leakcheck.index import Index, MatchOptions, NearMethod, Relation
from leakcheck.model import Finding
from leakcheck.near.semantic import DEFAULT_MIN_SIMILARITY
from leakcheck.report import Report, split_stats
from leakcheck.sources.folder import display_name, list_folder
from leakcheck.splits import DEFAULT_ALIASES

ProgressStart = Callable[[int], Callable[[int], None]]


def scan(
    path: str | os.PathLike[str],
    *,
    near: bool = True,
    sensitivity: str = "default",
    min_score: float | None = None,
    near_method: NearMethod = "verified",
    phash_distance: int = 10,
    dhash_distance: int = 14,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    jobs: int | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    split_aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    progress: ProgressStart | None = None,
    semantic: str | os.PathLike[str] | None = None,
    semantic_min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> Report:
    """Audit the image folder at `path` (`<split>/<class>/<image>`) and return a Report.

    Args:
        near: also look for near-duplicates (re-encoded, resized, cropped, rotated, recoloured copies).
        sensitivity: "strict" (only unmistakable copies), "default", or "thorough" (also heavily edited
            copies, at the cost of some false pairs); see docs/near-duplicates.md.
        min_score: expert: the lowest verification score (0-1) reported, overriding the sensitivity's.
        near_method: expert: "hash" replaces the detector with the plain rule that both hash distances
            are within `phash_distance` and `dhash_distance`.
        phash_distance, dhash_distance: expert: with the detector, pairs within `phash_distance` under
            some quarter turn or mirror are always verified; with near_method="hash", the thresholds.
        max_pixels: images larger than this are reported, not decoded (decompression-bomb guard).
        jobs: worker processes for decoding; default all cores.
        progress: called with the number of files before decoding starts; returns a callback that is
            given the number of files done as they complete.
        semantic: optional tier: a saved `.keras` model file, or a Keras application name whose
            weights are in the Keras cache; pairs it embeds at least `semantic_min_similarity` apart
            (cosine) that are not already copies are listed as kind "similar". Never downloads.

    Raises:
        DataNotFoundError, LayoutError: the folder is missing or not in the expected layout.
        UsageError: an option is out of range.
    """
    try:
        match = MatchOptions(
            near=near,
            phash_distance=phash_distance,
            dhash_distance=dhash_distance,
            method=near_method,
            sensitivity=sensitivity,
            min_score=min_score,
        )
        fp_options = FingerprintOptions(max_pixels=max_pixels)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if jobs is not None and jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    listing = list_folder(path, aliases=split_aliases)
    advance = progress(len(listing.records)) if progress else None
    fingerprints = fingerprint_all(listing.records, fp_options, jobs=jobs, progress=advance)
    index = Index(fingerprints, match, skipped=listing.skipped)
    relations = index.relations()
    if semantic is not None:
        relations = sorted(
            (*relations, *_semantic_relations(index, relations, semantic, semantic_min_similarity)),
            key=Relation.sort_key,
        )
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check.run(index))
    parameters: dict[str, Any] = {
        "near": near,
        "near_method": near_method,
        "sensitivity": sensitivity,
        "min_score": match.settings().min_score,
        "phash_distance": phash_distance,
        "dhash_distance": dhash_distance,
        "max_pixels": max_pixels,
        "semantic": None if semantic is None else os.fspath(semantic),
        "checks": {check.id: dict(check.params()) for check in checks},
    }
    return Report(
        root=display_name(Path(path).resolve().name),
        findings=tuple(findings),
        splits=split_stats(index),
        relations=tuple(relations),
        skipped=listing.skipped,
        parameters=parameters,
        version=__version__,
    )


def _semantic_relations(
    index: Index, known: list[Relation], spec: str | os.PathLike[str], min_similarity: float
) -> list[Relation]:
    """Pairs of exact-group representatives the embedding model finds similar and that are not copies."""
    from leakcheck.near.semantic import embed_paths, load_embedder, similar_pairs

    if not -1.0 <= min_similarity <= 1.0:
        raise UsageError(f"semantic_min_similarity must be between -1 and 1, got {min_similarity}")
    embedder = load_embedder(spec)
    reps = [members[0] for members in index.groups if index.samples[members[0]].record.path is not None]
    paths = [index.samples[i].record.path for i in reps]
    vectors = embed_paths(embedder, [p for p in paths if p is not None])
    linked = {(r.a, r.b) for r in known} | {(r.b, r.a) for r in known}
    out: list[Relation] = []
    for i, j, cosine in similar_pairs(vectors, min_similarity):
        a, b = index.samples[reps[i]].record, index.samples[reps[j]].record
        if (a.key, b.key) in linked or index.near_links[int(index.group_of[reps[i]])] & {int(index.group_of[reps[j]])}:
            continue
        out.append(
            Relation(a.key, a.split, a.label, b.key, b.split, b.label, "similar", 0, cosine,
                     f"semantically similar ({embedder.name} embedding cosine {cosine:.2f})")
        )  # fmt: skip
    return out
