"""The same image under different labels, within or across splits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from leakcheck.index import Index
from leakcheck.model import Finding, Severity

_LISTED = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelConflicts:
    """Identical images with different labels are an error; near-identical ones a warning."""

    id: ClassVar[str] = "label-conflicts"
    exact_severity: Severity = Severity.ERROR
    near_severity: Severity = Severity.WARNING

    def params(self) -> Mapping[str, Any]:
        return {"exact_severity": str(self.exact_severity), "near_severity": str(self.near_severity)}

    def run(self, index: Index) -> Iterator[Finding]:
        for members in index.groups:
            labels = {index.samples[i].record.label for i in members} - {None}
            if len(labels) > 1:
                yield self._finding(index, list(members), "identical", self.exact_severity)
        for g, linked in enumerate(index.near_links):
            for other in sorted(linked):
                if other <= g:
                    continue
                mine = {index.samples[i].record.label for i in index.groups[g]} - {None}
                theirs = {index.samples[i].record.label for i in index.groups[other]} - {None}
                if mine and theirs and mine != theirs:
                    yield self._finding(
                        index, [*index.groups[g], *index.groups[other]], "near-identical", self.near_severity
                    )

    def _finding(self, index: Index, members: list[int], how: str, severity: Severity) -> Finding:
        records = [index.samples[i].record for i in members]
        labels = sorted({r.label for r in records if r.label is not None})
        keys = sorted(r.key for r in records)
        shown = ", ".join(keys[:_LISTED]) + (f" ... and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")
        return Finding(
            check=self.id,
            severity=severity,
            message=f"{how} images labelled {' vs '.join(repr(x) for x in labels)}: {shown}",
            samples=tuple(keys),
            metrics={"labels": labels, "match": how},
            hint="decide the right label and keep one copy, or drop the image",
        )
