"""The pairs CSV: a stable contract, one row per duplicate relation."""

from __future__ import annotations

from leakcheck.csvtext import CsvText
from leakcheck.report import PAIR_COLUMNS, Report


def render_pairs_csv(report: Report) -> str:
    """`a_path,a_split,a_label,b_path,b_split,b_label,kind,distance,score,explanation`, rows in report order.

    The first eight columns are the fixed contract; `score` (1 for exact copies, the detector's 0-1
    score for near ones) and `explanation` (what separates the two images) come after them.
    """
    out = CsvText()
    out.row(PAIR_COLUMNS)
    for r in report.relations:
        out.row(_cell(cell) for cell in r.row())
    return out.text()


def _cell(value: object) -> object:
    """Empty for a missing label; scores with four decimals."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return value
