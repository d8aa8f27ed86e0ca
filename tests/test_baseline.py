"""Baselines: quiet when nothing changed, loud (naming only it) when one new leak appears, stable across
renames of the folders above the data and moves of unrelated files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from leakcheck.baseline import Entry, compare, entries_from, parse_baseline, render_baseline_json
from leakcheck.cli import main
from leakcheck.errors import BaselineError
from leakcheck.model import Finding, Severity
from leakcheck.report import Report
from tests.gate_data import make_dataset, reencode, write_image


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A leaking data set under tmp/project/data and its baseline at tmp/project/baseline.json."""
    data = make_dataset(tmp_path / "project" / "data")
    baseline = tmp_path / "project" / "baseline.json"
    assert main(["baseline", str(data), "-o", str(baseline), "-q", "--no-config"]) == 0
    return data, baseline


def gate(
    data: Path, baseline: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    """Run `scan --baseline` and return the exit code, the JSON report and the terminal output."""
    capsys.readouterr()
    target = data.parent / "report.json"
    code = main(["scan", str(data), "--no-config", "--baseline", str(baseline), "--json", str(target), *extra])
    out = capsys.readouterr().out
    payload = json.loads(target.read_text(encoding="utf-8"))
    target.unlink()
    return code, payload, out


def test_baseline_file_is_versioned_sorted_and_stable(project: tuple[Path, Path]) -> None:
    data, baseline = project
    payload = json.loads(baseline.read_text(encoding="utf-8"))
    assert (payload["format"], payload["version"]) == ("leakcheck-baseline", 1)
    samples = [(e["check"], e["scope"], e["sample"]) for e in payload["entries"]]
    assert samples == sorted(samples)
    assert ("cross-split-duplicates", "test:train", "test/cat/leak-bytes.jpg") in samples
    assert ("cross-split-duplicates", "test:train", "test/dog/leak-near.jpg") in samples
    assert all(len(e["digest"]) == 32 for e in payload["entries"] if e["check"] == "cross-split-duplicates")
    # No absolute paths, no timestamps: the same data set gives the same file, byte for byte.
    assert str(data.parent) not in baseline.read_text(encoding="utf-8")
    again = data.parent / "again.json"
    assert main(["baseline", str(data), "-o", str(again), "-q", "--no-config"]) == 0
    assert again.read_bytes() == baseline.read_bytes()


def test_unchanged_data_passes(project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, baseline = project
    assert main(["scan", str(data), "-q", "--no-config"]) == 1  # it does leak...
    code, payload, out = gate(data, baseline, capsys)
    assert code == 0  # ...but every leak is accepted
    assert payload["baseline"]["new"] == []
    assert payload["baseline"]["stale"] == []
    assert payload["baseline"]["accepted"] == 2
    assert "PASS  nothing new since the baseline" in out


def test_one_planted_leak_fails_naming_only_it(project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, baseline = project
    planted = reencode(data / "train/cat/03.jpg", data / "test/cat/planted.jpg", quality=80)
    code, payload, out = gate(data, baseline, capsys)
    assert code == 1
    assert [e["sample"] for e in payload["baseline"]["new"]] == ["test/cat/planted.jpg"]
    assert payload["baseline"]["new"][0]["check"] == "cross-split-duplicates"
    new_lines = [line for line in out.splitlines() if line.startswith("new ")]
    assert new_lines == ["new   cross-split-duplicates [test:train] test/cat/planted.jpg"]
    assert "FAIL" in out
    planted.unlink()
    assert gate(data, baseline, capsys)[0] == 0


def test_junit_and_markdown_follow_the_baseline(project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from lxml import etree

    data, baseline = project
    junit = data.parent / "junit.xml"

    def run() -> tuple[int, str, etree._Element]:
        capsys.readouterr()
        argv = ["scan", str(data), "--no-config", "--baseline", str(baseline), "--format", "markdown"]
        code = main([*argv, "--junit", str(junit)])
        return code, capsys.readouterr().out, etree.fromstring(junit.read_bytes())

    # Every leak accepted: the JUnit file fails nothing (a CI step reading it agrees with the exit code).
    code, markdown, doc = run()
    assert (code, doc.get("failures")) == (0, "0")
    assert "**Baseline**" in markdown
    assert "PASS: nothing new" in markdown
    # A new leak fails its check (the finding that holds it), and the Markdown lists it as new.
    reencode(data / "train/cat/03.jpg", data / "test/cat/planted.jpg", quality=80)
    code, markdown, doc = run()
    assert (code, doc.get("failures")) == (1, "1")
    failure = doc.find(".//testcase[@name='cross-split-duplicates']/failure")
    assert failure is not None
    # (Named apart from the accepted samples: a finding of many samples would hide it in "... and N more".)
    assert "    new since the baseline: test/cat/planted.jpg\n" in (failure.text or "")
    assert "FAIL: new findings since the baseline" in markdown
    assert "- new error: `cross-split-duplicates` test:train `test/cat/planted.jpg`" in markdown


def test_a_second_copy_of_an_accepted_leak_is_new(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, baseline = project
    shutil.copyfile(data / "test/cat/leak-bytes.jpg", data / "test/cat/zz-copy.jpg")
    code, payload, _ = gate(data, baseline, capsys)
    assert code == 1
    new = {(e["check"], e["sample"]) for e in payload["baseline"]["new"]}
    # A new leak, and a new extra copy within test; the accepted copy stays accepted.
    assert new == {
        ("cross-split-duplicates", "test/cat/zz-copy.jpg"),
        ("within-split-duplicates", "test/cat/zz-copy.jpg"),
    }


def test_fixed_leaks_are_reported_as_no_longer_occurring(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, baseline = project
    (data / "test/dog/leak-near.jpg").unlink()
    code, payload, out = gate(data, baseline, capsys)
    assert code == 0
    assert [e["sample"] for e in payload["baseline"]["stale"]] == ["test/dog/leak-near.jpg"]
    assert "gone  cross-split-duplicates [test:train] test/dog/leak-near.jpg" in out


@pytest.mark.parametrize("how", [("--skip", "cross-split-duplicates"), ("--severity", "cross-split-duplicates=info")])
def test_entries_of_a_check_that_did_not_judge_are_not_gone(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str], how: tuple[str, str]
) -> None:
    data, baseline = project
    code, payload, out = gate(data, baseline, capsys, *how)
    assert code == 0
    assert payload["baseline"]["stale"] == []
    assert sorted(e["sample"] for e in payload["baseline"]["not_checked"]) == [
        "test/cat/leak-bytes.jpg", "test/dog/leak-near.jpg"
    ]  # fmt: skip
    assert "gone" not in out
    assert "re-run 'leakcheck baseline'" not in out
    assert "2 accepted entries not checked in this run (cross-split-duplicates: skipped or set to info)" in out


def test_renaming_folders_above_the_data_root_changes_nothing(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data, _ = project
    moved = tmp_path / "elsewhere" / "renamed-project"
    moved.parent.mkdir()
    data.parent.rename(moved)
    code, payload, _ = gate(moved / "data", moved / "baseline.json", capsys)
    assert code == 0
    assert payload["baseline"]["new"] == payload["baseline"]["stale"] == []


def test_moving_unrelated_files_changes_nothing(project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, baseline = project
    (data / "train/dog/nested").mkdir()
    (data / "train/dog/04.jpg").rename(data / "train/dog/nested/04.jpg")
    (data / "test/cat/02.jpg").rename(data / "test/cat/02-renamed.jpg")
    write_image(data / "train/cat/new-unrelated.jpg", 999)
    code, payload, _ = gate(data, baseline, capsys)
    assert code == 0
    assert payload["baseline"]["new"] == payload["baseline"]["stale"] == []


def test_renaming_a_leaked_file_matches_it_by_content(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, baseline = project
    (data / "test/cat/leak-bytes.jpg").rename(data / "test/cat/renamed-leak.jpg")
    code, payload, out = gate(data, baseline, capsys)
    assert code == 0
    assert payload["baseline"]["moved"] == [
        {"from": "test/cat/leak-bytes.jpg", "to": "test/cat/renamed-leak.jpg", "check": "cross-split-duplicates"}
    ]
    assert "moved test/cat/leak-bytes.jpg -> test/cat/renamed-leak.jpg" in out


def test_a_manifest_baseline_matches_a_renamed_leak_by_content(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest's paths are relative to its own folder, and so are the files whose digests are taken."""
    data, _ = project
    manifest = data.parent / "data.csv"

    def write_manifest() -> None:
        rows = ["path,label,split"] + [
            f"data/{p.relative_to(data).as_posix()},{p.parent.name},{p.parent.parent.name}"
            for p in sorted(data.rglob("*.jpg"))
        ]
        manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")

    write_manifest()
    baseline = data.parent / "manifest-baseline.json"
    assert main(["baseline", str(manifest), "-o", str(baseline), "-q", "--no-config"]) == 0
    assert all(entry.get("digest") for entry in json.loads(baseline.read_text(encoding="utf-8"))["entries"]
               if entry["check"] == "cross-split-duplicates")  # fmt: skip
    (data / "test/cat/leak-bytes.jpg").rename(data / "test/cat/renamed-leak.jpg")
    write_manifest()
    code, payload, _ = gate(manifest, baseline, capsys)
    assert code == 0
    assert payload["baseline"]["moved"] == [
        {"from": "data/test/cat/leak-bytes.jpg", "to": "data/test/cat/renamed-leak.jpg",
         "check": "cross-split-duplicates"}
    ]  # fmt: skip


def test_renaming_the_kept_copy_of_an_accepted_within_split_set_changes_nothing(
    project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The copy kept is chosen by content (the larger file), not by name: renaming the original does not
    turn it into the "extra" copy, which the baseline would take for a new one."""
    data, _ = project
    reencode(data / "train/cat/02.jpg", data / "train/cat/02-small.jpg", quality=60)
    baseline = data.parent / "within.json"
    assert main(["baseline", str(data), "-o", str(baseline), "-q", "--no-config"]) == 0
    code, payload, _ = gate(data, baseline, capsys, "--fail-on", "warning")
    assert (code, payload["baseline"]["new"]) == (0, [])
    (data / "train/cat/02.jpg").rename(data / "train/cat/zz-original.jpg")
    code, payload, _ = gate(data, baseline, capsys, "--fail-on", "warning")
    assert (code, payload["baseline"]["new"], payload["baseline"]["stale"]) == (0, [], [])
    within = next(f for f in payload["findings"] if f["check"] == "within-split-duplicates")
    assert within["samples"] == ["train/cat/02-small.jpg"]


def test_fail_on_applies_to_new_findings(project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, baseline = project
    shutil.copyfile(data / "train/cat/01.jpg", data / "train/cat/zz-dup.jpg")  # a new within-split warning
    code, _, out = gate(data, baseline, capsys)
    assert code == 0
    # The verdict does not claim that nothing is new.
    assert "PASS  nothing new at or above --fail-on error (1 new below it)" in out
    code, payload, _ = gate(data, baseline, capsys, "--fail-on", "warning")
    assert code == 1
    assert [e["sample"] for e in payload["baseline"]["new"]] == ["train/cat/zz-dup.jpg"]


def test_baseline_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "repo" / "data")
    (tmp_path / "repo" / "pyproject.toml").write_text('[tool.leakcheck]\nbaseline = "ci/leaks.json"\n')
    (tmp_path / "repo" / "ci").mkdir()
    assert main(["baseline", str(data), "-q"]) == 0
    assert (tmp_path / "repo" / "ci" / "leaks.json").is_file()
    report = tmp_path / "r.json"
    assert main(["scan", str(data), "-q", "--json", str(report)]) == 0
    assert json.loads(report.read_text(encoding="utf-8"))["baseline"]["file"] == "../ci/leaks.json"
    # --no-baseline judges every finding: the accepted leaks fail again, and the file is not read.
    assert main(["scan", str(data), "-q", "--no-baseline", "--json", str(report)]) == 1
    assert "baseline" not in json.loads(report.read_text(encoding="utf-8"))
    assert main(["scan", str(data), "-q", "--no-baseline", "--baseline", "x.json"]) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"format": "something-else"}', "not a leakcheck baseline"),
        ('{"format": "leakcheck-baseline", "version": 99, "entries": []}', "version 99"),
        ('{"format": "leakcheck-baseline", "version": 1, "entries": [{"check": 1}]}', "entry 0"),
        ('{"format": "leakcheck-baseline", "version": true, "entries": []}', "version True"),
        ('{"format": "leakcheck-baseline", "version": 1, "entries": [[]]}', "entry 0 is malformed (expected an object"),
        pytest.param("[" * 100_000 + "]" * 100_000, "not valid JSON (arrays or objects nested too deeply)", id="deep"),
        pytest.param('{"a": ' * 100_000 + "1" + "}" * 100_000, "not valid JSON (arrays or", id="deep-objects"),
    ],
)
def test_malformed_baselines_exit_2(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_dataset(tmp_path / "data")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(text)
    assert main(["scan", str(data), "-q", "--no-config", "--baseline", str(baseline)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    with pytest.raises(BaselineError):
        parse_baseline(text)


def test_missing_baseline_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "data")
    assert main(["scan", str(data), "-q", "--no-config", "--baseline", str(tmp_path / "none.json")]) == 2
    assert "no such baseline file" in capsys.readouterr().err
    # A missing data folder is named first, before the missing -o.
    assert main(["baseline", str(tmp_path / "nope"), "-q", "--no-config"]) == 2
    assert f"{tmp_path / 'nope'}: no such folder or file" in capsys.readouterr().err


# --- entries and matching on hand-built reports (no disk) -------------------------------------------------


def _report(*findings: Finding) -> Report:
    return Report(root="data", findings=findings, splits=(), relations=(), skipped=())


def test_entries_split_findings_per_sample_and_skip_info() -> None:
    leak = Finding("cross-split-duplicates", Severity.ERROR, "test: 2 of 9 images also appear in train",
                   ("test/a.jpg", "test/b.jpg"), {"split": "test", "other": "train", "leaked": 2})  # fmt: skip
    balance = Finding("class-balance", Severity.WARNING, "train: classes are imbalanced 12.0:1",
                      metrics={"split": "train", "ratio": 12.0, "largest": "cat", "smallest": "dog"})  # fmt: skip
    sizes = Finding("image-properties", Severity.INFO, "train: 9 images", metrics={"split": "train"})
    entries = entries_from(_report(leak, balance, sizes), {"test/a.jpg": "d1"})
    assert [(e.check, e.scope, e.sample, e.digest) for e in entries] == [
        ("class-balance", "train", "largest=cat; smallest=dog", ""),
        ("cross-split-duplicates", "test:train", "test/a.jpg", "d1"),
        ("cross-split-duplicates", "test:train", "test/b.jpg", ""),
    ]
    # The imbalance got worse, but it is the same problem: still accepted.
    worse = Finding("class-balance", Severity.WARNING, "train: classes are imbalanced 15.0:1",
                    metrics={"split": "train", "ratio": 15.0, "largest": "cat", "smallest": "dog"})  # fmt: skip
    assert compare(entries_from(_report(leak, worse)), entries).new == ()

    # A colour-order warning whose confidence grew with the split: the same problem, still accepted.
    def colours(confidence: str) -> Finding:
        return Finding("pixel-normalization", Severity.WARNING, f"test: colour channels look reversed ({confidence})",
                       metrics={"split": "test", "other": "train", "problem": "colour-order",
                                "confidence": confidence, "swap_ratio": 0.1})  # fmt: skip

    medium = entries_from(_report(colours("medium")))
    assert [(e.scope, e.sample) for e in medium] == [("test:train:colour-order", "-")]
    assert compare(entries_from(_report(colours("high"))), medium).new == ()


def test_round_trip_and_matching_is_one_to_one() -> None:
    old = (Entry("c", "test:train", "test/a.jpg", "d1", Severity.ERROR),)
    assert parse_baseline(render_baseline_json(old)) == old
    # Two current files with a's content under new names: one is the rename, the other is new.
    current = (
        Entry("c", "test:train", "test/x.jpg", "d1", Severity.ERROR),
        Entry("c", "test:train", "test/y.jpg", "d1", Severity.ERROR),
    )
    result = compare(current, old)
    assert [e.sample for e in result.new] == ["test/y.jpg"]
    assert [(o.sample, c.sample) for o, c in result.moved] == [("test/a.jpg", "test/x.jpg")]
    assert result.stale == ()
    # The same content in another scope (test vs val) is a different problem.
    assert compare((Entry("c", "val:train", "val/a.jpg", "d1"),), old).new != ()


def test_baseline_file_validates_against_its_schema(project: tuple[Path, Path]) -> None:
    import jsonschema

    schema = json.loads(
        (Path(__file__).resolve().parent.parent / "leakcheck/schema/baseline.schema.json").read_text(encoding="utf-8")
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    _, baseline = project
    payload = json.loads(baseline.read_text(encoding="utf-8"))
    assert payload["entries"]
    jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)
    payload["entries"][0]["id"] = "not-an-id"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)


def test_baseline_needs_a_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "data")
    assert main(["baseline", str(data), "-q", "--no-config"]) == 2
    assert "no baseline file named" in capsys.readouterr().err
    assert main(["baseline", str(data), "-q", "--no-config", "-o", "-"]) == 0
    assert parse_baseline(capsys.readouterr().out)
