"""Renderers: pure functions of a Report that return strings or rich renderables. Only the CLI writes."""

from leakcheck.render.pairs_csv import render_pairs_csv
from leakcheck.render.terminal import render_terminal

__all__ = ["render_pairs_csv", "render_terminal"]
