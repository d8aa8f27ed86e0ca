"""The command line on the new sources: one clear line and exit code 2 for every input mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakcheck.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing.csv"], "missing.csv: no such file (check the path)"),
        (["{tmp}/missing.npz"], "missing.npz: no such file"),
        (["{tmp}/notes.txt"], "notes.txt: not a data set leakcheck reads"),
        (["tfds:"], "tfds: needs a dataset name"),
        (["{tmp}", "--data-dir", "{tmp}"], "--data-dir applies to tfds:NAME only"),
        (["{tmp}/empty.csv"], "empty.csv: empty file"),
    ],
)
def test_input_mistakes_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "empty.csv").write_text("")
    argv = ["scan", "-q", *(a.format(tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
