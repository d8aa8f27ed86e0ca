"""Class counts per split: imbalance, classes missing from a split, classes never seen in training."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from leakcheck.checks.base import fmt_count, plural
from leakcheck.index import Index
from leakcheck.model import Finding, Severity
from leakcheck.splits import TRAIN

_LISTED = 8


def _names(labels: list[str]) -> str:
    shown = ", ".join(labels[:_LISTED])
    return shown + (f" ... and {len(labels) - _LISTED} more" if len(labels) > _LISTED else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassBalance:
    """Counts of labelled images per split and class.

    Args:
        max_imbalance: largest/smallest class count above which a split is reported as imbalanced.
    """

    id: ClassVar[str] = "class-balance"
    max_imbalance: float = 10.0

    def __post_init__(self) -> None:
        if not self.max_imbalance >= 1.0:
            raise ValueError(f"max_imbalance must be >= 1, got {self.max_imbalance}")

    def params(self) -> Mapping[str, Any]:
        return {"max_imbalance": self.max_imbalance}

    def run(self, index: Index) -> Iterator[Finding]:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for fp in (*index.samples, *index.failed):
            if fp.record.label is not None:
                counts[fp.record.split][fp.record.label] += 1
        for split in index.splits:
            per_class = counts.get(split)
            if not per_class or len(per_class) < 2:
                continue
            (big, n_big), (small, n_small) = per_class.most_common()[0], per_class.most_common()[-1]
            ratio = n_big / n_small
            if ratio > self.max_imbalance:
                yield Finding(
                    check=self.id,
                    severity=Severity.WARNING,
                    message=(
                        f"{split}: classes are imbalanced {ratio:.1f}:1 ({big!r} has {fmt_count(n_big)} images, "
                        f"{small!r} {fmt_count(n_small)})"
                    ),
                    metrics={"split": split, "ratio": round(ratio, 4), "largest": big, "smallest": small},
                    hint="use class weights or resampling, and report per-class metrics",
                )
        train = counts.get(TRAIN)
        if not train:
            return
        for split in index.splits:
            if split == TRAIN or split not in counts:
                continue
            unseen = sorted(set(counts[split]) - set(train))
            if unseen:
                folded = {c.casefold(): c for c in train}
                near_miss = [f"{c!r} (train has {folded[c.casefold()]!r})" for c in unseen if c.casefold() in folded]
                yield Finding(
                    check=self.id,
                    severity=Severity.ERROR,
                    message=f"{split}: {plural(len(unseen), 'class', 'classes')} never in train: {_names(unseen)}",
                    metrics={"split": split, "classes": unseen},
                    hint=(
                        "class folders differ only in case: " + ", ".join(near_miss)
                        if near_miss
                        else "the model cannot predict a class it never saw; add training images or drop the class"
                    ),
                )
            missing = sorted(set(train) - set(counts[split]))
            if missing:
                yield Finding(
                    check=self.id,
                    severity=Severity.WARNING,
                    message=f"{split}: {len(missing)} of {len(train)} train classes have no images: {_names(missing)}",
                    metrics={"split": split, "classes": missing},
                    hint=(
                        "evaluation says nothing about these classes; and with label indices taken from folder "
                        "order, indices differ between splits"
                    ),
                )
