"""The HTML report: one self-contained page (inline CSS, JS and thumbnails) rendered from templates.

Every user-controlled string reaches the page either through Jinja's autoescaping or inside the JSON
data block (`tojson` escapes `<`, `>`, `&` and `'`), which the page's script puts into the DOM as text.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from leakcheck.index import Relation
from leakcheck.model import Finding
from leakcheck.render.summary import leak_matrix, verdict
from leakcheck.render.templating import environment
from leakcheck.report import LEAK_CHECK, PAIR_COLUMNS, Report, plain
from leakcheck.thumbnails import Thumbnailer

LABEL_CHECK = "label-conflicts"
PROPERTIES_CHECK = "image-properties"
_RELATION_CORE = ("a", "a_split", "a_label", "b", "b_split", "b_label", "kind", "distance")


def pair_extra_columns() -> tuple[str, ...]:
    """Relation fields beyond the pairs-CSV columns (none today: score and explanation are among them)."""
    return tuple(
        f.name for f in dataclasses.fields(Relation) if f.name not in _RELATION_CORE and f.name not in PAIR_COLUMNS
    )


def pairs_in_display_order(relations: Sequence[Relation]) -> list[Relation]:
    """Pairs across splits (the leaks) first, then pairs inside one split; report order within each."""
    return sorted(relations, key=lambda r: r.a_split == r.b_split)


def render_html(
    report: Report,
    *,
    thumbnail: Thumbnailer | None = None,
    preview_pairs: int = 100,
    max_conflicts: int = 50,
    conflict_samples: int = 6,
) -> str:
    """The full report as one HTML document.

    Args:
        thumbnail: maps a sample key to a `data:` URI (or None); called only for the images the page
            shows with a preview: both sides of the first `preview_pairs` pairs and the samples of the
            first `max_conflicts` label conflicts. Without it the page shows paths only.
    """
    pairs = pairs_in_display_order(report.relations)
    extras = pair_extra_columns()
    conflicts = [f for f in report.findings if f.check == LABEL_CHECK][:max_conflicts]
    wanted: list[str] = []
    for r in pairs[:preview_pairs]:
        wanted += [r.a, r.b]
    for f in conflicts:
        wanted += f.samples[:conflict_samples]
    thumbs: dict[str, str] = {}
    if thumbnail is not None:
        for key in dict.fromkeys(wanted):
            uri = thumbnail(key)
            if uri is not None:
                thumbs[key] = uri
    data = {
        "pairs": {
            "columns": [*PAIR_COLUMNS, *extras],
            "rows": [[*r.row(), *(plain(getattr(r, name)) for name in extras)] for r in pairs],
        },
        "findings": finding_rows(report.findings),
        "thumbs": thumbs,
    }
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report,
        verdict=verdict(report),
        counts=report.counts(),
        headline=report.headline(),
        matrix=leak_matrix(report),
        images=sum(s.images for s in report.splits),
        conflicts=[(f, f.samples[:conflict_samples], len(f.samples) - conflict_samples) for f in conflicts],
        more_conflicts=sum(1 for f in report.findings if f.check == LABEL_CHECK) - len(conflicts),
        balance=_balance(report),
        properties=_properties(report),
        leak_total=sum(int(f.metrics["leaked"]) for f in report.findings if f.check == LEAK_CHECK),
        parameters=json.dumps(plain(report.parameters), indent=2, ensure_ascii=False),
        data=data,
        preview_pairs=min(preview_pairs, len(pairs)),
    )


def _bars(counts: Mapping[str, int]) -> list[tuple[str, int, float]]:
    """(name, count, width in % of the largest) for a bar chart."""
    top = max(counts.values(), default=0)
    return [(name, n, round(100.0 * n / top, 1) if top else 0.0) for name, n in counts.items()]


def _balance(report: Report) -> list[dict[str, Any]]:
    out = []
    for s in report.splits:
        if not s.classes:
            continue
        values = list(s.classes.values())
        out.append(
            {
                "split": s.split,
                "bars": _bars(s.classes),
                "classes": len(values),
                "ratio": f"{max(values) / min(values):.1f}:1" if min(values) else "-",
            }
        )
    return out


def _properties(report: Report) -> list[dict[str, Any]]:
    sizes: dict[str, Mapping[str, Any]] = {}
    for f in report.findings:
        if f.check == PROPERTIES_CHECK and f.metrics.get("problem") == "sizes":
            sizes[str(f.metrics["split"])] = f.metrics
    out = []
    for s in report.splits:
        size = sizes.get(s.split)
        mean = s.channel_mean
        out.append(
            {
                "split": s.split,
                "images": s.images,
                "unreadable": s.unreadable,
                "modes": _bars(s.modes),
                "formats": _bars(s.formats),
                "width": dict(size["width"]) if size else None,
                "height": dict(size["height"]) if size else None,
                "mean": ", ".join(f"{v:.1f}" for v in mean),
                "swatch": "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, round(v))) for v in mean))
                if len(mean) == 3
                else None,
            }
        )
    return out


def finding_rows(findings: Sequence[Finding]) -> list[list[Any]]:
    return [[str(f.severity), f.check, f.message, f.hint or "", len(f.samples), f.id] for f in findings]
