"""The notebook view of a Report (`_repr_html_`, `show_pairs`), rendered from autoescaping templates.

Notebook front ends drop `<style>` and `<script>` in untrusted output, so these views use inline styles
and no script; previews are `data:` URIs made by the `thumbnail` callable the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass

from leakcheck.render.html_report import pairs_in_display_order
from leakcheck.render.summary import leak_matrix, verdict
from leakcheck.render.templating import environment
from leakcheck.report import Report
from leakcheck.thumbnails import Thumbnailer, thumbnailer


def _previews(report: Report, keys: list[str], thumbnail: Thumbnailer | None) -> dict[str, str]:
    if thumbnail is None:
        return {}
    return {key: uri for key in dict.fromkeys(keys) if (uri := thumbnail(key)) is not None}


def render_notebook_html(
    report: Report, *, max_items: int = 10, max_pairs: int = 5, thumbnail: Thumbnailer | None = None
) -> str:
    """Verdict, headline, leak matrix, the first `max_pairs` pairs side by side, then the findings."""
    pairs = pairs_in_display_order(report.relations)[:max_pairs]
    problems = [f for f in report.findings if int(f.severity) > 0]
    return (
        environment()
        .get_template("notebook.html.j2")
        .render(
            report=report,
            verdict=verdict(report),
            headline=report.headline(),
            counts=report.counts(),
            matrix=leak_matrix(report),
            findings=problems[:max_items],
            more=max(0, len(problems) - max_items),
            pairs=pairs,
            more_pairs=len(report.relations) - len(pairs),
            thumbs=_previews(report, [k for r in pairs for k in (r.a, r.b)], thumbnail),
        )
    )


def render_pairs_html(report: Report, n: int = 20, *, thumbnail: Thumbnailer | None = None) -> str:
    """The first `n` duplicate pairs (across splits first) side by side."""
    pairs = pairs_in_display_order(report.relations)[:n]
    return (
        environment()
        .get_template("notebook_pairs.html.j2")
        .render(
            pairs=pairs,
            total=len(report.relations),
            thumbs=_previews(report, [k for r in pairs for k in (r.a, r.b)], thumbnail),
        )
    )


def report_thumbnailer(report: Report) -> Thumbnailer | None:
    """Previews from the scanned folder, when the report knows where it is (a fresh `scan`, not JSON), of
    every image the scan decoded (its `max_pixels`)."""
    if report.root_path is None:
        return None
    limit = report.parameters.get("max_pixels")
    if isinstance(limit, int) and not isinstance(limit, bool):
        return thumbnailer(report.root_path, max_pixels=limit)
    return thumbnailer(report.root_path)


@dataclass(frozen=True, slots=True)
class PairsView:
    """What `Report.show_pairs(n)` returns: displayed by IPython/Jupyter through `_repr_html_`."""

    report: Report
    n: int

    def _repr_html_(self) -> str:
        return render_pairs_html(self.report, self.n, thumbnail=report_thumbnailer(self.report))

    def __repr__(self) -> str:
        shown = min(self.n, len(self.report.relations))
        return f"<{shown} of {len(self.report.relations)} duplicate pairs; display in a notebook to see them>"
