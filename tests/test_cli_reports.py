"""`leakcheck scan` with --html, --junit and --format markdown, run in-process."""

from __future__ import annotations

import os
from pathlib import Path

import lxml.html
import pytest
from lxml import etree

from leakcheck.cli import main
from tests.report_samples import HOSTILE, write_dataset

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("junit.xsd"))))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "pets")


def test_html_and_junit_files_are_written_and_the_exit_code_follows_fail_on(data: Path, tmp_path: Path) -> None:
    html, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    assert main(["scan", str(data), "-q", "-j", "1", "--html", str(html), "--junit", str(junit)]) == 1
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<img src=x" not in page
    doc = lxml.html.fromstring(page)
    assert doc.xpath("string(//span[@id='verdict'])") == "LEAK"
    assert page.count("data:image/jpeg;base64,") == 8  # the 8 distinct images of the 4 pairs
    assert not doc.xpath("//link[@href] | //script[@src] | //img[starts-with(@src, 'http')]")  # self-contained
    xml = etree.parse(str(junit))
    SCHEMA.assertValid(xml)
    assert xml.getroot().get("failures") == "2"

    assert main(["scan", str(data), "-q", "-j", "1", "--fail-on", "never", "--junit", str(junit)]) == 0
    assert etree.parse(str(junit)).getroot().get("failures") == "0"


def test_html_previews_of_a_manifest_scan(data: Path, tmp_path: Path) -> None:
    """A manifest's keys are relative to its own folder, and so are the files the previews are made of."""
    images = sorted(p for p in data.rglob("*") if p.is_file())
    manifest = data.parent / "pets.csv"
    rows = [f"{p.relative_to(data.parent).as_posix()},{p.parent.name},{p.parent.parent.name}" for p in images]
    manifest.write_text("path,label,split\n" + "\n".join(rows) + "\n", encoding="utf-8")
    html = tmp_path / "manifest.html"
    assert main(["scan", str(manifest), "-q", "-j", "1", "--html", str(html)]) == 1
    assert html.read_text(encoding="utf-8").count("data:image/jpeg;base64,") == 8


def test_html_previews_of_files_whose_names_are_not_utf8(data: Path, tmp_path: Path) -> None:
    image = next(p for p in sorted(data.rglob("*.jpg")) if p.parts[-3] == "train")
    odd = tmp_path / "odd"
    (odd / "train" / "a").mkdir(parents=True)
    (odd / "test" / "a").mkdir(parents=True)
    (odd / "train" / "a" / "a.jpg").write_bytes(image.read_bytes())
    (odd / "test" / "a" / os.fsdecode(b"b\xff.jpg")).write_bytes(image.read_bytes())
    html = tmp_path / "odd.html"
    assert main(["scan", str(odd), "-q", "-j", "1", "--no-cache", "--html", str(html)]) == 1
    page = html.read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") == 2


def test_an_output_that_is_a_hard_link_to_an_image_is_replaced_not_written_into(data: Path, tmp_path: Path) -> None:
    image = next(p for p in sorted(data.rglob("*.jpg")))
    before = image.read_bytes()
    report = tmp_path / "report.json"
    os.link(image, report)
    assert main(["scan", str(data), "-q", "-j", "1", "--json", str(report), "--fail-on", "never"]) == 0
    assert image.read_bytes() == before
    assert report.read_text(encoding="utf-8").startswith("{")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".leakcheck-tmp")]


def test_markdown_format_replaces_the_terminal_report(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(data), "-j", "1", "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("### leakcheck: \N{LARGE RED CIRCLE} LEAK `pets`\n")
    assert f"`test/cat/{HOSTILE}`" in out
    assert "\x1b[" not in out  # plain text, no terminal styling


def test_junit_on_stdout_moves_the_human_report_to_stderr(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(data), "-j", "1", "--format", "markdown", "--junit", "-"]) == 1
    captured = capsys.readouterr()
    SCHEMA.assertValid(etree.fromstring(captured.out.encode("utf-8")))
    assert captured.err.startswith("### leakcheck:")


def test_two_outputs_on_stdout_and_bad_format_are_usage_errors(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(data), "--junit", "-", "--json", "-"]) == 2
    assert "only one of --json, --pairs, --junit and --html" in capsys.readouterr().err
    assert main(["scan", str(data), "--format", "html"]) == 2
    assert "invalid choice: 'html'" in capsys.readouterr().err


def test_unwritable_html_target_is_one_clear_line(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (A missing folder is made; a file where the folder should be cannot be.)
    (tmp_path / "a-file").write_text("x")
    target = tmp_path / "a-file" / "report.html"
    assert main(["scan", str(data), "-q", "-j", "1", "--html", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{target}: cannot write" in err
    assert "Traceback" not in err
