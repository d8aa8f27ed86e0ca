"""The near-duplicate detector: candidates from a generous exact search, then verification and explanation.

`find_near_pairs(items, settings)` takes one descriptor (with its image size) per image and returns the
verified pairs; the index calls it on the representatives of its exact groups.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from leakcheck.near.candidates import candidate_pairs, hypotheses, views
from leakcheck.near.decision import DECISION, decide, memoised
from leakcheck.near.descriptor import THUMB_SIDE, NearDescriptor, describe
from leakcheck.near.explanation import explain
from leakcheck.near.pool import verify_parallel
from leakcheck.near.sensitivity import SENSITIVITIES, NearSettings, Sensitivity, settings_for
from leakcheck.near.verify import CALIBRATION, Hypothesis, Prepared, Verdict, prepare, verify_batch

__all__ = [
    "SENSITIVITIES",
    "NearDescriptor",
    "NearItem",
    "NearMatch",
    "NearMemo",
    "NearSettings",
    "Sensitivity",
    "candidates",
    "describe",
    "find_near_pairs",
    "score_candidates",
    "settings_for",
]


@dataclass(frozen=True, slots=True)
class NearMatch:
    """Two images (positions in the input) verified as near-duplicates."""

    i: int
    j: int
    score: float
    explanation: str
    phash_distance: int


@dataclass(frozen=True, slots=True)
class NearItem:
    descriptor: NearDescriptor
    size: tuple[int, int]


def _dihedral_phash_pairs(items: Sequence[NearItem], max_distance: int) -> set[tuple[int, int]]:
    """Pairs whose canonical pHash is within `max_distance` of one of the other's dihedral pHashes."""
    from leakcheck.search import hamming_pairs

    n = len(items)
    codes = np.array([it.descriptor.phashes for it in items], dtype=np.uint64).reshape(n, -1)
    pairs: set[tuple[int, int]] = set()
    # Variant v of every image against variant 0 of every other: stack both and keep cross pairs.
    for v in range(codes.shape[1]):
        stacked = np.concatenate([codes[:, 0], codes[:, v]])
        ii, jj, _ = hamming_pairs(stacked, max_distance)
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            if i < n <= j and i != j - n:
                pairs.add((min(i, j - n), max(i, j - n)))
    return pairs


def min_phash_distance(a: NearDescriptor, b: NearDescriptor) -> int:
    return min((a.phashes[0] ^ h).bit_count() for h in b.phashes)


@dataclass(frozen=True, slots=True)
class Scored:
    """One candidate pair (positions in the input) and its verification (None: nothing overlaps)."""

    i: int
    j: int
    verdict: Verdict | None


def candidates(items: Sequence[NearItem], settings: NearSettings) -> set[tuple[int, int]]:
    """The candidate pairs (i < j) among `items` (stage 1 only); plain images take no part."""
    usable = [k for k, it in enumerate(items) if it.descriptor.detail >= settings.min_detail]
    if len(usable) < 2:
        return set()
    sub = [items[k] for k in usable]
    pairs = candidate_pairs(views([it.descriptor for it in sub]), settings.neighbours, settings.candidate_floor)
    pairs |= _dihedral_phash_pairs(sub, settings.phash_distance)
    return {(usable[i], usable[j]) for i, j in pairs}


def score_candidates(items: Sequence[NearItem], settings: NearSettings, *, workers: int = 1) -> list[Scored]:
    """Every candidate pair (i < j) among `items`, verified (on up to `workers` processes); plain images
    take no part."""
    usable = [k for k, it in enumerate(items) if it.descriptor.detail >= settings.min_detail]
    if len(usable) < 2:
        return []
    sub = [items[k] for k in usable]
    v = views([it.descriptor for it in sub])
    pairs = candidate_pairs(v, settings.neighbours, settings.candidate_floor)
    pairs |= _dihedral_phash_pairs(sub, settings.phash_distance)
    prepared = [prepare(it.descriptor) for it in sub]
    # A copy smaller than the thumbnail holds less detail than its source: compare at its level.
    at_detail: dict[tuple[int, int], Prepared] = {}

    def prepared_at(k: int, smallest: int) -> Prepared:
        if smallest >= THUMB_SIDE:
            return prepared[k]
        if (k, smallest) not in at_detail:
            at_detail[k, smallest] = prepare(sub[k].descriptor, smallest)
        return at_detail[k, smallest]

    order = sorted(pairs)
    smallest = [min(max(sub[i].size), max(sub[j].size)) for i, j in order]
    jobs = [
        (prepared_at(i, s), prepared_at(j, s), hypotheses(sub[i].descriptor, sub[j].descriptor, v, i, v, j))
        for (i, j), s in zip(order, smallest, strict=True)
    ]
    verdicts = verify_parallel(jobs, workers)
    # Pairs that fail and whose aspect ratios differ: B squashed to A's shape, verified once more.
    again = [
        n
        for n, ((i, j), verdict) in enumerate(zip(order, verdicts, strict=True))
        if (verdict is None or verdict.score < settings.min_score)
        and _aspect_gap(sub[i].descriptor, sub[j].descriptor) > _SQUASH_GAP
    ]
    squashed = [(jobs[n][0], _squashed(jobs[n][0], sub[order[n][1]].descriptor, smallest[n]), _UPRIGHT) for n in again]
    for n, found in zip(again, verify_batch(squashed), strict=True):
        verdicts[n] = _best(verdicts[n], _marked_squashed(found))
    return [Scored(usable[i], usable[j], verdict) for (i, j), verdict in zip(order, verdicts, strict=True)]


# Two images whose aspect ratios differ by more than this may be one squashed to the other's shape
# (data sets resized to a fixed 224x224, say): such pairs that fail are verified once more that way.
_SQUASH_GAP = 0.15
_UPRIGHT = [Hypothesis(0.0, False)]


def _aspect_gap(a: NearDescriptor, b: NearDescriptor) -> float:
    return abs(math.log((a.width / a.height) / (b.width / b.height)))


def _squashed(pa: Prepared, b: NearDescriptor, smallest: int) -> Prepared:
    """B's arrays after stretching its thumbnail to A's shape."""
    h, w = pa.pixels.shape
    img = Image.fromarray(b.pixels(), "F").resize((w, h), Image.Resampling.BILINEAR)
    thumb = np.clip(np.asarray(img) + 0.5, 0, 255).astype(np.uint8)
    squashed = dataclasses.replace(b, thumb=thumb.tobytes(), height=h, width=w)
    return prepare(squashed, smallest if smallest < THUMB_SIDE else None)


def _marked_squashed(found: Verdict | None) -> Verdict | None:
    if found is None:
        return None
    return dataclasses.replace(found, alignment=dataclasses.replace(found.alignment, squashed=True))


def _best(first: Verdict | None, second: Verdict | None) -> Verdict | None:
    if first is None or (second is not None and second.score > first.score):
        return second
    return first


# Bumped whenever candidates, verification or the decision change what the detector reports.
DETECTOR_VERSION = 2


class NearMemo(Protocol):
    """Somewhere to keep the detector's result for a set of images (the fingerprint cache)."""

    def near_get(self, key: str) -> bytes | None: ...

    def near_put(self, key: str, payload: bytes) -> None: ...


def memo_key(items: Sequence[NearItem], settings: NearSettings) -> str:
    """A digest of everything the detector's result depends on: its version, weights and settings, and
    every item's descriptor and size, in order."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((DETECTOR_VERSION, CALIBRATION, DECISION, settings)).encode())
    for it in items:
        d = it.descriptor
        h.update(d.thumb)
        h.update(d.colour)
        h.update(repr((d.height, d.width, d.box, d.phashes, d.detail, d.grayscale, it.size)).encode())
    return h.hexdigest()


def _encode_matches(matches: list[NearMatch]) -> bytes:
    return json.dumps([[m.i, m.j, m.score, m.explanation, m.phash_distance] for m in matches]).encode()


def _decode_matches(payload: bytes, n: int) -> list[NearMatch] | None:
    """The stored matches, or None unless every field has its type and every position is in range."""
    try:
        rows = json.loads(payload)
    except ValueError:
        return None
    out: list[NearMatch] = []
    if not isinstance(rows, list):
        return None
    for row in rows:
        if not (isinstance(row, list) and len(row) == 5):
            return None
        i, j, score, why, distance = row
        if not (
            type(i) is int
            and type(j) is int
            and 0 <= i < j < n
            and type(score) is float
            and 0.0 <= score <= 1.0
            and isinstance(why, str)
            and type(distance) is int
        ):
            return None
        out.append(NearMatch(i, j, score, why, distance))
    return out


def find_near_pairs(
    items: Sequence[NearItem], settings: NearSettings, *, memo: NearMemo | None = None, workers: int = 1
) -> list[NearMatch]:
    """Verified near-duplicate pairs (i < j) among `items`, sorted; plain images take no part.

    With a `memo`, a result already computed for the same items and settings is reused (a re-scan of
    unchanged data verifies nothing), and a new one is stored. `workers`: processes that verify
    candidate pairs (the result is the same for any number).
    """
    key = memo_key(items, settings) if memo is not None else ""
    if memo is not None:
        payload = memo.near_get(key)
        found = _decode_matches(payload, len(items)) if payload is not None else None
        if found is not None:
            return found
    out = _find_near_pairs(items, settings, workers)
    if memo is not None:
        memo.near_put(key, _encode_matches(out))
    return out


def _find_near_pairs(items: Sequence[NearItem], settings: NearSettings, workers: int) -> list[NearMatch]:
    out: list[NearMatch] = []
    tensor_of = memoised()
    for s in score_candidates(items, settings, workers=workers):
        if s.verdict is None:
            continue
        score = round(decide(s.verdict, items[s.i].descriptor, items[s.j].descriptor, tensor_of), 6)
        if score < settings.min_score:
            continue
        a, b = items[s.i], items[s.j]
        why = explain(a.descriptor, a.size, b.descriptor, b.size, s.verdict)
        out.append(NearMatch(s.i, s.j, score, why, min_phash_distance(a.descriptor, b.descriptor)))
    return out
