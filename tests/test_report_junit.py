"""JUnit XML: valid against tests/junit.xsd, one test case per check, failures per the fail-on policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from leakcheck.index import Relation
from leakcheck.model import Finding, Severity
from leakcheck.render.junit import render_junit
from leakcheck.report import FailOn, Report
from tests.report_samples import CHECK_IDS, HOSTILE_KEY, hand_report

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("junit.xsd"))))
CHECKS = list(CHECK_IDS)


def _parse(text: str) -> etree._Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    doc = etree.fromstring(text.encode("utf-8"))
    SCHEMA.assertValid(doc)
    return doc


def test_one_valid_test_case_per_check_failing_on_errors() -> None:
    doc = _parse(render_junit(hand_report()))
    cases = doc.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == CHECKS
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert sorted(failed) == ["cross-split-duplicates", "label-conflicts"]
    leak = failed["cross-split-duplicates"]
    assert leak is not None
    assert leak.get("type") == "error"
    assert leak.get("message") == "2 findings at or above error"
    assert "val: 1 of 4 images (25.0%) also appear in train" in (leak.text or "")
    assert "hint: drop these images from test" in (leak.text or "")
    # A one-image leak names its image (the message does not).
    assert "    samples: val/cat/a.jpg\n" in (leak.text or "")
    # Warnings do not fail at --fail-on error, but they are in the output, the hostile name as text.
    conflicts = next(c for c in cases if c.get("name") == "label-conflicts")
    assert HOSTILE_KEY in (conflicts.findtext("system-out") or "")
    suite = doc.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), doc.get("tests"), doc.get("failures")) == ("5", "2", "5", "2")
    assert "timestamp" not in suite.attrib
    assert "time" not in suite.attrib


@pytest.mark.parametrize(("fail_on", "failing"), [("warning", 3), ("error", 2), ("never", 0)])
def test_fail_on_decides_what_fails(fail_on: FailOn, failing: int) -> None:
    doc = _parse(render_junit(hand_report(), fail_on=fail_on))
    assert len(doc.findall("testsuite/testcase/failure")) == failing
    assert doc.find("testsuite").get("failures") == str(failing)  # type: ignore[union-attr]
    props = {p.get("name"): p.get("value") for p in doc.findall("testsuite/properties/property")}
    assert props["fail-on"] == fail_on


def test_a_clean_report_passes_every_check() -> None:
    report = Report("clean", (), (), (), (), {"checks": {c: {} for c in CHECKS}}, "1.0")
    doc = _parse(render_junit(report))
    assert len(doc.findall("testsuite/testcase")) == 5
    assert not doc.findall(".//failure")


def test_control_characters_and_markup_in_names_stay_valid_xml() -> None:
    nasty = "train/a\x01b/<x>&\x1b[31m.jpg"
    finding = Finding("label-conflicts", Severity.ERROR, f"identical images: {nasty}", (nasty, "train/c.jpg"))
    relation = Relation(nasty, "train", "a", "train/c.jpg", "train", "c", "exact-bytes", 0)
    report = Report("r\x02oot", (finding,), (), (relation,), ())
    doc = _parse(render_junit(report))
    failure = doc.find("testsuite/testcase/failure")
    assert failure is not None
    assert "train/a\\x01b/<x>&\\x1b[31m.jpg" in (failure.text or "")
    assert doc.find("testsuite").get("name") == "leakcheck r\\x02oot"  # type: ignore[union-attr]


def test_line_breaks_in_names_stay_on_their_line() -> None:
    """XML readers turn CR into LF (and either into a space in an attribute): names are escaped as on
    the terminal, so that one name stays on one line and reads back as written."""
    name = "train/cr\rret/new\nline\t.jpg"
    finding = Finding("label-conflicts", Severity.ERROR, f"identical images: {name}", (name, "train/c.jpg"))
    doc = _parse(render_junit(Report("ro\not", (finding,), (), (), ())))
    failure = doc.find("testsuite/testcase/failure")
    assert failure is not None
    text = failure.text or ""
    assert "train/cr\\rret/new\\nline\\t.jpg" in text
    assert failure.get("message") == "identical images: train/cr\\rret/new\\nline\\t.jpg"
    assert doc.find("testsuite").get("name") == "leakcheck ro\\not"  # type: ignore[union-attr]


def test_long_lists_are_capped_and_output_is_deterministic() -> None:
    findings = tuple(
        Finding("image-properties", Severity.ERROR, f"train/x/{i}.jpg: truncated", (f"train/x/{i}.jpg",))
        for i in range(500)
    )
    report = Report("many", findings, (), (), ())
    text = render_junit(report, max_items=20)
    assert text == render_junit(report, max_items=20)
    failure = _parse(text).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "500 findings at or above error"
    assert (failure.text or "").count("truncated") == 20
    assert "... and 480 more findings" in (failure.text or "")


@pytest.mark.parametrize(
    "bad",
    [
        '<testsuites><testsuite name="s" tests="1"><testcase classname="c"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s"><testcase name="n"/></testsuite></testsuites>',
        '<testsuites><testsuite name="s" tests="-1"/></testsuites>',
        '<testsuites><testsuite name="s" tests="1"><testcase name="n"><oops/></testcase></testsuite></testsuites>',
    ],
)
def test_the_schema_rejects_malformed_junit(bad: str) -> None:
    assert not SCHEMA.validate(etree.fromstring(bad))
