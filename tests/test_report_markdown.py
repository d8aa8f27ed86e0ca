"""The Markdown summary, parsed with a CommonMark + GFM-tables parser (markdown-it-py, as rich uses)."""

from __future__ import annotations

import re

import lxml.html
import pytest
from markdown_it import MarkdownIt

from leakcheck.index import Relation
from leakcheck.model import Finding, Severity
from leakcheck.render.markdown import md_code, md_text, render_markdown
from leakcheck.report import Report
from tests.report_samples import HOSTILE_KEY, hand_report

PARSER = MarkdownIt("commonmark").enable("table")


def _html(markdown: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(f"<div>{PARSER.render(markdown)}</div>")


def test_summary_has_verdict_headline_counts_and_top_pairs() -> None:
    text = render_markdown(hand_report())
    doc = _html(text)
    assert doc.xpath("string(//h3)") == "leakcheck: \N{LARGE RED CIRCLE} LEAK pets"
    bold = doc.xpath("//li/strong/text()")
    assert "val: 1 of 4 images (25.0%) also appear in train" in bold
    tables = doc.xpath("//table")
    assert len(tables) == 2
    counts = [[c.text_content() for c in row.xpath("td")] for row in tables[0].xpath("tbody/tr")]
    assert counts == [["train", "6", "2", "0", "-"], ["val", "4", "2", "0", "1"], ["test", "2", "1", "1", "1"]]
    pairs = [[c.text_content() for c in row.xpath("td")] for row in tables[1].xpath("tbody/tr")]
    assert pairs[0] == ["train/cat/a.jpg", "val/cat/a.jpg", "exact-bytes"]
    assert pairs[1] == ["train/cat/b.jpg", HOSTILE_KEY, "near (3)"]


def test_hostile_names_render_as_text_never_as_html() -> None:
    doc = _html(render_markdown(hand_report()))
    assert not doc.xpath("//img")
    assert HOSTILE_KEY in doc.xpath("//code/text()")
    # In a finding message (plain text, not code) it is escaped too.
    assert any(HOSTILE_KEY in t for t in doc.xpath("//li/text()"))


def test_it_fits_one_screen_however_large_the_report() -> None:
    findings = tuple(
        Finding("image-properties", Severity.ERROR, f"train/x/{i}.jpg: truncated", (f"train/x/{i}.jpg",))
        for i in range(2_000)
    )
    relations = tuple(
        Relation(f"train/x/{i}.jpg", "train", "x", f"val/x/{i}.jpg", "val", "x", "exact-bytes", 0) for i in range(9_000)
    )
    text = render_markdown(Report("big", findings, hand_report().splits, relations, ()))
    assert len(text.splitlines()) <= 45
    assert "and 1,992 more" in text
    assert "8,995 more pairs" in text


@pytest.mark.parametrize(
    "name", ["a|b.jpg", "`tick`.jpg", "a``b.jpg", "*bold* _it_ [x](y) <b>&amp;.jpg", "new\nline.jpg", "|", "` `"]
)
def test_code_spans_and_text_hold_any_name_literally(name: str) -> None:
    shown = name.replace("\n", "\\n")
    row = f"| {md_code(name, in_table=True)} | x |"
    doc = _html(f"| a | b |\n| -- | -- |\n{row}\n")
    cells = doc.xpath("//tbody/tr/td")
    assert len(cells) == 2
    assert cells[0].text_content() == shown
    assert _html(md_code(name)).text_content().strip() == shown
    assert _html(f"x {md_text(name)}").text_content().strip() == f"x {shown}"


def test_names_in_text_mention_no_one_and_link_no_issue() -> None:
    text = md_text("identical images labelled '@someone' vs 'cat': test/@team/#77.jpg")
    # What GitHub turns into a mention or an issue link: a sign followed by a word character.
    assert not re.search(r"[@#]\w", text)
    assert _html(f"x {text}").text_content().replace("\u200b", "").strip() == (
        "x identical images labelled '@someone' vs 'cat': test/@team/#77.jpg"
    )


def test_names_in_text_do_not_become_www_links() -> None:
    """GitHub links a bare 'www.' name after a space or at the start of a line."""
    name = "www.evil.example/cat/photo WWW.evil.example.jpg"
    text = md_text(name)
    assert not re.search(r"www\.", text, re.IGNORECASE)
    assert _html(f"x {text}").text_content().replace("\u200b", "").strip() == f"x {name}"
