"""Group leakage: one patient, subject, video or session on both sides of a split.

Images of one group share more than pixels (the same anatomy, face, scene or camera), so a model can
score well by recognising the group; no single image has to be duplicated for the evaluation to leak.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from leakcheck.checks.base import fmt_count, fmt_percent, plural
from leakcheck.index import Index
from leakcheck.model import Finding, Severity

_EXAMPLES = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLeakage:
    """Groups (from a manifest's `group` column or `--group-pattern`) found in more than one split.

    One finding per (split, earlier split) pair that shares groups; nothing when no sample has a group.
    """

    id: ClassVar[str] = "group-leakage"
    severity: Severity = Severity.ERROR

    def params(self) -> Mapping[str, Any]:
        return {"severity": str(self.severity)}

    def run(self, index: Index) -> Iterator[Finding]:
        members: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        ungrouped = 0
        for fp in (*index.samples, *index.failed):
            if fp.record.group is None:
                ungrouped += 1
            else:
                members[fp.record.group][fp.record.split].append(fp.record.key)
        if not members:
            return
        splits = index.splits
        per_split = Counter(split for by_split in members.values() for split in by_split)
        shared_any = False
        for e_pos, evaluated in enumerate(splits):
            for reference in splits[:e_pos]:
                shared = sorted(g for g, by_split in members.items() if evaluated in by_split and reference in by_split)
                if not shared:
                    continue
                shared_any = True
                images = sum(len(members[g][evaluated]) for g in shared)
                examples = [
                    f"{g} ({len(members[g][reference])} in {reference}, {len(members[g][evaluated])} in {evaluated})"
                    for g in shared[:_EXAMPLES]
                ]
                more = f" ... and {len(shared) - _EXAMPLES} more" if len(shared) > _EXAMPLES else ""
                yield Finding(
                    check=self.id,
                    severity=self.severity,
                    message=(
                        f"{evaluated}: {fmt_count(len(shared))} of {fmt_count(per_split[evaluated])} groups "
                        f"({fmt_percent(len(shared), per_split[evaluated])}, {plural(images, 'image')}) also "
                        f"appear in {reference}: {', '.join(examples)}{more}"
                    ),
                    samples=tuple(sorted(k for g in shared for k in (*members[g][evaluated], *members[g][reference]))),
                    metrics={
                        "split": evaluated,
                        "other": reference,
                        "groups": len(shared),
                        "total_groups": per_split[evaluated],
                        "images": images,
                        "examples": {
                            g: {reference: len(members[g][reference]), evaluated: len(members[g][evaluated])}
                            for g in shared[:20]
                        },
                    },
                    hint="split by group, not by image (e.g. sklearn's GroupShuffleSplit), so that each group "
                    "lies in exactly one split",
                )
        if not shared_any:
            counts = ", ".join(f"{fmt_count(per_split[s])} in {s}" for s in splits if per_split[s])
            yield Finding(
                check=self.id,
                severity=Severity.INFO,
                message=f"groups: {counts}; none appears in more than one split",
                metrics={"groups": dict(sorted(per_split.items())), "ungrouped": ungrouped},
            )
