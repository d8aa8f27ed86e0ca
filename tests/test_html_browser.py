"""The HTML report in a real browser: Debian's chromium, headless, driven over the DevTools protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from leakcheck.cli import main
from leakcheck.render.html_report import render_html
from tests.chromium import CHROMIUM, Page
from tests.factory import DatasetFactory
from tests.report_samples import HOSTILE, HOSTILE_KEY, hand_report, write_dataset

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed; scripts/setup installs it when run as root (apt-get install chromium)",
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    browser = Page(profile, width=1280, height=900)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    data = write_dataset(tmp_path / "pets")
    out = tmp_path / "report.html"
    assert main(["scan", str(data), "--html", str(out), "-q", "-j", "1"]) == 1
    return out


def _type(page: Page, selector: str, text: str) -> None:
    """Focus a field, clear it and type as a user would (real input events)."""
    page.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.select(); }})()")
    page.call("Input.insertText", {"text": text})


def _visible_rows(page: Page, table: str) -> list[str]:
    return page.evaluate(  # type: ignore[no-any-return]
        f"Array.from(document.querySelectorAll('#{table} tbody tr')).map(tr => tr.innerText)"
    )


def test_report_loads_shows_matrix_and_previews_and_filters(page: Page, report_file: Path) -> None:
    page.open(report_file)
    # Previews are data URIs; wait until every image on the page has decoded (or failed).
    page.evaluate("Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))")
    page.settle()
    assert page.errors() == []
    assert not any(e.get("method") == "Page.javascriptDialogOpening" for e in page.events)
    assert page.evaluate("document.getElementById('verdict').textContent") == "LEAK"

    matrix = page.evaluate(
        "(() => { const r = document.getElementById('leak-matrix').getBoundingClientRect();"
        " return [r.width, r.height, document.querySelectorAll('#leak-matrix tbody tr').length]; })()"
    )
    assert matrix[0] > 100
    assert matrix[1] > 50
    assert matrix[2] == 3

    first = page.evaluate(
        "Array.from(document.querySelectorAll('#pairs-table tbody tr')[0].querySelectorAll('img.thumb')).map(i =>"
        " { const r = i.getBoundingClientRect(); return [i.complete, i.naturalWidth, r.width, r.height,"
        " getComputedStyle(i).visibility]; })"
    )
    assert len(first) == 2
    for complete, natural_width, width, height, visibility in first:
        assert complete
        assert natural_width > 0
        assert width > 0
        assert height > 0
        assert visibility == "visible"

    # The hostile file name is shown as text, and no element came from it.
    assert page.evaluate("document.querySelectorAll('img[onerror], [onerror]').length") == 0
    assert any(HOSTILE in row for row in _visible_rows(page, "pairs-table"))

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(ARTIFACTS / "html-report.png")
    page.screenshot(ARTIFACTS / "html-report-full.png", full_page=True)

    assert len(_visible_rows(page, "pairs-table")) == 4
    _type(page, "#pairs-filter", "small")
    rows = _visible_rows(page, "pairs-table")
    assert len(rows) == 1
    assert "val/dog/small.jpg" in rows[0]
    _type(page, "#pairs-filter", "onerror")
    rows = _visible_rows(page, "pairs-table")
    assert len(rows) == 1
    assert HOSTILE_KEY in rows[0]
    _type(page, "#pairs-filter", "no such image")
    assert page.evaluate("document.querySelector('#pairs-pager .page-info').textContent") == "no rows match"
    _type(page, "#pairs-filter", "")
    page.evaluate(
        "(() => { const s = document.getElementById('pairs-kind'); s.value = 'near';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    rows = _visible_rows(page, "pairs-table")
    assert len(rows) == 1
    assert "near" in rows[0]

    # Findings: filter by severity.
    page.evaluate(
        "(() => { const s = document.getElementById('findings-severity'); s.value = 'error';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    severities = page.evaluate(
        "Array.from(document.querySelectorAll('#findings-table tbody tr td:first-child')).map(td => td.innerText)"
    )
    assert severities
    assert set(severities) == {"ERROR"}
    assert page.errors() == []


def test_ten_thousand_pairs_are_paged_filtered_and_sorted(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "big.html"
    path.write_text(render_html(hand_report(pairs=10_000)), encoding="utf-8")
    page.open(path)
    assert page.errors() == []
    assert len(_visible_rows(page, "pairs-table")) == 25  # one page in the DOM, not 10,003 rows
    timing = page.evaluate(
        "(() => { const f = document.getElementById('pairs-filter'); const t0 = performance.now();"
        " f.value = '00042'; f.dispatchEvent(new Event('input'));"
        " const t1 = performance.now();"
        " document.querySelectorAll('#pairs-table thead th')[5].click();"
        " const t2 = performance.now();"
        " f.value = ''; f.dispatchEvent(new Event('input'));"
        " document.querySelectorAll('#pairs-table thead th')[5].click();"
        " const t3 = performance.now();"
        " return [t1 - t0, t2 - t1, t3 - t2, document.querySelectorAll('#pairs-table tbody tr').length]; })()"
    )
    # Speed is shown by measurement, not asserted here (shared, noisy machines); the rows must be right.
    _filter_ms, _sort_ms, _unfiltered_sort_ms, rows = timing
    assert rows == 25
    assert len(_visible_rows(page, "pairs-table")) == 25
    page.evaluate("document.querySelector('#pairs-pager button:nth-child(2)').click()")
    assert "rows 26\u201350 of 10,003" in page.evaluate("document.querySelector('#pairs-pager .page-info').textContent")
    assert page.errors() == []


def test_a_clean_single_split_report_loads_without_errors(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "clean.html"
    report = hand_report()
    clean = type(report)("only", (), report.splits[:1], (), (), {}, "1.0")
    path.write_text(render_html(clean), encoding="utf-8")
    page.open(path)
    page.settle()
    assert page.errors() == []
    assert page.evaluate("document.getElementById('verdict').textContent") == "PASS"
    assert page.evaluate("document.querySelector('#findings-pager .page-info').textContent") == "nothing to list"


def test_label_conflict_previews_find_names_with_a_carriage_return(page: Page, factory: DatasetFactory) -> None:
    """An HTML parser reads a carriage return in an attribute as a newline: the preview lookup by name
    must still find the image."""
    (original,) = factory.add_many("train", ["cat"], 1, seed0=0)
    factory.copy_bytes(original, "train", "dog", "cr\rret.jpg")
    factory.add_many("test", ["cat"], 1, seed0=100)
    out = factory.root.parent / "conflict.html"
    assert main(["scan", str(factory.root), "--html", str(out), "-q", "-j", "1", "--no-near"]) == 1
    page.open(out)
    page.evaluate("Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))")
    page.settle()
    assert page.errors() == []
    shown = page.evaluate(
        "Array.from(document.querySelectorAll('.conflict img.thumb')).map(i => [i.alt, i.naturalWidth])"
    )
    assert sorted(alt for alt, _ in shown) == ["train/cat/cat_000.jpg", "train/dog/cr\rret.jpg"]
    assert all(width > 0 for _, width in shown)
    captions = page.evaluate("Array.from(document.querySelectorAll('.conflict figcaption')).map(c => c.textContent)")
    assert "train/dog/cr\\rret.jpg" in captions
