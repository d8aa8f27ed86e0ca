"""The baseline comparison for people (terminal) and machines (the JSON report's `baseline` section)."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.text import Text

from leakcheck.baseline import Comparison, Entry
from leakcheck.model import Severity
from leakcheck.render.markdown import md_code, md_text
from leakcheck.render.text import printable
from leakcheck.report import FailOn, Report

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def _listed(entries: tuple[Entry, ...], tag: str, style: str | None, max_items: int) -> list[RenderableType]:
    lines: list[RenderableType] = [
        Text.assemble((tag, style or _STYLE[e.severity]), printable(e.describe())) for e in entries[:max_items]
    ]
    if len(entries) > max_items:
        lines.append(Text(f"      ... and {len(entries) - max_items:,} more", style="dim"))
    return lines


def render_comparison(
    comparison: Comparison, *, source: str, fail_on: FailOn = "error", max_items: int = 10
) -> RenderableType:
    """What is new since the baseline (listed first: it decides the exit code), what moved, what is gone,
    and the verdict against the baseline."""
    counts = (
        f": {len(comparison.accepted):,} accepted, {len(comparison.new):,} new, "
        f"{len(comparison.stale):,} no longer occur"
    )
    parts: list[RenderableType] = [Text(""), Text.assemble(("baseline ", "bold"), printable(source), counts)]
    parts.extend(_listed(comparison.new, "new   ", None, max_items))
    for old, current in comparison.moved[:max_items]:
        parts.append(Text(f"moved {printable(old.sample)} -> {printable(current.sample)} (same content)", style="dim"))
    parts.extend(_listed(comparison.stale, "gone  ", "green", max_items))
    if comparison.stale:
        parts.append(Text("      these no longer occur: re-run 'leakcheck baseline' to drop them", style="dim"))
    if comparison.unchecked:
        n = len(comparison.unchecked)
        checks = printable(", ".join(sorted({e.check for e in comparison.unchecked})))
        entries = "entry" if n == 1 else "entries"
        parts.append(Text(f"{n:,} accepted {entries} not checked in this run ({checks}: skipped or set to info); kept",
                          style="dim"))  # fmt: skip
    failed, verdict = _verdict(comparison, fail_on)
    parts.append(Text.assemble(("FAIL", "bold red") if failed else ("PASS", "bold green"), f"  {verdict}"))
    return Group(*parts)


def _verdict(comparison: Comparison, fail_on: FailOn) -> tuple[bool, str]:
    """Whether the comparison fails the run, and why in words."""
    if comparison.exit_code(fail_on):
        return True, "new findings since the baseline"
    if comparison.new and fail_on == "never":
        return False, f"{len(comparison.new):,} new (with --fail-on never nothing fails)"
    if comparison.new:
        return False, f"nothing new at or above --fail-on {fail_on} ({len(comparison.new):,} new below it)"
    return False, "nothing new since the baseline"


def render_comparison_markdown(
    comparison: Comparison, *, source: str, fail_on: FailOn = "error", max_items: int = 8
) -> str:
    """The baseline section appended to the Markdown summary: the counts, what is new (it decides the exit
    code), and the verdict against the baseline."""
    failed, why = _verdict(comparison, fail_on)
    verdict = f"{'FAIL' if failed else 'PASS'}: {why}"
    lines = [
        f"**Baseline** {md_code(source)}: {len(comparison.accepted):,} accepted, {len(comparison.new):,} new, "
        f"{len(comparison.stale):,} no longer occur \N{MIDDLE DOT} **{verdict}**",
        "",
    ]
    for e in comparison.new[:max_items]:
        lines.append(f"- new {e.severity}: {md_code(e.check)} {md_text(e.scope)} {md_code(e.sample)}")
    if len(comparison.new) > max_items:
        lines.append(f"- \N{HORIZONTAL ELLIPSIS} and {len(comparison.new) - max_items:,} more")
    if comparison.new:
        lines.append("")
    return "\n".join(lines)


def render_json_with_baseline(report: Report, comparison: Comparison, *, source: str) -> str:
    """The JSON report with a `baseline` section (the file as given, and the comparison)."""
    payload = report.to_dict()
    payload["baseline"] = {"file": source, **comparison.to_dict()}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
