"""What every human-facing renderer shows first: the verdict and the split x split leak matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leakcheck.report import LEAK_CHECK, Report

WITHIN_CHECK = "within-split-duplicates"
Verdict = Literal["LEAK", "FAIL", "PASS"]
CellKind = Literal["leak", "within", "clean", "none"]


def verdict(report: Report) -> Verdict:
    """LEAK when an evaluation split shares images with an earlier one, FAIL on other errors, else PASS."""
    if report.leaking:
        return "LEAK"
    return "FAIL" if report.counts()["error"] else "PASS"


@dataclass(frozen=True, slots=True)
class MatrixCell:
    """How many images of the row's split also appear in the column's split.

    Below the diagonal (a later split against an earlier one) the count is leakage; on the diagonal it
    is the extra copies inside the split; above it, and where the check that counts a cell was skipped,
    nothing is counted (`kind == "none"`).
    """

    kind: CellKind
    count: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def percent(self) -> str:
        if not self.count:
            return "0%"
        tenths = self.count * 1000 // self.total if self.total else 0
        return "<0.1%" if tenths == 0 else f"{tenths / 10:.1f}%"


@dataclass(frozen=True, slots=True)
class LeakMatrix:
    splits: tuple[str, ...]
    rows: tuple[tuple[MatrixCell, ...], ...]

    def cell(self, split: str, other: str) -> MatrixCell:
        return self.rows[self.splits.index(split)][self.splits.index(other)]


def leak_matrix(report: Report) -> LeakMatrix:
    """The matrix of the report's own findings (cross-split and within-split duplicates)."""
    names = tuple(s.split for s in report.splits)
    images = {s.split: s.images for s in report.splits}
    leaked: dict[tuple[str, str], tuple[int, int]] = {}
    for f in report.findings:
        if f.check == LEAK_CHECK:
            leaked[(str(f.metrics["split"]), str(f.metrics["other"]))] = (
                int(f.metrics["leaked"]),
                int(f.metrics["total"]),
            )
        elif f.check == WITHIN_CHECK:
            split = str(f.metrics["split"])
            leaked[(split, split)] = (int(f.metrics["extra_copies"]), int(f.metrics["total"]))
    counted = {"leak": report.ran(LEAK_CHECK), "within": report.ran(WITHIN_CHECK)}
    rows: list[tuple[MatrixCell, ...]] = []
    for r, split in enumerate(names):
        cells: list[MatrixCell] = []
        for c, other in enumerate(names):
            if c > r or not counted["within" if c == r else "leak"]:
                cells.append(MatrixCell("none"))
                continue
            count, total = leaked.get((split, other), (0, images[split]))
            kind: CellKind = "within" if c == r else "leak"
            cells.append(MatrixCell(kind if count else "clean", count, total))
        rows.append(tuple(cells))
    return LeakMatrix(names, tuple(rows))
