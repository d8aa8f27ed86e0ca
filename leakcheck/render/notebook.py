"""The notebook view of a Report (`_repr_html_`), rendered from an autoescaping template."""

from __future__ import annotations

from functools import cache

import jinja2

from leakcheck.report import Report


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("leakcheck", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_notebook_html(report: Report, *, max_items: int = 10) -> str:
    template = _environment().get_template("notebook.html.j2")
    return template.render(
        report=report,
        headline=report.headline(),
        counts=report.counts(),
        findings=[f for f in report.findings if int(f.severity) > 0][:max_items],
        more=max(0, sum(1 for f in report.findings if int(f.severity) > 0) - max_items),
        pairs=report.relations[:max_items],
        more_pairs=max(0, len(report.relations) - max_items),
    )
