"""The index: fingerprints grouped into exact copies, and near-copy links between those groups.

Exact groups share a pixel digest (identical decoded pixels; identical bytes imply it). Near links join
two groups whose representatives' perceptual hashes are within both thresholds. Links never chain: a
sample's near copies are the members of the groups linked to its own group, one hop away.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from leakcheck.model import Fingerprint, Skipped
from leakcheck.search import hamming_pairs
from leakcheck.splits import split_order

RelationKind = Literal["exact-bytes", "exact-pixels", "near"]
KIND_ORDER: tuple[RelationKind, ...] = ("exact-bytes", "exact-pixels", "near")


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How close two perceptual hashes must be to call the images near-duplicates (both must hold)."""

    near: bool = True
    phash_distance: int = 10
    dhash_distance: int = 14

    def __post_init__(self) -> None:
        for name in ("phash_distance", "dhash_distance"):
            value = getattr(self, name)
            if not 0 <= value <= 64:
                raise ValueError(f"{name} must be between 0 and 64, got {value}")


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

    def sort_key(self) -> tuple[tuple[int, str], str, tuple[int, str], str]:
        return (split_order(self.a_split), self.a, split_order(self.b_split), self.b)

    def row(self) -> tuple[str, str, str | None, str, str, str | None, RelationKind, int]:
        """The fixed pairs-CSV columns, in order: a_path, a_split, a_label, b_path, b_split, b_label, kind, distance."""
        return (self.a, self.a_split, self.a_label, self.b, self.b_split, self.b_label, self.kind, self.distance)


@dataclass(frozen=True, slots=True)
class Copy:
    """The closest copy of a sample in some split: which sample and how it matches."""

    partner: int
    kind: RelationKind
    distance: int


def _sample_order(fp: Fingerprint) -> tuple[tuple[int, str], str]:
    return (split_order(fp.record.split), fp.record.key)


class Index:
    """Readable fingerprints in report order (train first), their exact groups and near links."""

    def __init__(
        self,
        fingerprints: Iterable[Fingerprint],
        options: MatchOptions = MatchOptions(),
        *,
        skipped: Iterable[Skipped] = (),
    ) -> None:
        all_fps = sorted(fingerprints, key=_sample_order)
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
        for g, members in enumerate(self.groups):
            group_of[list(members)] = g
        self.group_of = group_of
        self.near_links: tuple[frozenset[int], ...] = self._link_groups()

    def _link_groups(self) -> tuple[frozenset[int], ...]:
        links: list[set[int]] = [set() for _ in self.groups]
        self._near_distance: dict[tuple[int, int], int] = {}
        if not self.options.near or len(self.groups) < 2:
            return tuple(frozenset(s) for s in links)
        reps = [g for g, members in enumerate(self.groups) if not self.samples[members[0]].flat]
        rep_samples = [self.samples[self.groups[g][0]] for g in reps]
        phashes = np.array([fp.phash for fp in rep_samples], dtype=np.uint64)
        dhashes = np.array([fp.dhash for fp in rep_samples], dtype=np.uint64)
        ii, jj, dd = hamming_pairs(phashes, self.options.phash_distance)
        keep = np.bitwise_count(dhashes[ii] ^ dhashes[jj]) <= self.options.dhash_distance
        for i, j, d in zip(ii[keep].tolist(), jj[keep].tolist(), dd[keep].tolist(), strict=True):
            g1, g2 = reps[i], reps[j]
            links[g1].add(g2)
            links[g2].add(g1)
            self._near_distance[(min(g1, g2), max(g1, g2))] = int(d)
        return tuple(frozenset(s) for s in links)

    def near_distance(self, g1: int, g2: int) -> int:
        """pHash distance between the representatives of two linked groups."""
        return self._near_distance[(min(g1, g2), max(g1, g2))]

    @property
    def splits(self) -> list[str]:
        return sorted({fp.record.split for fp in (*self.samples, *self.failed)}, key=split_order)

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
            d = self.near_distance(g, other)
            for j in self.groups[other]:
                if self.samples[j].record.split == split and (best is None or d < best.distance):
                    best = Copy(j, "near", d)
                    break
        return best

    def relations(self) -> list[Relation]:
        """Rows that connect every group: a star from each exact group's representative, plus one row per
        near link between two groups' representatives."""
        rows: list[Relation] = []
        for members in self.groups:
            center = members[0]
            rows.extend(self._relation(center, m, self.exact_kind(center, m), 0) for m in members[1:])
        for g, linked in enumerate(self.near_links):
            for other in linked:
                if g < other:
                    rows.append(
                        self._relation(self.groups[g][0], self.groups[other][0], "near", self.near_distance(g, other))
                    )
        rows.sort(key=Relation.sort_key)
        return rows

    def _relation(self, i: int, j: int, kind: RelationKind, distance: int) -> Relation:
        a, b = self.samples[i].record, self.samples[j].record
        return Relation(a.key, a.split, a.label, b.key, b.split, b.label, kind, distance)
