"""The HTML report as a string: escaping, the embedded data, the matrix, previews asked for."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import lxml.html
import pytest
from PIL import Image

from leakcheck import scan
from leakcheck.render.html_report import pair_extra_columns, pairs_in_display_order, render_html
from leakcheck.report import PAIR_COLUMNS
from leakcheck.thumbnails import thumbnail_data_uri, thumbnailer
from tests.report_samples import HOSTILE, HOSTILE_KEY, hand_report, write_dataset


def _data_block(page: str) -> dict:  # type: ignore[type-arg]
    match = re.search(r'<script type="application/json" id="leakcheck-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_hostile_name_never_reaches_the_page_as_markup() -> None:
    page = render_html(hand_report(), thumbnail=lambda key: None)
    assert "<img src=x" not in page
    # In the data block it is JSON with <, > and & as \u escapes; the script puts it in as text.
    block = re.search(r'id="leakcheck-data">(.*?)</script>', page, re.S)
    assert block is not None
    assert "<" not in block.group(1)
    assert ">" not in block.group(1)
    assert "&" not in block.group(1)
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in block.group(1)
    assert HOSTILE_KEY in [cell for row in _data_block(page)["pairs"]["rows"] for cell in row]
    # In the template's own markup it is entity-escaped: the parsed document shows it as text.
    doc = lxml.html.fromstring(page)
    assert not doc.xpath("//img[@onerror]")
    assert any(HOSTILE in text for text in doc.xpath("//text()"))


def test_matrix_counts_leaks_below_the_diagonal_and_copies_on_it() -> None:
    doc = lxml.html.fromstring(render_html(hand_report()))
    rows = doc.xpath('//table[@id="leak-matrix"]/tbody/tr')
    header = [th.text_content() for th in doc.xpath('//table[@id="leak-matrix"]/thead/tr/th')][1:]
    assert header == ["train", "val", "test"]
    cells = [[td.text_content().strip() for td in row.xpath("td")] for row in rows]
    assert cells[0] == ["116.6%", "\u2014", "\u2014"]  # train: 1 extra copy of 6 images, 16.6%
    assert cells[1][0] == "125.0%"  # val: 1 of 4 images also in train
    assert cells[2][0] == "150.0%"  # test: 1 of 2
    assert rows[1].xpath("td")[0].get("class") == "cell-leak"
    assert rows[1].xpath("td")[1].get("class") == "cell-clean"


def test_every_pair_is_in_the_data_with_leaks_first() -> None:
    report = hand_report(pairs=50)
    data = _data_block(render_html(report))
    assert data["pairs"]["columns"] == [*PAIR_COLUMNS, *pair_extra_columns()]
    # Each column once: the pairs CSV's columns already hold score and explanation.
    assert len(set(data["pairs"]["columns"])) == len(data["pairs"]["columns"])
    rows = data["pairs"]["rows"]
    assert all(len(row) == len(data["pairs"]["columns"]) for row in rows)
    assert len(rows) == len(report.relations) == 53
    cross = [r[1] != r[4] for r in rows]
    assert cross[:2] == [True, True]
    assert not any(cross[2:])
    assert [r[0] for r in data["findings"]] == [str(f.severity) for f in report.findings]


def test_previews_are_made_only_for_the_pairs_and_conflicts_shown() -> None:
    asked: list[str] = []

    def thumbnail(key: str) -> str | None:
        asked.append(key)
        return "data:image/jpeg;base64,AAAA" if key.startswith("train/") else None

    report = hand_report(pairs=500)
    data = _data_block(render_html(report, thumbnail=thumbnail, preview_pairs=10))
    first_ten = pairs_in_display_order(report.relations)[:10]
    conflicts = {k for f in report.findings if f.check == "label-conflicts" for k in f.samples}
    assert len(asked) == len(set(asked))  # each image opened once
    assert set(asked) == {k for r in first_ten for k in (r.a, r.b)} | conflicts
    assert set(data["thumbs"]) == {k for k in asked if k.startswith("train/")}


def test_class_balance_and_properties_are_drawn() -> None:
    doc = lxml.html.fromstring(render_html(hand_report()))
    charts = doc.xpath('//section[@id="balance"]//div[@class="chart"]')
    assert [c.xpath("h3")[0].text.strip() for c in charts] == ["train", "val", "test"]
    widths = [b.get("style") for b in charts[0].xpath('.//span[@class="fill"]')]
    assert widths == ["width: 100.0%", "width: 50.0%"]  # cat 4, dog 2
    sizes = doc.xpath('//section[@id="properties"]//table[@class="sizes"]')
    assert len(sizes) == 1
    assert "64" in sizes[0].text_content()


def test_a_real_scan_embeds_real_thumbnails(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "pets")
    report = scan(root, jobs=1)
    data = _data_block(render_html(report, thumbnail=thumbnailer(root)))
    shown = {k for r in report.relations for k in (r.a, r.b)}
    assert set(data["thumbs"]) == shown  # every image of every pair, the hostile name included
    uri = data["thumbs"][HOSTILE_KEY]
    assert uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        assert im.format == "JPEG"
        assert max(im.size) <= 160


@pytest.mark.parametrize(
    ("mode", "array"),
    [
        ("RGBA", lambda: Image.new("RGBA", (300, 200), (255, 0, 0, 128))),
        ("I;16", lambda: Image.frombytes("I;16", (64, 64), bytes(range(256)) * 32)),
        ("P", lambda: Image.new("P", (50, 400), 3)),
    ],
)
def test_thumbnails_of_odd_modes_are_small_rgb_jpegs(tmp_path: Path, mode: str, array: object) -> None:
    path = tmp_path / "odd.png"
    array().save(path)  # type: ignore[operator]
    uri = thumbnail_data_uri(path, size=64)
    assert uri is not None
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        assert im.mode == "RGB"
        assert max(im.size) == 64


def test_thumbnailer_gives_none_for_broken_missing_and_outside_files(tmp_path: Path) -> None:
    (tmp_path / "data/train/x").mkdir(parents=True)
    _bytes = io.BytesIO()
    Image.new("RGB", (40, 40), "blue").save(_bytes, "JPEG")
    (tmp_path / "data/train/x/cut.jpg").write_bytes(_bytes.getvalue()[:40])
    (tmp_path / "secret.jpg").write_bytes(_bytes.getvalue())
    thumb = thumbnailer(tmp_path / "data")
    assert thumb("train/x/cut.jpg") is None
    assert thumb("train/x/missing.jpg") is None
    assert thumb("../secret.jpg") is None
    assert thumb(str(tmp_path / "secret.jpg")) is None


def test_ten_thousand_pairs_render_quickly_and_compactly() -> None:
    import time

    report = hand_report(pairs=10_000)
    start = time.perf_counter()
    page = render_html(report)
    elapsed = time.perf_counter() - start
    assert len(_data_block(page)["pairs"]["rows"]) == 10_003
    assert elapsed < 5.0
    assert len(page) < 3_000_000


def test_a_clean_report_has_a_pass_verdict_and_empty_sections() -> None:
    report = hand_report()
    clean = type(report)("only", (), report.splits[:1], (), (), {}, "1.0")
    doc = lxml.html.fromstring(render_html(clean))
    assert doc.xpath("string(//span[@id='verdict'])") == "PASS"
    assert not doc.xpath("//table[@id='pairs-table']")
    assert "No duplicate images." in doc.xpath("string(//section[@id='pairs'])")
    assert "one split only" in doc.xpath("string(//section[contains(@class, 'headline')])")


def test_a_preview_follows_the_scans_pixel_limit_above_pillows_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow refuses images above twice its own limit as it opens them; an image the scan decoded under a
    raised --max-pixels is previewed all the same (Pillow's limit is lowered here to stand for a huge image)."""
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert thumbnail_data_uri(path, size=32, max_pixels=1_000) is None  # above the scan's limit too
    uri = thumbnail_data_uri(path, size=32, max_pixels=10_000)
    assert uri is not None
    assert uri.startswith("data:image/jpeg;base64,")
    assert Image.MAX_IMAGE_PIXELS == 100  # put back
