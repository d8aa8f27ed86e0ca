"""The terminal report: the leak headline first, then the splits, then findings by severity."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from leakcheck.checks.base import plural
from leakcheck.index import Relation
from leakcheck.model import Finding, Severity
from leakcheck.render.text import printable
from leakcheck.report import LEAK_CHECK, Report

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_TAG = {Severity.ERROR: "error", Severity.WARNING: "warn ", Severity.INFO: "info "}


def render_terminal(report: Report, *, max_items: int = 10, verbose: bool = False) -> RenderableType:
    """A rich renderable. Lists longer than `max_items` end with '... and N more'."""
    parts: list[RenderableType] = []
    images = sum(s.images for s in report.splits)
    title = Text.assemble(
        ("leakcheck ", "bold"), (report.version, "dim"), "  ",
        (printable(report.root), "bold"), f"  {len(report.splits)} splits, {images:,} images",
    )  # fmt: skip
    parts.append(title)
    for line in report.headline():
        if line.leaked:
            parts.append(Text.assemble(("LEAK  ", "bold red"), (printable(line.message), "red")))
        elif not line.checked:
            parts.append(Text.assemble(("skip  ", "bold yellow"), printable(line.message)))
        else:
            parts.append(Text.assemble(("ok    ", "bold green"), printable(line.message)))
    parts.append(Text(""))
    parts.append(_splits_table(report))

    by_check: dict[tuple[Severity, str], list[Finding]] = defaultdict(list)
    for f in report.findings:
        if f.severity > Severity.INFO or verbose:
            by_check[(f.severity, f.check)].append(f)
    for (severity, check), findings in by_check.items():
        parts.append(Text(""))
        parts.append(Text(f"{check} ({len(findings)})", style="bold"))
        for f in findings[:max_items]:
            parts.append(Text.assemble((_TAG[severity], _STYLE[severity]), " ", printable(f.message)))
            if f.hint:
                parts.append(Text("       " + printable(f.hint), style="dim"))
            parts.extend(_sample_lines(f, max_items))
        if len(findings) > max_items:
            parts.append(Text(f"       ... and {len(findings) - max_items:,} more", style="dim"))
    info = [f for f in report.findings if f.severity == Severity.INFO]
    if info and not verbose:
        parts.append(Text(""))
        for f in info[:max_items]:
            parts.append(Text.assemble(("info  ", "dim"), (printable(f.message), "dim")))
        if len(info) > max_items:
            parts.append(Text(f"      ... and {len(info) - max_items:,} more", style="dim"))
    parts.extend(_near_pairs(report, max_items))
    counts = report.counts()
    parts.append(Text(""))
    verdict = "LEAK" if report.leaking else ("FAIL" if counts["error"] else "PASS")
    style = "bold red" if verdict != "PASS" else "bold green"
    parts.append(
        Text.assemble(
            (verdict, style),
            f"  {plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}, "
            f"{plural(counts['info'], 'note')}; {_pair_counts(report)}",
        )
    )
    return Group(*parts)


def _pair_counts(report: Report) -> str:
    """'N duplicate pairs', and the similar pairs apart (the semantic tier's are not copies)."""
    similar = sum(1 for r in report.relations if r.kind == "similar")
    text = plural(len(report.relations) - similar, "duplicate pair")
    return f"{text}, {plural(similar, 'similar pair')}" if similar else text


def _sample_lines(f: Finding, max_items: int) -> list[Text]:
    """The samples behind a finding, capped; a leak lists each copy beside its original."""
    # (Only a cross-split leak's examples are (copy, original, kind) rows; group leakage keeps counts per group.)
    examples = f.metrics.get("examples") if f.check == "cross-split-duplicates" else None
    if examples:
        lines = [
            Text.assemble(
                "       ", printable(str(copy)), ("  =  ", "dim"), printable(str(original)), (f"  {kind}", "dim")
            )
            for copy, original, kind in list(examples)[:max_items]
        ]
        total = len(f.samples)
    elif any(key not in f.message for key in f.samples):
        lines = [Text("       " + printable(key)) for key in f.samples[:max_items]]
        total = len(f.samples)
    else:
        return []
    if total > len(lines):
        lines.append(Text(f"       ... and {total - len(lines):,} more", style="dim"))
    return lines


def _splits_table(report: Report) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("split", "left"), ("images", "right"), ("classes", "right"),
                         ("unreadable", "right"), ("leaked into earlier splits", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]  # rich types justify as a Literal
    leaked = report.leaked_per_split()
    checked = report.ran(LEAK_CHECK)
    for s in report.splits:
        count = leaked.get(s.split, 0)
        # (Text cells: a split named like rich markup, "[bold]x", is shown as written.)
        table.add_row(
            Text(printable(s.split)), f"{s.images:,}", f"{len(s.classes):,}" if s.classes else "-",
            f"{s.unreadable:,}", f"{count:,}" if count else ("-" if checked else "not checked"),
        )  # fmt: skip
    return table


def _near_pairs(report: Report, max_items: int) -> list[RenderableType]:
    """The near-duplicate pairs, strongest first, each with its score and what separates the two; then
    the semantic tier's similar pairs under their own heading (they are not copies)."""
    parts: list[RenderableType] = []
    for kind, title in (("near", "near-duplicate pairs"), ("similar", "semantically similar pairs (not copies)")):
        pairs = sorted((r for r in report.relations if r.kind == kind), key=lambda r: (-r.score, r.sort_key()))
        if pairs:
            parts += _pair_lines(pairs, title, max_items)
    return parts


def _pair_lines(near: list[Relation], title: str, max_items: int) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(""), Text(f"{title} ({len(near):,})", style="bold")]
    for r in near[:max_items]:
        parts.append(
            Text.assemble(
                (f"{r.score:.2f}  ", "bold"),
                printable(r.a),
                " ~ ",
                printable(r.b),
                ("  " + printable(r.explanation), "dim"),
            )
        )
    if len(near) > max_items:
        parts.append(Text(f"      ... and {len(near) - max_items:,} more (--pairs lists them all)", style="dim"))
    return parts
