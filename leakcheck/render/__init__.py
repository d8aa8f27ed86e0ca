"""Renderers: pure functions of a Report that return strings or rich renderables. Only the CLI writes."""

from leakcheck.render.html_report import render_html
from leakcheck.render.junit import render_junit
from leakcheck.render.markdown import render_markdown
from leakcheck.render.pairs_csv import render_pairs_csv
from leakcheck.render.terminal import render_terminal

__all__ = ["render_html", "render_junit", "render_markdown", "render_pairs_csv", "render_terminal"]
