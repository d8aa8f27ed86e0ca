"""The index: fingerprints grouped into exact copies, and near-copy links between those groups.

Exact groups share a pixel digest (identical decoded pixels; identical bytes imply it), so exact matches
never reach the near-duplicate detector. Near links join two groups whose representatives the detector
(`leakcheck.near`: candidates, then verification) accepts, each with a score and an explanation; the
expert `method="hash"` keeps the plain rule of both perceptual-hash distances within thresholds. Links
never chain: a sample's near copies are the members of the groups linked to its own group, one hop away.
"""

from __future__ import annotations

import numbers
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from leakcheck.model import Fingerprint, Skipped
from leakcheck.near import NearItem, NearMemo, NearSettings, find_near_pairs, settings_for
from leakcheck.progress import ProgressStart
from leakcheck.search import hamming_pairs
from leakcheck.splits import split_order

# "similar" rows come only from the optional semantic tier: listed as pairs, never counted as copies.
RelationKind = Literal["exact-bytes", "exact-pixels", "near", "similar"]
KIND_ORDER: tuple[RelationKind, ...] = ("exact-bytes", "exact-pixels", "near", "similar")
NearMethod = Literal["verified", "hash"]
_EXPLAIN_EXACT: dict[str, str] = {"exact-bytes": "identical file", "exact-pixels": "identical pixels"}
# The hash rule's pHash threshold unless one is given (the detector's comes from its sensitivity).
HASH_PHASH_DISTANCE = 10


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How near-duplicates are found.

    method "verified" (the default) runs the detector at a named `sensitivity`; `min_score` (0-1)
    overrides the sensitivity's score threshold and `phash_distance` its hash-candidate distance.
    method "hash" is the plain rule: pHash and dHash distances both within their thresholds. None for
    `phash_distance`: the sensitivity's candidate distance, and HASH_PHASH_DISTANCE for the rule.
    """

    near: bool = True
    phash_distance: int | None = None
    dhash_distance: int = 14
    method: NearMethod = "verified"
    sensitivity: str = "default"
    min_score: float | None = None

    def __post_init__(self) -> None:
        for name in ("phash_distance", "dhash_distance"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise ValueError(f"{name} must be a whole number of bits (0-64), got {value!r}")
            if value is not None and not 0 <= int(value) <= 64:
                raise ValueError(f"{name} must be between 0 and 64, got {value}")
        score = self.min_score
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, numbers.Real) or not 0.0 <= float(score) <= 1.0
        ):
            raise ValueError(f"min_score must be a number between 0 and 1, got {score!r}")
        if self.method not in ("verified", "hash"):
            raise ValueError(f"method must be 'verified' or 'hash', got {self.method!r}")
        self.settings()

    def settings(self) -> NearSettings:
        """The detector settings: the sensitivity's, with the expert overrides applied."""
        base = settings_for(self.sensitivity)
        return NearSettings(
            min_score=base.min_score if self.min_score is None else self.min_score,
            neighbours=base.neighbours,
            candidate_floor=base.candidate_floor,
            phash_distance=base.phash_distance if self.phash_distance is None else self.phash_distance,
            min_detail=base.min_detail,
        )

    def hash_rule_phash_distance(self) -> int:
        """The hash rule's pHash threshold (the rule alone, or the detector's never-less-than-the-rule links)."""
        return HASH_PHASH_DISTANCE if self.phash_distance is None else self.phash_distance


@dataclass(frozen=True, slots=True)
class Relation:
    """Two samples that hold the same image: the row of the pairs CSV."""

    a: str
    a_split: str
    a_label: str | None
    b: str
    b_split: str
    b_label: str | None
    kind: RelationKind
    distance: int
    # 1.0 for exact copies; the detector's calibrated score (0-1) for near ones.
    score: float = 1.0
    explanation: str = ""

    def sort_key(self) -> tuple[tuple[int, str], str, tuple[int, str], str]:
        return (split_order(self.a_split), self.a, split_order(self.b_split), self.b)

    def row(self) -> tuple[str, str, str | None, str, str, str | None, RelationKind, int, float, str]:
        """The pairs-CSV columns in order: the fixed a_path, a_split, a_label, b_path, b_split, b_label, kind,
        distance, then score and explanation."""
        return (
            self.a, self.a_split, self.a_label, self.b, self.b_split, self.b_label, self.kind, self.distance,
            self.score, self.explanation,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Copy:
    """The closest copy of a sample in some split: which sample and how it matches."""

    partner: int
    kind: RelationKind
    distance: int
    score: float = 1.0


class Index:
    """Readable fingerprints in report order (train first), their exact groups and near links."""

    def __init__(
        self,
        fingerprints: Iterable[Fingerprint],
        options: MatchOptions = MatchOptions(),
        *,
        skipped: Iterable[Skipped] = (),
        memo: NearMemo | None = None,
        jobs: int = 1,
        progress: ProgressStart | None = None,
        searching: ProgressStart | None = None,
        splits: Iterable[str] = (),
    ) -> None:
        """`splits`: splits the source found besides those of the samples (an empty split folder)."""
        all_fps = list(fingerprints)
        self._declared_splits = frozenset(splits)
        self._memo = memo
        self._jobs = jobs
        self._progress = progress
        self._searching = searching
        # Report order (split, then key), with split_order computed once per split rather than per sample.
        rank = {split: split_order(split) for split in {fp.record.split for fp in all_fps}}
        all_fps.sort(key=lambda fp: (rank[fp.record.split], fp.record.key))
        self.options = options
        self.skipped: tuple[Skipped, ...] = tuple(skipped)
        self.failed: tuple[Fingerprint, ...] = tuple(fp for fp in all_fps if not fp.ok)
        self.samples: tuple[Fingerprint, ...] = tuple(fp for fp in all_fps if fp.ok)
        by_digest: dict[str, list[int]] = defaultdict(list)
        for i, fp in enumerate(self.samples):
            by_digest[fp.pixel_digest].append(i)
        # Groups are ordered by their first member, members in sample order: member 0 is the representative.
        self.groups: tuple[tuple[int, ...], ...] = tuple(sorted(tuple(m) for m in by_digest.values()))
        group_of = np.empty(len(self.samples), dtype=np.intp)
        group_of[[i for members in self.groups for i in members]] = [
            g for g, members in enumerate(self.groups) for _ in members
        ]
        self.group_of = group_of
        self.near_links: tuple[frozenset[int], ...] = self._link_groups()

    def _link_groups(self) -> tuple[frozenset[int], ...]:
        links: list[set[int]] = [set() for _ in self.groups]
        self._near: dict[tuple[int, int], tuple[int, float, str]] = {}
        if not self.options.near or len(self.groups) < 2:
            return tuple(frozenset(s) for s in links)
        if self.options.method == "hash":
            found = self._hash_links()
        else:
            found = self._verified_links()
            # The detector never finds less than the hash rule: a pair within both hash thresholds that it
            # turned down (a plain picture's re-encoded copy can align best in a way its decision
            # distrusts) is kept with the rule's score, if that clears the sensitivity's threshold.
            # Fingerprints without a descriptor (built by hand, or from an older cache) keep the rule too.
            bare = {g for g, members in enumerate(self.groups) if self.samples[members[0]].near is None}
            have = {(g1, g2) for g1, g2, *_ in found}
            floor = self.options.settings().min_score
            found += [
                link
                for link in self._hash_links()
                if (link[0], link[1]) not in have and (link[3] >= floor or link[0] in bare or link[1] in bare)
            ]
        for g1, g2, distance, score, why in found:
            links[g1].add(g2)
            links[g2].add(g1)
            self._near[(min(g1, g2), max(g1, g2))] = (distance, score, why)
        return tuple(frozenset(s) for s in links)

    def _hash_links(self) -> list[tuple[int, int, int, float, str]]:
        reps = [g for g, members in enumerate(self.groups) if not self.samples[members[0]].flat]
        rep_samples = [self.samples[self.groups[g][0]] for g in reps]
        phashes = np.array([fp.phash for fp in rep_samples], dtype=np.uint64)
        dhashes = np.array([fp.dhash for fp in rep_samples], dtype=np.uint64)
        ii, jj, dd = hamming_pairs(phashes, self.options.hash_rule_phash_distance())
        keep = np.bitwise_count(dhashes[ii] ^ dhashes[jj]) <= self.options.dhash_distance
        return [
            (reps[i], reps[j], int(d), 1.0 - int(d) / 64.0, "hash distances within thresholds")
            for i, j, d in zip(ii[keep].tolist(), jj[keep].tolist(), dd[keep].tolist(), strict=True)
        ]

    def _verified_links(self) -> list[tuple[int, int, int, float, str]]:
        reps: list[int] = []
        items: list[NearItem] = []
        for g, members in enumerate(self.groups):
            fp = self.samples[members[0]]
            if fp.near is not None and not fp.flat:
                reps.append(g)
                items.append(NearItem(fp.near, (fp.width, fp.height)))
        return [
            (reps[m.i], reps[m.j], m.phash_distance, m.score, m.explanation)
            for m in find_near_pairs(
                items,
                self.options.settings(),
                memo=self._memo,
                workers=self._jobs,
                progress=self._progress,
                searching=self._searching,
            )
        ]

    def near_distance(self, g1: int, g2: int) -> int:
        """pHash distance (the smallest over quarter turns and mirrors) between two linked groups."""
        return self._near[(min(g1, g2), max(g1, g2))][0]

    def near_score(self, g1: int, g2: int) -> float:
        """The detector's score (0-1) for two linked groups."""
        return self._near[(min(g1, g2), max(g1, g2))][1]

    def near_explanation(self, g1: int, g2: int) -> str:
        """What most likely separates two linked groups' representatives."""
        return self._near[(min(g1, g2), max(g1, g2))][2]

    @property
    def splits(self) -> list[str]:
        """Every split: those of the samples, and those the source found empty."""
        found = {fp.record.split for fp in (*self.samples, *self.failed)}
        return sorted(found | self._declared_splits, key=split_order)

    def members_by_split(self, group: int) -> Mapping[str, Sequence[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for i in self.groups[group]:
            out[self.samples[i].record.split].append(i)
        return out

    def exact_kind(self, i: int, j: int) -> RelationKind:
        same_bytes = self.samples[i].file_digest == self.samples[j].file_digest
        return "exact-bytes" if same_bytes else "exact-pixels"

    def copy_in(self, i: int, split: str) -> Copy | None:
        """The best copy of sample `i` among the samples of `split` (other than `i` itself)."""
        g = int(self.group_of[i])
        exact = [j for j in self.groups[g] if j != i and self.samples[j].record.split == split]
        if exact:
            same_bytes = [j for j in exact if self.exact_kind(i, j) == "exact-bytes"]
            return Copy(same_bytes[0], "exact-bytes", 0) if same_bytes else Copy(exact[0], "exact-pixels", 0)
        best: Copy | None = None
        for other in sorted(self.near_links[g]):
            d, score = self.near_distance(g, other), self.near_score(g, other)
            for j in self.groups[other]:
                if self.samples[j].record.split == split and (best is None or score > best.score):
                    best = Copy(j, "near", d, score)
                    break
        return best

    def relations(self) -> list[Relation]:
        """Rows that connect every group: a star from each exact group's representative, plus one row per
        near link between two groups' representatives."""
        rows: list[Relation] = []
        for members in self.groups:
            center = members[0]
            for m in members[1:]:
                kind = self.exact_kind(center, m)
                # (In-memory samples have no file: their identical bytes are identical data.)
                files = self.samples[center].record.path is not None
                why = _EXPLAIN_EXACT[kind] if files or kind != "exact-bytes" else "identical data"
                rows.append(self._relation(center, m, kind, 0, 1.0, why))
        for g, linked in enumerate(self.near_links):
            for other in linked:
                if g < other:
                    distance, score, why = self._near[(g, other)]
                    rows.append(self._relation(self.groups[g][0], self.groups[other][0], "near", distance, score, why))
        rows.sort(key=Relation.sort_key)
        return rows

    def _relation(self, i: int, j: int, kind: RelationKind, distance: int, score: float, why: str) -> Relation:
        a, b = self.samples[i].record, self.samples[j].record
        return Relation(a.key, a.split, a.label, b.key, b.split, b.label, kind, distance, round(score, 4), why)
