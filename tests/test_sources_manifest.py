"""CSV and Parquet manifests: same findings as the folder they describe; clear errors for bad ones."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import leakcheck
from leakcheck.cli import main
from leakcheck.errors import ManifestError
from leakcheck.model import Finding
from tests.synthetic import smooth_images, write_folder


def _folder(root: Path) -> list[dict[str, str]]:
    """A folder data set with a leak and its manifest rows (path relative to `root`)."""
    x = smooth_images(30, seed=11)
    test = x[24:].copy()
    test[:2] = x[:2]
    write_folder(root, {"train": (x[:24], ["a", "b"] * 12), "test": (test, ["a", "b"] * 3)})
    return [
        {"path": p.relative_to(root).as_posix(), "label": p.parent.name, "split": p.parts[-3]}
        for p in sorted(root.rglob("*.png"))
    ]


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _comparable(findings: tuple[Finding, ...]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {(f.check, str(f.severity), f.message, f.samples) for f in findings}


def test_csv_and_parquet_manifests_match_the_folder(tmp_path: Path) -> None:
    rows = _folder(tmp_path)
    _write_csv(tmp_path / "manifest.csv", rows, ["path", "label", "split"])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "manifest.parquet")
    folder = leakcheck.scan(tmp_path, jobs=1)
    from_csv = leakcheck.scan(tmp_path / "manifest.csv", jobs=1)
    from_parquet = leakcheck.scan(tmp_path / "manifest.parquet", jobs=1)
    # The folder scan also notes the manifests themselves as skipped files.
    folder_findings = {f for f in _comparable(folder.findings) if not f[2].startswith("skipped files")}
    assert _comparable(from_csv.findings) == folder_findings
    assert _comparable(from_parquet.findings) == folder_findings
    assert from_csv.parameters["source"] == "manifest"
    assert next(f for f in from_csv.findings if f.check == "cross-split-duplicates").metrics["leaked"] == 2


def test_manifest_in_another_folder_resolves_paths_relative_to_itself(tmp_path: Path) -> None:
    rows = _folder(tmp_path / "images")
    for row in rows:
        row["path"] = "images/" + row["path"]
        row["split"] = {"train": "Training", "test": "TEST"}[row["split"]]  # usual spellings are recognised
    _write_csv(tmp_path / "all.csv", rows, ["path", "label", "split"])
    report = leakcheck.scan(tmp_path / "all.csv", jobs=1)
    assert [s.split for s in report.splits] == ["train", "test"]
    assert all(r.a.startswith("images/train/") for r in report.relations)


def test_group_column_reports_patient_overlap(tmp_path: Path) -> None:
    rows = _folder(tmp_path)
    train = [r for r in rows if r["split"] == "train"]
    test = [r for r in rows if r["split"] == "test"]
    for i, row in enumerate(train):
        row["group"] = f"patient-{i // 3:02d}"
    for i, row in enumerate(test):
        row["group"] = f"patient-{20 + i:02d}"
    test[-1]["group"] = "patient-00"  # one test image from a training patient
    _write_csv(tmp_path / "m.csv", rows, ["path", "label", "split", "group"])
    report = leakcheck.scan(tmp_path / "m.csv", jobs=1)
    leak = next(f for f in report.findings if f.check == "group-leakage")
    assert leak.severity == leakcheck.Severity.ERROR
    assert leak.metrics["groups"] == 1
    assert leak.metrics["images"] == 1
    assert "patient-00 (3 in train, 1 in test)" in leak.message


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("path,label,split,width", "train/a/0000.png,a,train,32", "unknown column 'width' (column 4)"),
        ("path,label", "train/a/0000.png,a", "has no 'split' column"),
        ("path,label,split", "train/a/9999.png,a,train", "line 2: train/a/9999.png: no such file"),
        ("path,label,split", ",a,train", "line 2: empty 'path'"),
        ("path,label,split", "train/a/0000.png,a", "line 2 has 2 fields, the header 3"),
        ("path,label,split", '"train/a/0000.png,a,train\ntrain/a/0001.png,a,test',
         'line 2 has 1 fields, the header 3; a quote (") opened there is not closed'),
        ("path,label,split", "train/a,a,train", "line 2: train/a: not a regular file (a folder, pipe or device)"),
    ],
)  # fmt: skip
def test_bad_manifests_name_the_file_and_line(tmp_path: Path, header: str, row: str, message: str) -> None:
    _folder(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=re.escape(message)):
        leakcheck.scan(path)


def test_missing_files_exit_2_with_a_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _folder(tmp_path)
    rows += [{"path": f"train/a/gone{i}.png", "label": "a", "split": "train"} for i in range(3)]
    _write_csv(tmp_path / "m.csv", rows, ["path", "label", "split"])
    assert main(["scan", str(tmp_path / "m.csv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "line 32: train/a/gone0.png: no such file (and 2 more missing files)" in err


def test_same_file_in_two_splits_is_a_leak_not_a_crash(tmp_path: Path) -> None:
    rows = _folder(tmp_path)
    last_train = [r for r in rows if r["split"] == "train"][-1]
    rows.append({**last_train, "split": "test"})
    _write_csv(tmp_path / "m.csv", rows, ["path", "label", "split"])
    report = leakcheck.scan(tmp_path / "m.csv", jobs=1)
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert f"{last_train['path']} (line 32)" in leak.samples
    assert leak.metrics["by_kind"] == {"exact-bytes": 3}  # two planted copies, and the file listed twice


def test_group_pattern_on_folder_file_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    x = smooth_images(12, seed=12)
    names = {"train": ["P001_a", "P001_b", "P002_a", "P002_b", "P003_a", "P003_b"],
             "test": ["P004_a", "P004_b", "P005_a", "P003_c", "P006_a", "P006_b"]}  # fmt: skip
    k = 0
    for split, stems in names.items():
        (tmp_path / split / "x").mkdir(parents=True)
        for stem in stems:
            Image.fromarray(x[k]).save(tmp_path / split / "x" / f"{stem}.png")
            k += 1
    assert main(["scan", str(tmp_path), "-q", "--fail-on", "error"]) == 0
    assert main(["scan", str(tmp_path), "-q", "--group-pattern", r"^(?P<group>P\d+)_"]) == 1
    report = leakcheck.scan(tmp_path, group_pattern=r"^(P\d+)_", jobs=1)
    leak = next(f for f in report.findings if f.check == "group-leakage")
    assert leak.message == ("test: 1 of 4 groups (25.0%, 1 image) also appear in train: P003 (2 in train, 1 in test)")
    assert set(leak.samples) == {"test/x/P003_c.png", "train/x/P003_a.png", "train/x/P003_b.png"}
    capsys.readouterr()
    # The terminal report lists the images of the shared groups under the finding.
    assert main(["scan", str(tmp_path), "-j", "1", "--group-pattern", r"^(?P<group>P\d+)_"]) == 1
    out = capsys.readouterr().out
    assert "also appear in train: P003" in out
    assert all(f"       {key}" in out for key in leak.samples)
    assert main(["scan", str(tmp_path), "-q", "--group-pattern", r"^patient(\d+)"]) == 2
    assert "matches none of the 12 file names" in capsys.readouterr().err
    assert main(["scan", str(tmp_path), "-q", "--group-pattern", "(unclosed"]) == 2


def test_parquet_with_unknown_column(tmp_path: Path) -> None:
    _folder(tmp_path)
    table = pa.Table.from_pydict({"path": ["train/a/0000.png"], "label": ["a"], "split": ["train"],
                                  "fold": np.array([1])})  # fmt: skip
    pq.write_table(table, tmp_path / "m.parquet")
    with pytest.raises(ManifestError, match=r"m\.parquet: the schema: unknown column 'fold'"):
        leakcheck.scan(tmp_path / "m.parquet")
