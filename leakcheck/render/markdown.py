"""The Markdown summary for pull-request comments: one screen, verdict first, lists capped.

Paths and labels are user-controlled: they are shown as code spans (never parsed as Markdown or HTML)
and other text has Markdown's punctuation backslash-escaped.
"""

from __future__ import annotations

import re

from leakcheck.model import Severity
from leakcheck.render.html_report import pairs_in_display_order
from leakcheck.render.summary import verdict
from leakcheck.render.text import printable
from leakcheck.report import LEAK_CHECK, Report

_MARK = {
    "LEAK": "\N{LARGE RED CIRCLE} LEAK",
    "FAIL": "\N{LARGE RED CIRCLE} FAIL",
    "PASS": "\N{LARGE GREEN CIRCLE} PASS",
}
_SEVERITY = {Severity.ERROR: "**error**", Severity.WARNING: "warning", Severity.INFO: "info"}
# Inline text never starts a line here, so only the characters that act mid-line need escaping.
_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&])")


# '@name' mentions people and '#123' links an issue in a GitHub comment (outside code spans); a zero-width
# space after the sign leaves the text as it reads and stops both.
_REFERENCE = re.compile(r"([@#])(?=\w)")
# GitHub also links bare 'www.' names (an image 'photo www.example.com.jpg'); a zero-width space inside
# 'www.' stops that too.
_WWW = re.compile(r"(www)(?=\.)", re.IGNORECASE)


def md_text(text: str) -> str:
    """Text that Markdown shows literally (and that mentions no one and links nothing on GitHub)."""
    escaped = _PUNCTUATION.sub(r"\\\1", printable(text))
    return _WWW.sub("\\1\u200b", _REFERENCE.sub("\\1\u200b", escaped))


def md_code(text: str, *, in_table: bool = False) -> str:
    """A code span that holds `text` literally, whatever backticks it contains."""
    text = printable(text)
    if in_table:
        # GFM splits table cells at '|' before it sees code spans; '\|' keeps the pipe in the cell.
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(report: Report, *, max_items: int = 8, max_pairs: int = 5) -> str:
    """Verdict, headline, a counts table per split, errors and warnings, and the top duplicate pairs."""
    counts = report.counts()
    images = sum(s.images for s in report.splits)
    lines = [
        f"### leakcheck: {_MARK[verdict(report)]} {md_code(report.root)}",
        "",
        f"{images:,} images in {len(report.splits)} splits \N{MIDDLE DOT} {counts['error']} errors, "
        f"{counts['warning']} warnings, {counts['info']} notes \N{MIDDLE DOT} "
        f"{len(report.relations):,} duplicate pairs",
        "",
    ]
    for line in report.headline():
        lines.append(f"- **{md_text(line.message)}**" if line.leaked else f"- {md_text(line.message)}")
    if report.headline():
        lines.append("")

    leaked = report.leaked_per_split()
    checked = report.ran(LEAK_CHECK)
    lines += [
        "| split | images | classes | unreadable | leaked into earlier splits |",
        "| :-- | --: | --: | --: | --: |",
    ]
    for s in report.splits:
        count = leaked.get(s.split, 0)  # (shown as the terminal shows it: "-" for none)
        lines.append(
            f"| {md_code(s.split, in_table=True)} | {s.images:,} | {len(s.classes):,} | {s.unreadable:,} | "
            f"{f'{count:,}' if count else ('-' if checked else 'not checked')} |"
        )
    lines.append("")

    problems = [f for f in report.findings if f.severity > Severity.INFO]
    if problems:
        lines.append("**Errors and warnings**")
        lines.append("")
        for f in problems[:max_items]:
            lines.append(f"- {_SEVERITY[f.severity]} {md_code(f.check)}: {md_text(f.message)}")
        if len(problems) > max_items:
            lines.append(f"- \N{HORIZONTAL ELLIPSIS} and {len(problems) - max_items:,} more")
        lines.append("")

    pairs = pairs_in_display_order(report.relations)
    if pairs:
        lines += [
            f"**Top duplicate pairs** ({min(max_pairs, len(pairs))} of {len(pairs):,})",
            "",
            "| image | copy | match |",
            "| :-- | :-- | :-- |",
        ]
        for r in pairs[:max_pairs]:
            lines.append(
                f"| {md_code(r.a, in_table=True)} | {md_code(r.b, in_table=True)} | {r.kind}"
                + (f" ({r.distance})" if r.kind == "near" else "")
                + " |"
            )
        if len(pairs) > max_pairs:
            lines += ["", f"{len(pairs) - max_pairs:,} more pairs: run `leakcheck scan --pairs pairs.csv` for all."]
        lines.append("")
    lines.append(f"<sub>leakcheck {md_text(report.version)}</sub>")
    return "\n".join(lines) + "\n"
