"""The CLI run in-process: every exit code and every output file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import leakcheck.cli
from leakcheck.cli import main
from tests.factory import DatasetFactory
from tests.gate_data import write_image

LABELS = ["cat", "dog"]


@pytest.fixture
def clean(factory: DatasetFactory) -> Path:
    factory.add_many("train", LABELS, 4, seed0=0)
    factory.add_many("test", LABELS, 2, seed0=10_000)
    return factory.root


@pytest.fixture
def leaky(factory: DatasetFactory) -> Path:
    train = factory.add_many("train", LABELS, 4, seed0=0)
    factory.copy_bytes(train[0], "test", "cat", "copy.jpg")
    factory.add_many("test", LABELS, 1, seed0=10_000)
    return factory.root


def test_exit_0_when_clean(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(clean)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "ok    test: no images also appear in train"
    assert "PASS" in out


def test_exit_1_on_leak_with_the_headline_first(leaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(leaky)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("leakcheck ")
    assert lines[1] == "LEAK  test: 1 of 3 images (33.3%) also appear in train"


def test_fail_on_levels(factory: DatasetFactory) -> None:
    train = factory.add_many("train", LABELS, 4, seed0=0)
    factory.copy_bytes(train[0], "train", "cat", "dup.jpg")  # a warning only
    factory.add_many("test", LABELS, 1, seed0=10_000)
    root = str(factory.root)
    assert main(["scan", root, "-q"]) == 0
    assert main(["scan", root, "-q", "--fail-on", "warning"]) == 1
    assert main(["scan", root, "-q", "--fail-on", "never"]) == 0


def test_leaks_still_exit_0_with_fail_on_never(leaky: Path) -> None:
    assert main(["scan", str(leaky), "-q", "--fail-on", "never"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["scan"],
        ["scan", "x", "--fail-on", "sometimes"],
        ["scan", "x", "--jobs", "0"],
        ["scan", "x", "--bogus"],
        ["frobnicate"],
        [],
        ["scan", ""],  # not the working folder
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("leakcheck: error: ")
    assert not err.startswith("leakcheck: error: leakcheck")
    assert len(err.strip().splitlines()) == 1


def test_out_of_range_threshold_is_a_usage_error(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(clean), "--phash-distance", "65"]) == 2
    assert "--phash-distance: must be between 0 and 64 bits, got 65" in capsys.readouterr().err


def test_both_machine_outputs_on_stdout_is_refused(clean: Path) -> None:
    assert main(["scan", str(clean), "--json", "-", "--pairs", "-"]) == 2


def test_unwritable_output_is_exit_2(clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x")
    target = tmp_path / "a-file" / "r.json"
    assert main(["scan", str(clean), "-q", "--json", str(target)]) == 2
    assert f"{target}: cannot write" in capsys.readouterr().err
    # A folder that does not exist yet is made (a configured ci/leakcheck-baseline.json in a fresh clone).
    made = tmp_path / "no" / "such" / "dir" / "r.json"
    assert main(["scan", str(clean), "-q", "--json", str(made)]) == 0
    assert json.loads(made.read_text(encoding="utf-8"))["schema_version"]


def test_outputs_never_overwrite_the_data_or_each_other(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = next(p for p in sorted(leaky.rglob("*")) if p.suffix in {".jpg", ".png"})
    before = image.read_bytes()
    assert main(["scan", str(leaky), "-q", "--json", str(image)]) == 2
    assert f"--json {image}: would overwrite an image file" in capsys.readouterr().err
    assert main(["baseline", str(leaky), "-q", "-o", str(image)]) == 2
    assert image.read_bytes() == before
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label,split\n{image},x,train\n", encoding="utf-8")
    assert main(["scan", str(manifest), "-q", "--pairs", str(manifest)]) == 2
    assert "that is the data set being scanned" in capsys.readouterr().err
    twice = tmp_path / "out.txt"
    assert main(["scan", str(leaky), "-q", "--json", str(twice), "--pairs", str(twice)]) == 2
    assert f"--json and --pairs both write {twice}" in capsys.readouterr().err
    # Nor the baseline the scan compares against, nor the config file it reads.
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", str(leaky), "-q", "--no-config", "-o", str(baseline)]) == 0
    recorded = baseline.read_bytes()
    argv = ["scan", str(leaky), "-q", "--no-config", "--baseline", str(baseline), "--junit", str(baseline)]
    assert main(argv) == 2
    assert f"--junit {baseline}: that is the baseline this scan compares against" in capsys.readouterr().err
    assert baseline.read_bytes() == recorded
    config = tmp_path / "leakcheck.toml"
    config.write_text('fail-on = "never"\n', encoding="utf-8")
    assert main(["scan", str(leaky), "-q", "--config", str(config), "--json", str(config)]) == 2
    assert "that is the config file this scan reads" in capsys.readouterr().err
    assert config.read_text(encoding="utf-8") == 'fail-on = "never"\n'


def test_an_empty_or_folder_output_is_refused_before_the_scan(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("leakcheck.cli._scan", lambda *a: pytest.fail("scanned before refusing"))
    assert main(["scan", str(leaky), "-q", "--json", ""]) == 2
    assert "--json is empty" in capsys.readouterr().err
    assert main(["scan", str(leaky), "-q", "--html", str(tmp_path)]) == 2
    assert f"--html {tmp_path}: a folder" in capsys.readouterr().err


def test_quiet_markdown_is_a_contradiction(leaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(leaky), "-q", "--format", "markdown"]) == 2
    assert "--quiet drops the terminal report that --format markdown asks for" in capsys.readouterr().err


def _scan_raising(
    exc: BaseException, clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """Run `leakcheck scan` on `clean` with the scan itself raising `exc`; check exit code 3; the stderr."""

    def failing(*_args: object, **_kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(leakcheck.cli, "scan_with_settings", failing)
    assert main(["scan", str(clean)]) == 3
    return capsys.readouterr().err


def test_internal_error_is_exit_3_with_traceback(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _scan_raising(RuntimeError("boom"), clean, monkeypatch, capsys)
    assert "Traceback" in err
    assert "RuntimeError: boom" in err
    assert "internal error (a bug in leakcheck)" in err


def test_a_dead_worker_is_one_line_that_says_what_to_do(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    killed = BrokenProcessPool("A process in the process pool was terminated abruptly")
    err = _scan_raising(killed, clean, monkeypatch, capsys)
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert "a worker process died" in err
    assert "--jobs 1" in err


def test_running_out_of_memory_is_one_line_that_says_what_to_do(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _scan_raising(MemoryError(), clean, monkeypatch, capsys)
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert "out of memory" in err
    assert "--near-method hash" in err


def test_json_and_pairs_files(leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_csv = tmp_path / "report.json", tmp_path / "pairs.csv"
    assert main(["scan", str(leaky), "-q", "--json", str(out_json), "--pairs", str(out_csv)]) == 1
    assert capsys.readouterr().out == ""
    report = json.loads(out_json.read_text())
    assert report["verdict"] == "leak"
    assert report["headline"] == ["test: 1 of 3 images (33.3%) also appear in train"]
    assert out_csv.read_text().splitlines() == [
        "a_path,a_split,a_label,b_path,b_split,b_label,kind,distance,score,explanation",
        "train/cat/cat_000.jpg,train,cat,test/cat/copy.jpg,test,cat,exact-bytes,0,1.0000,identical file",
    ]


def test_json_to_stdout_moves_the_human_report_to_stderr(leaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(leaky), "--json", "-"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["schema_version"] == 1
    assert "LEAK  test: 1 of 3" in captured.err


def test_pairs_to_stdout(leaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(leaky), "-q", "--pairs", "-"]) == 1
    header = "a_path,a_split,a_label,b_path,b_split,b_label,kind,distance,score,explanation\n"
    assert capsys.readouterr().out.startswith(header)


def test_machine_output_to_a_terminal_escapes_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leaked file named with an escape sequence must not clear the screen of whoever runs --pairs -;
    piped, the CSV stays exact."""
    hostile = "\x1b[2J\x1b]8;;https:evil\x07.jpg"
    write_image(tmp_path / "d" / "train" / "a" / "a.jpg", 1)
    (tmp_path / "d" / "test" / "a").mkdir(parents=True)
    (tmp_path / "d" / "test" / "a" / hostile).write_bytes((tmp_path / "d" / "train" / "a" / "a.jpg").read_bytes())
    argv = ["scan", str(tmp_path / "d"), "-q", "--no-cache", "--pairs", "-"]
    assert main(argv) == 1
    assert hostile in capsys.readouterr().out  # piped: exact
    monkeypatch.setattr("leakcheck.cli._stdout_is_terminal", lambda: True)
    assert main(argv) == 1
    shown = capsys.readouterr().out
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "test/a/\\x1b[2J\\x1b]8;;https:evil\\x07.jpg" in shown
    assert shown.endswith("\n")
    assert shown.count("\n") == 2  # the header and one pair: line ends are kept


def test_quiet_prints_nothing(leaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(leaky), "--quiet"]) == 1
    assert capsys.readouterr() == ("", "")


def test_console_script_and_module_entry_points(leaky: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "leakcheck", "scan", str(leaky), "--json", "-", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["verdict"] == "leak"
    assert result.stderr == ""


def test_skipped_leak_check_is_not_reported_as_clean(leaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the cross-split check nobody looked: no report may say that no image also appears."""
    out_json = leaky.parent / "skip.json"
    html = leaky.parent / "skip.html"
    argv = ["scan", str(leaky), "--skip", "cross-split-duplicates", "--json", str(out_json), "--html", str(html)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "skip  test: not checked against train (cross-split-duplicates was skipped)"
    assert "not checked" in next(line for line in lines if line.startswith("test "))
    assert json.loads(out_json.read_text())["headline"] == [
        "test: not checked against train (cross-split-duplicates was skipped)"
    ]
    page = html.read_text()
    assert '<li class="skipped"><span class="tag">skip</span>' in page
    # (The test row: its train cell counts nothing; its own diagonal cell, within-split, was checked.)
    test_row = page.split('<th scope="row">test</th>')[1].split("</tr>")[0]
    assert test_row.count("cell-none") == 1
    assert test_row.count("cell-clean") == 1
    assert test_row.index("cell-none") < test_row.index("cell-clean")
    assert main(["scan", str(leaky), "--skip", "cross-split-duplicates", "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "no images also appear" not in text
    assert "| not checked |" in text


def test_leaked_column_counts_each_image_once_across_earlier_splits(
    factory: DatasetFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test images copied from train and others copied from val: the column is their union, not the
    larger of the two findings."""
    train = factory.add_many("train", LABELS, 3, seed0=0)
    val = factory.add_many("val", LABELS, 2, seed0=500)
    for n, src in enumerate(train[:3]):
        factory.copy_bytes(src, "test", "cat", f"from-train-{n}.jpg")
    for n, src in enumerate(val[:4]):
        factory.copy_bytes(src, "test", "cat", f"from-val-{n}.jpg")
    assert main(["scan", str(factory.root), "--no-near"]) == 1
    out = capsys.readouterr().out
    assert "LEAK  test: 3 of 7 images (42.9%) also appear in train" in out
    row = next(line for line in out.splitlines() if line.startswith("test "))
    assert row.split()[-1] == "7"
    assert main(["scan", str(factory.root), "--no-near", "--format", "markdown"]) == 1
    assert "| `test` | 7 | 1 | 0 | 7 |" in capsys.readouterr().out


def test_split_names_are_not_rich_markup(factory: DatasetFactory, capsys: pytest.CaptureFixture[str]) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    factory.add_many("[bold]holdout", LABELS, 1, seed0=900)
    assert main(["scan", str(factory.root), "--no-near", "-q"]) in (0, 1)
    capsys.readouterr()
    assert main(["scan", str(factory.root), "--no-near"]) in (0, 1)
    assert "[bold]holdout " in capsys.readouterr().out


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_a_narrow_terminal_encoding_neither_fails_nor_narrows_the_json(factory: DatasetFactory, encoding: str) -> None:
    """'±' in the report and a Greek class name: the terminal report escapes what its encoding cannot
    hold, and the JSON on standard output is UTF-8 all the same."""
    train = factory.add_many("train", ["γάτα"], 3, seed0=0)
    factory.copy_bytes(train[0], "test", "γάτα", "copy.jpg")
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    for extra in ([], ["--format", "markdown"]):
        human = subprocess.run(
            [sys.executable, "-m", "leakcheck", "scan", str(factory.root), "--no-near", *extra],
            capture_output=True, env=env, check=False,
        )  # fmt: skip
        assert human.returncode == 1, human.stderr.decode(errors="replace")
        assert b"Traceback" not in human.stderr
    machine = subprocess.run(
        [sys.executable, "-m", "leakcheck", "scan", str(factory.root), "--no-near", "--json", "-", "-q"],
        capture_output=True, env=env, check=False,
    )  # fmt: skip
    assert machine.returncode == 1
    assert "test/γάτα/copy.jpg" in json.loads(machine.stdout.decode("utf-8"))["findings"][0]["samples"]
