"""Duplicate images across splits (leakage) and within a split (silent reweighting)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from leakcheck.checks.base import fmt_count, fmt_percent
from leakcheck.index import KIND_ORDER, Index
from leakcheck.model import Finding, Fingerprint, Severity

_EXAMPLES = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossSplitDuplicates:
    """Images of a later split (val, test, ...) that also appear in an earlier one (train first).

    One finding per (split, earlier split) pair with a leak, carrying counts by match kind and class.
    """

    id: ClassVar[str] = "cross-split-duplicates"
    severity: Severity = Severity.ERROR

    def params(self) -> Mapping[str, Any]:
        return {"severity": str(self.severity)}

    def run(self, index: Index) -> Iterator[Finding]:
        splits = index.splits
        per_split: dict[str, list[int]] = defaultdict(list)
        for i, fp in enumerate(index.samples):
            per_split[fp.record.split].append(i)
        for e_pos, evaluated in enumerate(splits):
            for reference in splits[:e_pos]:
                leaked: list[tuple[int, int, str]] = []
                for i in per_split[evaluated]:
                    copy = index.copy_in(i, reference)
                    if copy is not None:
                        leaked.append((i, copy.partner, copy.kind))
                if not leaked:
                    continue
                total = len(per_split[evaluated])
                by_kind = Counter(kind for _, _, kind in leaked)
                by_class = Counter(index.samples[i].record.label or "" for i, _, _ in leaked)
                message = (
                    f"{evaluated}: {fmt_count(len(leaked))} of {fmt_count(total)} images "
                    f"({fmt_percent(len(leaked), total)}) also appear in {reference}"
                )
                yield Finding(
                    check=self.id,
                    severity=self.severity,
                    message=message,
                    samples=tuple(sorted(index.samples[i].record.key for i, _, _ in leaked)),
                    metrics={
                        "split": evaluated,
                        "other": reference,
                        "leaked": len(leaked),
                        "total": total,
                        "fraction": round(len(leaked) / total, 6),
                        "by_kind": {k: by_kind[k] for k in KIND_ORDER if by_kind[k]},
                        "by_class": dict(sorted(by_class.items())),
                        "examples": [
                            [index.samples[i].record.key, index.samples[j].record.key, kind]
                            for i, j, kind in leaked[:_EXAMPLES]
                        ],
                    },
                    hint=f"drop these images from {evaluated} (--pairs lists each copy) or re-split by duplicate group",
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class WithinSplitDuplicates:
    """Copies inside one split: they do not leak, but they silently give some images more weight."""

    id: ClassVar[str] = "within-split-duplicates"
    severity: Severity = Severity.WARNING

    def params(self) -> Mapping[str, Any]:
        return {"severity": str(self.severity)}

    def run(self, index: Index) -> Iterator[Finding]:
        for split in index.splits:
            members = [i for i, fp in enumerate(index.samples) if fp.record.split == split]
            sets = _copy_sets(index, members)
            if not sets:
                continue
            # One sample of each set is the one to keep, the others are extras: the largest picture, then the
            # largest file (the least re-compressed), then the first by name (train[2] before train[10]). A
            # choice by content stays the same when files are renamed, so a baseline still accepts it.
            ordered = [sorted(s, key=lambda i: _keep_first(index.samples[i])) for s in sets]
            extras = sorted(index.samples[i].record.key for members in ordered for i in members[1:])
            total = len(members)
            yield Finding(
                check=self.id,
                severity=self.severity,
                message=(
                    f"{split}: {fmt_count(len(extras))} of {fmt_count(total)} images "
                    f"({fmt_percent(len(extras), total)}) are extra copies of other {split} images "
                    f"({fmt_count(len(sets))} {'set' if len(sets) == 1 else 'sets'})"
                ),
                samples=tuple(extras),
                metrics={"split": split, "extra_copies": len(extras), "sets": len(sets), "total": total},
                hint="keep one image of each set so that no image counts twice",
            )


_POSITION = re.compile(r"(.*)\[(\d+)\]")


def _keep_first(fp: Fingerprint) -> tuple[int, int, tuple[str, int, str]]:
    return (-fp.width * fp.height, -fp.file_size, _in_order(fp.record.key))


def _in_order(key: str) -> tuple[str, int, str]:
    """A sample key's place: by position for in-memory samples (`train[12]`), else by the key itself."""
    m = _POSITION.fullmatch(key)
    return (m.group(1), int(m.group(2)), key) if m else (key, -1, key)


def _copy_sets(index: Index, members: list[int]) -> list[list[int]]:
    """Sets (size >= 2) of samples among `members` joined by exact copies or near links."""
    member_set = set(members)
    parent: dict[int, int] = {i: i for i in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of_group: dict[int, int] = {}
    for i, g in zip(members, index.group_of[members].tolist(), strict=True):
        if g in first_of_group:
            union(first_of_group[g], i)
        else:
            first_of_group[g] = i
    links = index.near_links
    for g, i in first_of_group.items():
        for other in links[g]:
            j = first_of_group.get(other)
            if j is not None and j in member_set:
                union(i, j)
    sets: dict[int, list[int]] = defaultdict(list)
    for i in members:
        sets[find(i)].append(i)
    return sorted(s for s in sets.values() if len(s) > 1)
