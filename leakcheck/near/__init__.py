"""The near-duplicate detector: candidates from a generous exact search, then verification and explanation.

`find_near_pairs(items, settings)` takes one descriptor (with its image size) per image and returns the
verified pairs; the index calls it on the representatives of its exact groups.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from leakcheck.near.candidates import (
    Views,
    decode_neighbours,
    encode_neighbours,
    hypotheses,
    pairs_of,
    search,
    views,
)
from leakcheck.near.decision import DECISION, ceiling, decide, memoised
from leakcheck.near.descriptor import THUMB_SIDE, NearDescriptor, describe
from leakcheck.near.explanation import explain
from leakcheck.near.pool import map_slices
from leakcheck.near.sensitivity import SENSITIVITIES, NearSettings, Sensitivity, settings_for
from leakcheck.near.verify import CALIBRATION, Hypothesis, Prepared, Verdict, prepare, verify_batch
from leakcheck.progress import ProgressStart

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
    found = _candidate_pairs(items, settings)
    if found is None:
        return set()
    return {(found.usable[i], found.usable[j]) for i, j in found.order}


def score_candidates(items: Sequence[NearItem], settings: NearSettings, *, workers: int = 1) -> list[Scored]:
    """Every candidate pair (i < j) among `items`, verified (on up to `workers` processes); plain images
    take no part."""
    found = _candidate_pairs(items, settings)
    if found is None:
        return []
    usable, sub, v, order = found.usable, found.sub, found.views, found.order
    at = _b_major(order, range(len(order)))

    def task(start: int, stop: int) -> list[Verdict | None]:
        return _verify_pairs(sub, v, [order[n] for n in at[start:stop]], settings)

    verdicts = dict(zip(at, map_slices(task, len(at), workers), strict=True))
    return [Scored(usable[i], usable[j], verdicts[n]) for n, (i, j) in enumerate(order)]


def _b_major(pairs: Sequence[tuple[int, int]], among: Iterable[int]) -> list[int]:
    """The positions `among` of `pairs`, ordered by B, then A: the order to verify them in, so that the
    pairs that share B are verified together and warp it once (`verify._verify_chunk`). Results do not
    depend on the order."""
    return sorted(among, key=lambda n: (pairs[n][1], pairs[n][0]))


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The usable items (`usable`: their positions in the input; `sub`: the items), their views and
    candidate pairs (i < j, counted among the usable items, sorted), and each one's digest (`digests`:
    only with a memo)."""

    usable: list[int]
    sub: list[NearItem]
    views: Views
    order: list[tuple[int, int]]
    digests: list[bytes]


def _candidate_pairs(
    items: Sequence[NearItem],
    settings: NearSettings,
    progress: ProgressStart | None = None,
    memo: NearMemo | None = None,
) -> _Candidates | None:
    """The candidate pairs among the usable items; None when fewer than two are usable. `progress`: see
    `candidates.search`. With a `memo`, the last search stored there is reused where it still holds (the
    same pairs as searching afresh), and this one is stored."""
    usable = [k for k, it in enumerate(items) if it.descriptor.detail >= settings.min_detail]
    if len(usable) < 2:
        return None
    sub = [items[k] for k in usable]
    v = views([it.descriptor for it in sub])
    digests: list[bytes] = []
    if memo is None:
        found = search(v, settings.neighbours, progress=progress)
    else:
        key = _search_key(settings)
        stored = memo.search_get(key)
        earlier = decode_neighbours(stored) if stored is not None else None
        digests = [_item_digest(it) for it in sub]
        found = search(v, settings.neighbours, keys=digests, earlier=earlier, progress=progress)
        memo.search_put(key, encode_neighbours(found))
    pairs = pairs_of(found, settings.candidate_floor)
    pairs |= _dihedral_phash_pairs(sub, settings.phash_distance)
    return _Candidates(usable, sub, v, sorted(pairs), digests)


def _verify_pairs(
    sub: Sequence[NearItem], v: Views, order: Sequence[tuple[int, int]], settings: NearSettings
) -> list[Verdict | None]:
    """The verdict of each pair of `sub` in `order` (B squashed to A's shape where that does better)."""
    prepared: dict[tuple[int, int], Prepared] = {}

    def prepared_at(k: int, smallest: int) -> Prepared:
        # A copy smaller than the thumbnail holds less detail than its source: compare at its level.
        level = min(smallest, THUMB_SIDE)
        if (k, level) not in prepared:
            prepared[k, level] = prepare(sub[k].descriptor, level if level < THUMB_SIDE else None)
        return prepared[k, level]

    smallest = [min(max(sub[i].size), max(sub[j].size)) for i, j in order]
    jobs = [
        (prepared_at(i, s), prepared_at(j, s), hypotheses(sub[i].descriptor, sub[j].descriptor, v, i, v, j))
        for (i, j), s in zip(order, smallest, strict=True)
    ]
    verdicts = verify_batch(jobs)
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
    return verdicts


def _outcomes(
    sub: Sequence[NearItem], v: Views, order: Sequence[tuple[int, int]], settings: NearSettings
) -> list[Outcome]:
    """Each pair's outcome: verified, then decided and (at or above the threshold) explained; a pair that
    no decision could lift to the threshold keeps the highest score it could have had (see `Outcome`)."""
    out: list[Outcome] = []
    tensor_of = memoised()
    for (i, j), verdict in zip(order, _verify_pairs(sub, v, order, settings), strict=True):
        if verdict is None:
            out.append(_NOTHING)
            continue
        # (Rounded as the decided score is: the decided score is at most this, so it rounds below it too.)
        highest = round(ceiling(verdict), 6)
        if highest < settings.min_score:
            out.append((highest, ""))
            continue
        a, b = sub[i], sub[j]
        score = round(decide(verdict, a.descriptor, b.descriptor, tensor_of), 6)
        why = explain(a.descriptor, a.size, b.descriptor, b.size, verdict) if score >= settings.min_score else ""
        out.append((score, why))
    return out


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


# Bumped whenever candidates, verification, the decision or the explanations change what the detector
# reports (7: explanations tell a quarter turn and a crop from a resize).
DETECTOR_VERSION = 7


class NearMemo(Protocol):
    """Somewhere to keep the detector's results (the fingerprint cache): its whole result for a set of
    images, the outcome of each candidate pair it verified and its last candidate search, so that a
    re-scan after a few files changed searches around them and verifies only the pairs that involve
    them."""

    def near_get(self, key: str) -> bytes | None: ...

    def near_put(self, key: str, payload: bytes) -> None: ...

    def pairs_get(self, keys: Sequence[str]) -> dict[str, bytes]: ...

    def pairs_put(self, rows: Sequence[tuple[str, bytes]], *, keep: Sequence[str]) -> None: ...

    def search_get(self, key: str) -> bytes | None: ...

    def search_put(self, key: str, payload: bytes) -> None: ...


def _item_digest(it: NearItem) -> bytes:
    """A digest of everything about one image that the detector looks at."""
    d = it.descriptor
    h = hashlib.blake2b(digest_size=20)
    h.update(d.thumb)
    h.update(d.colour)
    h.update(repr((d.height, d.width, d.box, d.phashes, d.detail, d.grayscale, it.size)).encode())
    return h.digest()


def memo_key(items: Sequence[NearItem], settings: NearSettings) -> str:
    """A digest of everything the detector's result depends on: its version, weights and settings, and
    every item's descriptor and size, in order."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((DETECTOR_VERSION, CALIBRATION, DECISION, settings)).encode())
    for it in items:
        h.update(_item_digest(it))
    return h.hexdigest()


def _search_key(settings: NearSettings) -> str:
    """The key of the stored candidate search: what its neighbour lists depend on besides the images."""
    return hashlib.blake2b(repr((DETECTOR_VERSION, settings.neighbours)).encode(), digest_size=20).hexdigest()


def _pair_keys(digests: Sequence[bytes], pairs: Sequence[tuple[int, int]], settings: NearSettings) -> list[str]:
    """One key per pair (A, B in that order): what its outcome depends on (the two images, by their
    `_item_digest`, the detector's version and weights, and the score threshold, below which a squashed
    B is tried)."""
    prefix = repr((DETECTOR_VERSION, CALIBRATION, DECISION, settings.min_score)).encode()
    return [hashlib.blake2b(prefix + digests[i] + digests[j], digest_size=20).hexdigest() for i, j in pairs]


# A pair's outcome: (decided score, explanation; "" below the threshold), or (-1.0, "") when nothing aligned.
# Below the threshold the score may be an upper bound on the decided one (`decision.ceiling`): only
# whether it reaches the threshold matters, and the pair's key holds the threshold.
Outcome = tuple[float, str]
_NOTHING: Outcome = (-1.0, "")


def _encode_outcome(outcome: Outcome) -> bytes:
    return json.dumps(list(outcome)).encode()


def _decode_outcome(payload: bytes) -> Outcome | None:
    """A stored pair outcome, or None if it is damaged."""
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    if isinstance(value, list) and len(value) == 2:
        score, why = value
        if type(score) is float and (0.0 <= score <= 1.0 or score == -1.0) and isinstance(why, str):
            return score, why
    return None


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
    items: Sequence[NearItem],
    settings: NearSettings,
    *,
    memo: NearMemo | None = None,
    workers: int = 1,
    progress: ProgressStart | None = None,
    searching: ProgressStart | None = None,
) -> list[NearMatch]:
    """Verified near-duplicate pairs (i < j) among `items`, sorted; plain images take no part.

    With a `memo`, a result already computed for the same items and settings is reused (a re-scan of
    unchanged data verifies nothing), and a new one is stored. `workers`: processes that verify
    candidate pairs (the result is the same for any number). `progress(pairs)`, if given, is called
    when verification starts (not when every pair is known) and returns a callback told how many more
    pairs are done; `searching`, the same for the candidate search before it (in queries: four per
    image, see `candidate_pairs`).
    """
    key = memo_key(items, settings) if memo is not None else ""
    if memo is not None:
        payload = memo.near_get(key)
        found = _decode_matches(payload, len(items)) if payload is not None else None
        if found is not None:
            return found
    out = _find_near_pairs(items, settings, workers, memo, progress, searching)
    if memo is not None:
        memo.near_put(key, _encode_matches(out))
    return out


def _find_near_pairs(
    items: Sequence[NearItem],
    settings: NearSettings,
    workers: int,
    memo: NearMemo | None = None,
    progress: ProgressStart | None = None,
    searching: ProgressStart | None = None,
) -> list[NearMatch]:
    found = _candidate_pairs(items, settings, searching, memo)
    if found is None:
        return []
    usable, sub, v, order = found.usable, found.sub, found.views, found.order
    outcomes: dict[int, Outcome] = {}
    keys: list[str] = []
    if memo is not None:
        keys = _pair_keys(found.digests, order, settings)
        stored = memo.pairs_get(keys)
        for n, key in enumerate(keys):
            outcome = _decode_outcome(stored[key]) if key in stored else None
            if outcome is not None:
                outcomes[n] = outcome
    todo = _b_major(order, (n for n in range(len(order)) if n not in outcomes))
    pending = [order[n] for n in todo]

    def task(start: int, stop: int) -> list[Outcome]:
        return _outcomes(sub, v, pending[start:stop], settings)

    advance = progress(len(todo)) if progress and todo else None
    outcomes.update(zip(todo, map_slices(task, len(todo), workers, advance), strict=True))
    if memo is not None:
        memo.pairs_put([(keys[n], _encode_outcome(outcomes[n])) for n in todo], keep=keys)
    out: list[NearMatch] = []
    for n, (i, j) in enumerate(order):
        score, why = outcomes[n]
        if score >= settings.min_score and score >= 0.0:
            distance = min_phash_distance(sub[i].descriptor, sub[j].descriptor)
            out.append(NearMatch(usable[i], usable[j], score, why, distance))
    return out
