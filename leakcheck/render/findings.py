"""A compact terminal listing of findings, for reports without splits (Keras preflight, check_batchnorm)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from leakcheck.model import Severity
from leakcheck.report import Report

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_TAG = {Severity.ERROR: "error", Severity.WARNING: "warn ", Severity.INFO: "info "}


def render_findings(report: Report, *, title: str) -> RenderableType:
    """One line per finding (most severe first) with its hint, under a title; a verdict line last."""
    parts: list[RenderableType] = [Text(title, style="bold")]
    for f in report.findings:
        parts.append(Text.assemble((_TAG[f.severity], _STYLE[f.severity]), f" [{f.check}] ", f.message))
        if f.hint:
            parts.append(Text("       " + f.hint, style="dim"))
    counts = report.counts()
    verdict = "FAIL" if counts["error"] else "PASS"
    parts.append(
        Text.assemble(
            (verdict, "bold red" if counts["error"] else "bold green"),
            f"  {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes",
        )
    )
    return Group(*parts)
