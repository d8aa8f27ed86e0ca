"""Configuration: discovery like ruff's, validation with exit 2 naming file and key, CLI precedence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leakcheck.cli import main
from leakcheck.config import Settings, find_config, load_settings, read_config, resolve_settings
from leakcheck.errors import ConfigError
from leakcheck.model import Severity
from leakcheck.sources.ignores import IgnoreRules
from tests.gate_data import make_dataset, write_image


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("cfg") / "project" / "data")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def report_json(tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    target = tmp_path / "report.json"
    code, _, err = run([*argv, "-q", "--json", str(target)], capsys)
    assert code in (0, 1), err
    return code, json.loads(target.read_text(encoding="utf-8"))


# --- discovery ---------------------------------------------------------------------------------------


def test_nearest_config_wins_walking_up(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.leakcheck]\nphash-distance = 8\n")
    deep = tmp_path / "sub" / "data" / "train"
    deep.mkdir(parents=True)
    (tmp_path / "sub" / "leakcheck.toml").write_text("phash-distance = 6\n")
    assert find_config(tmp_path / "sub" / "data") == (tmp_path / "sub" / "leakcheck.toml").resolve()
    other = tmp_path / "other" / "data"
    other.mkdir(parents=True)
    assert find_config(other) == (tmp_path / "pyproject.toml").resolve()
    assert load_settings(other).phash_distance == 8
    assert load_settings(tmp_path / "sub" / "data").phash_distance == 6


def test_a_data_folder_that_is_a_link_takes_the_config_beside_the_link(tmp_path: Path) -> None:
    (tmp_path / "disk" / "food" / "train").mkdir(parents=True)
    (tmp_path / "disk" / "leakcheck.toml").write_text("phash-distance = 6\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[tool.leakcheck]\nfail-on = "never"\n')
    (repo / "data").symlink_to(tmp_path / "disk" / "food", target_is_directory=True)
    assert find_config(repo / "data") == repo / "pyproject.toml"
    assert load_settings(repo / "data").fail_on == "never"
    # Without a config above the link, the one above its target is used.
    (repo / "pyproject.toml").unlink()
    assert find_config(repo / "data") == tmp_path / "disk" / "leakcheck.toml"


def test_pyproject_without_table_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "leakcheck.toml").write_text('fail-on = "warning"\n')
    inner = tmp_path / "repo"
    (inner / "data").mkdir(parents=True)
    (inner / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert find_config(inner / "data") == (tmp_path / "leakcheck.toml").resolve()


def test_leakcheck_toml_beats_pyproject_in_the_same_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.leakcheck]\njobs = 3\n")
    (tmp_path / "leakcheck.toml").write_text("jobs = 2\n")
    assert find_config(tmp_path) == (tmp_path / "leakcheck.toml").resolve()
    assert load_settings(tmp_path).jobs == 2


def test_no_config_anywhere_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, discover=False)
    # (No pHash distance: the sensitivity's candidate distance, and the hash rule's 10.)
    assert (settings.phash_distance, settings.fail_on, settings.config_file) == (None, "error", None)
    assert set(settings.origins.values()) <= {"default"}


# --- values ------------------------------------------------------------------------------------------


def test_every_key_parses(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        """
[tool.leakcheck]
sensitivity = "strict"
near = true
dhash-distance = 12
max-pixels = 1000000
jobs = 2
fail-on = "warning"
skip = ["class-balance"]
ignore = ["**/drafts", "*.tmp.png"]
baseline = "ci/leakcheck-baseline.json"

[tool.leakcheck.severity]
within-split-duplicates = "error"
label-conflicts = "warning"

[tool.leakcheck.splits]
val = ["holdout"]
calibration = ["calib"]
"""
    )
    values = read_config(tmp_path / "pyproject.toml")
    settings = resolve_settings(values, {})
    # The sensitivity names the detector's setting (its pHash candidates too, unless a distance is given).
    assert settings.sensitivity == "strict"
    assert (settings.phash_distance, settings.dhash_distance) == (None, 12)
    assert settings.skip == ("class-balance",)
    assert settings.severity == {"within-split-duplicates": Severity.ERROR, "label-conflicts": Severity.WARNING}
    assert settings.split_aliases()["val"][-1] == "holdout"
    assert settings.split_aliases()["calibration"] == ("calibration", "calib")
    assert settings.baseline == (tmp_path / "ci" / "leakcheck-baseline.json").resolve()
    assert settings.origins["dhash-distance"] == "config"
    assert "phash-distance" not in settings.origins
    assert "class-balance" not in {c.id for c in settings.checks()}


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("phash_distance = 8\n", "'phash_distance'"),  # snake case: unknown, with a suggestion
        ("colour = 1\n", "'colour'"),
        ('phash-distance = "ten"\n', "'phash-distance'"),
        ("phash-distance = 65\n", "'phash-distance'"),
        ("jobs = 0\n", "'jobs'"),
        ("near = 1\n", "'near'"),
        ('fail-on = "sometimes"\n', "'fail-on'"),
        ('sensitivity = "paranoid"\n', "'sensitivity'"),
        ('skip = ["no-such-check"]\n', "'skip'"),
        ('ignore = ["/abs/*.jpg"]\n', "'ignore'"),
        ('[severity]\nwithin-split-duplicates = "fatal"\n', "'severity'"),
        ('[severity]\nmystery = "error"\n', "'severity'"),
        ('[splits]\ntest = ["val"]\n', "'splits'"),
    ],
)
def test_bad_key_or_value_exits_2_naming_file_and_key(
    tmp_path: Path, dataset: Path, toml: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text(toml)
    code, _, err = run(["scan", str(dataset), "-q", "--config", str(config)], capsys)
    assert code == 2
    assert named in err
    assert str(config) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_key_suggests_the_spelling(tmp_path: Path) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text("phash_distance = 8\n")
    with pytest.raises(ConfigError, match="did you mean 'phash-distance'"):
        read_config(config)
    # pyproject.toml's header copied into a leakcheck.toml: say where the keys go.
    config.write_text("[tool.leakcheck]\nphash-distance = 8\n")
    with pytest.raises(ConfigError, match=r"without a \[tool\.leakcheck\] header"):
        read_config(config)


def test_hash_distances_on_the_command_line_are_bits(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", str(dataset), "-q", "--no-config", "--phash-distance", "99"], capsys)
    assert code == 2
    assert "--phash-distance: must be between 0 and 64 bits, got 99" in err


def test_pyproject_keys_are_named_with_their_table(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.leakcheck]\nfail_on = 'never'\n")
    code, _, err = run(["scan", str(dataset), "-q", "--config", str(config)], capsys)
    assert code == 2
    assert "'tool.leakcheck.fail_on'" in err
    assert "did you mean 'fail-on'" in err


def test_invalid_toml_exits_2(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text("fail-on = \n")
    code, _, err = run(["scan", str(dataset), "-q", "--config", str(config)], capsys)
    assert code == 2
    assert "not valid TOML" in err


@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000], ids=["array", "table"])
def test_deeply_nested_toml_exits_2(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    config = tmp_path / "deep.toml"
    config.write_text(f"x = {value}\n")
    code, _, err = run(["scan", str(dataset), "-q", "--no-cache", "--config", str(config)], capsys)
    assert (code, err.strip()) == (
        2,
        f"leakcheck: error: {config}: not valid TOML (arrays or tables nested too deeply) (nest less)",
    )
    with pytest.raises(ConfigError, match="nested too deeply"):
        read_config(config)


def test_config_that_is_not_utf8_exits_2(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_bytes(b"fail-on = '\xff'\n")
    code, _, err = run(["scan", str(dataset), "-q", "--config", str(config)], capsys)
    assert (code, err.strip()) == (
        2,
        f"leakcheck: error: {config}: not UTF-8 text (invalid start byte) (save the file as UTF-8)",
    )


def test_a_folder_that_cannot_be_examined_has_no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "leakcheck.toml").write_text("jobs = 2\n")
    real = Path.is_file

    def is_file(self: Path) -> bool:
        if self.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    assert find_config(tmp_path / "data") is None


def test_missing_config_file_exits_2(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", str(dataset), "-q", "--config", str(tmp_path / "nope.toml")], capsys)
    assert (code, "no such config file" in err) == (2, True)


# --- the CLI: discovery, precedence, effects -----------------------------------------------------------


def test_discovered_config_sets_fail_on_and_cli_overrides(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = dataset.parent / "leakcheck.toml"
    config.write_text('fail-on = "never"\n')
    try:
        code, payload = report_json(tmp_path, ["scan", str(dataset)], capsys)
        assert code == 0  # the data leaks, but the config says never fail
        recorded = payload["parameters"]["config"]
        assert recorded["file"] == "../leakcheck.toml"
        assert (recorded["values"]["fail-on"], recorded["origins"]["fail-on"]) == ("never", "config")
        assert recorded["origins"]["phash-distance"] == "default"

        code, payload = report_json(tmp_path, ["scan", str(dataset), "--fail-on", "error"], capsys)
        assert code == 1
        assert payload["parameters"]["config"]["origins"]["fail-on"] == "cli"

        code, payload = report_json(tmp_path, ["scan", str(dataset), "--no-config"], capsys)
        assert code == 1
        assert payload["parameters"]["config"]["file"] is None
    finally:
        config.unlink()


def test_cli_thresholds_override_config(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text("phash-distance = 4\ndhash-distance = 4\n")
    argv = ["scan", str(dataset), "--config", str(config)]
    _, payload = report_json(tmp_path, argv, capsys)
    assert payload["parameters"]["phash_distance"] == 4
    _, payload = report_json(tmp_path, [*argv, "--phash-distance", "9"], capsys)
    assert (payload["parameters"]["phash_distance"], payload["parameters"]["dhash_distance"]) == (9, 4)
    assert payload["parameters"]["config"]["origins"]["phash-distance"] == "cli"


def test_near_can_be_switched_off_by_config(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text("near = false\n")
    _, payload = report_json(tmp_path, ["scan", str(dataset), "--config", str(config)], capsys)
    leak = next(f for f in payload["findings"] if f["check"] == "cross-split-duplicates")
    assert leak["samples"] == ["test/cat/leak-bytes.jpg"]  # the re-encoded copy needs near matching
    # --near switches it back on for one run.
    _, payload = report_json(tmp_path, ["scan", str(dataset), "--config", str(config), "--near"], capsys)
    leak = next(f for f in payload["findings"] if f["check"] == "cross-split-duplicates")
    assert leak["samples"] == ["test/cat/leak-bytes.jpg", "test/dog/leak-near.jpg"]


def test_severity_override_and_skip(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text('skip = ["cross-split-duplicates"]\n[severity]\nimage-properties = "error"\n')
    code, payload = report_json(tmp_path, ["scan", str(dataset), "--config", str(config)], capsys)
    checks = {f["check"] for f in payload["findings"]}
    assert "cross-split-duplicates" not in checks
    assert "cross-split-duplicates" not in payload["parameters"]["checks"]
    sizes = [f for f in payload["findings"] if f["check"] == "image-properties"]
    assert sizes
    assert {f["severity"] for f in sizes} == {"error"}
    assert code == 1

    code, payload = report_json(
        tmp_path, ["scan", str(dataset), "--config", str(config), "--severity", "image-properties=info"], capsys
    )
    assert code == 0
    assert payload["parameters"]["config"]["values"]["severity"] == {"image-properties": "info"}


def test_bad_severity_flag_exits_2(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", str(dataset), "-q", "--no-config", "--severity", "label-conflicts=loud"], capsys)
    assert code == 2
    assert "unknown severity 'loud'" in err


def test_split_aliases_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    write_image(data / "train" / "cat" / "a.jpg", 1)
    write_image(data / "holdout" / "cat" / "b.jpg", 2)
    write_image(data / "test" / "cat" / "c.jpg", 3)
    (tmp_path / "leakcheck.toml").write_text('[splits]\nval = ["holdout"]\n')
    _, payload = report_json(tmp_path, ["scan", str(data)], capsys)
    assert list(payload["splits"]) == ["train", "val", "test"]
    _, payload = report_json(tmp_path, ["scan", str(data), "--no-config"], capsys)
    assert list(payload["splits"]) == ["train", "test", "holdout"]
    # Split names are case-insensitive in the config too.
    (tmp_path / "leakcheck.toml").write_text('[splits]\nVal = ["holdout"]\n')
    _, payload = report_json(tmp_path, ["scan", str(data)], capsys)
    assert list(payload["splits"]) == ["train", "val", "test"]


def test_ignore_globs_leave_paths_out(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text('ignore = ["test/cat/leak-*"]\n')
    argv = ["scan", str(dataset), "--config", str(config)]
    _, payload = report_json(tmp_path, argv, capsys)
    leak = next(f for f in payload["findings"] if f["check"] == "cross-split-duplicates")
    assert leak["samples"] == ["test/dog/leak-near.jpg"]
    assert payload["summary"]["images"] == 19
    # --ignore adds to the config's patterns
    code, payload = report_json(tmp_path, [*argv, "--ignore", "leak-near.jpg"], capsys)
    assert code == 0
    assert payload["parameters"]["config"]["values"]["ignore"] == ["test/cat/leak-*", "leak-near.jpg"]


@pytest.mark.parametrize(
    ("pattern", "key", "ignored"),
    [
        ("*.png", "train/cat/a.png", True),
        ("*.png", "train/cat/a.jpg", False),
        ("drafts", "train/drafts/x/a.jpg", True),
        ("drafts", "train/cat/drafts.jpg", False),
        ("train/cat/*", "train/cat/a.jpg", True),
        ("train/*", "train/cat/a.jpg", True),  # the folder train/cat matches: everything below it too
        ("train/cat/*.png", "train/cat/sub/a.png", False),  # * stays within one folder
        ("train/**/*.png", "train/cat/sub/a.png", True),
        ("**/a.jpg", "test/dog/a.jpg", True),
        ("test/**", "train/cat/a.jpg", False),
        ("Train/*", "train/cat/a.jpg", False),  # case-sensitive, like the filesystem
    ],
)
def test_ignore_rules(pattern: str, key: str, ignored: bool) -> None:
    assert IgnoreRules((pattern,)).matches(key) is ignored


@pytest.mark.parametrize("pattern", ["", "/abs", "../up/*.jpg", "a\\b"])
def test_bad_ignore_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="ignore pattern"):
        IgnoreRules((pattern,))


def test_config_and_no_config_together_is_a_usage_error(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", str(dataset), "--config", "x.toml", "--no-config"], capsys)
    assert code == 2
    assert "--no-config" in err


def test_tool_leakcheck_must_be_a_table(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pyproject.toml"
    for value in ("3", "[]", '""'):  # (an empty list or string is not an empty table either)
        config.write_text(f"[tool]\nleakcheck = {value}\n")
        code, _, err = run(["scan", str(dataset), "-q", "--config", str(config)], capsys)
        assert code == 2, value
        assert "'tool.leakcheck' must be a table" in err


def test_settings_validate_when_built_in_python() -> None:
    with pytest.raises(ValueError, match="fail_on"):
        Settings(fail_on="sometimes")  # type: ignore[arg-type]  # the point: a value outside the Literal
    with pytest.raises(ValueError, match="unknown check"):
        Settings(skip=("nope",))
