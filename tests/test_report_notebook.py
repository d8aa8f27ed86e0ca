"""The notebook view: verdict, matrix and first pairs with previews; show_pairs(n) for more."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import lxml.html

from leakcheck import scan
from leakcheck.render.notebook import PairsView, render_notebook_html, render_pairs_html
from tests.report_samples import HOSTILE, hand_report, write_dataset


def test_repr_html_of_a_scan_shows_verdict_matrix_and_pair_previews(tmp_path: Path) -> None:
    report = scan(write_dataset(tmp_path / "pets"), jobs=1)
    doc = lxml.html.fromstring(report._repr_html_())
    assert doc.xpath("string(.//span[1])") == "LEAK"
    matrix = doc.xpath(".//table[@class='leakcheck-matrix']")[0]
    assert [th.text_content() for th in matrix.xpath("thead/tr/th")] == ["", "train", "val", "test", "images"]
    assert [td.text_content().strip() for td in matrix.xpath("tbody/tr[2]/td")][:1] == ["2 (33.3%)"]
    images = doc.xpath(".//img")
    assert len(images) == 8  # the first 5 pairs are all 4 pairs, two previews each
    assert all(img.get("src").startswith("data:image/jpeg;base64,") for img in images)
    assert HOSTILE in [img.get("alt").rsplit("/", 1)[-1] for img in images]
    assert not doc.xpath(".//script | .//style | .//*[@onerror]")


def test_show_pairs_displays_n_pairs(tmp_path: Path) -> None:
    report = scan(write_dataset(tmp_path / "pets"), jobs=1)
    view = report.show_pairs(2)
    assert isinstance(view, PairsView)
    doc = lxml.html.fromstring(view._repr_html_())
    assert len(doc.xpath(".//tbody/tr")) == 2
    assert len(doc.xpath(".//img")) == 4
    assert "2 of 4 duplicate pairs" in doc.text_content()
    assert repr(view) == "<2 of 4 duplicate pairs; display in a notebook to see them>"


def test_root_path_is_kept_out_of_outputs_and_equality(tmp_path: Path) -> None:
    report = scan(write_dataset(tmp_path / "pets"), jobs=1)
    assert report.root_path == (tmp_path / "pets").resolve()
    assert str(tmp_path) not in report.to_json()
    assert "root_path" not in json.loads(report.to_json())
    assert dataclasses.replace(report, root_path=None) == report


def test_without_the_files_the_view_shows_paths_only() -> None:
    report = hand_report(pairs=30)
    assert report.root_path is None
    doc = lxml.html.fromstring(report._repr_html_())
    assert not doc.xpath(".//img")
    assert "no preview" in doc.text_content()
    assert "report.show_pairs(n)" in doc.text_content()
    assert len(doc.xpath(".//table[@class='leakcheck-pairs']/tbody/tr")) == 5


def test_notebook_html_escapes_user_strings() -> None:
    html = render_notebook_html(hand_report(), thumbnail=lambda key: None)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    pairs = render_pairs_html(hand_report(), 3, thumbnail=lambda key: None)
    assert "<img src=x" not in pairs
    assert "&lt;img src=x onerror=alert(1)&gt;" in pairs


def test_notebook_html_escapes_control_characters_in_names() -> None:
    """A name with a newline and a terminal escape reads as another file (and is an HTML parse error) if
    shown raw: the notebook shows it escaped, as the terminal and the HTML report do."""
    name = "test/cat/x\nline\x1b[31m.jpg"
    base = hand_report()
    relation = dataclasses.replace(base.relations[1], b=name)
    finding = dataclasses.replace(base.findings[1], message=f"test: {name} is a copy", samples=(name,))
    report = dataclasses.replace(base, relations=(base.relations[0], relation, *base.relations[2:]),
                                 findings=(base.findings[0], finding, *base.findings[2:]))  # fmt: skip
    for html in (render_notebook_html(report, thumbnail=lambda key: None),
                 render_pairs_html(report, 3, thumbnail=lambda key: None)):  # fmt: skip
        assert "\x1b" not in html
        assert "x\nline" not in html
        assert "test/cat/x\\nline\\x1b[31m.jpg" in html


def test_a_plain_shell_shows_a_one_line_summary() -> None:
    report = hand_report(pairs=500)
    counts = report.counts()
    text = repr(report)
    assert text.startswith("<Report ")
    assert text.endswith(">")
    assert "\n" not in text
    assert len(text) < 200
    assert f"{counts['error']} errors" in text
    assert "503 duplicate pairs" in text
