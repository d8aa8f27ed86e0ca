"""The pairs CSV: a stable contract, one row per duplicate relation."""

from __future__ import annotations

import csv
import io

from leakcheck.report import PAIR_COLUMNS, Report


def render_pairs_csv(report: Report) -> str:
    """`a_path,a_split,a_label,b_path,b_split,b_label,kind,distance`, rows in report order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PAIR_COLUMNS)
    for r in report.relations:
        writer.writerow("" if cell is None else cell for cell in r.row())
    return buf.getvalue()
