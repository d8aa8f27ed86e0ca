"""The machine outputs are contracts: the JSON schema, a golden report, and the pairs CSV columns."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

import leakcheck
from leakcheck.render.pairs_csv import render_pairs_csv
from tests.factory import DatasetFactory, make_image

GOLDEN = Path(__file__).parent / "golden" / "report.json"


def _schema() -> dict[str, Any]:
    text = resources.files("leakcheck").joinpath("schema/report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _golden_dataset(factory: DatasetFactory) -> Path:
    """PNG only, so every byte and distance is reproducible wherever the test runs."""
    for label, seeds in (("cat", (1, 2, 3)), ("dog", (4, 5, 6))):
        for seed in seeds:
            factory.add("train", label, f"{seed}.png", seed, fmt="PNG")
    root = factory.root
    factory.copy_bytes(root / "train/cat/1.png", "val", "cat", "1.png")
    factory.add("val", "dog", "7.png", 7, fmt="PNG")
    with Image.open(root / "train/dog/4.png") as im:
        im.resize((77, 64), Image.Resampling.LANCZOS).save(factory.path("test", "dog", "4_small.png"))
    factory.copy_bytes(root / "train/cat/2.png", "test", "dog", "2_relabelled.png")
    factory.add("test", "cat", "8.png", 8, fmt="PNG")
    make_image(9).convert("L").save(factory.path("test", "cat", "9_gray.png"))
    factory.path("test", "cat", "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "test" / "notes.txt").write_text("not an image")
    return root


def _normalised(report: leakcheck.Report) -> dict[str, Any]:
    data = report.to_dict()
    data["tool"]["version"] = "<version>"
    return data


def test_golden_report(factory: DatasetFactory) -> None:
    report = leakcheck.scan(_golden_dataset(factory), jobs=1)
    actual = _normalised(report)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert actual == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_report_validates_against_the_documented_schema(factory: DatasetFactory) -> None:
    report = leakcheck.scan(_golden_dataset(factory), jobs=1)
    jsonschema.validate(json.loads(report.to_json()), _schema())
    jsonschema.Draft202012Validator.check_schema(_schema())


def test_json_is_byte_identical_across_runs_and_roots(factory: DatasetFactory, tmp_path: Path) -> None:
    root = _golden_dataset(factory)
    first = leakcheck.scan(root, jobs=1).to_json()
    moved = tmp_path / "elsewhere" / "data"
    moved.parent.mkdir()
    root.rename(moved)
    assert leakcheck.scan(moved, jobs=1).to_json() == first
    assert str(tmp_path) not in first


def test_pairs_csv_contract(factory: DatasetFactory) -> None:
    report = leakcheck.scan(_golden_dataset(factory), jobs=1)
    text = render_pairs_csv(report)
    rows = list(csv.reader(io.StringIO(text)))
    fixed = ["a_path", "a_split", "a_label", "b_path", "b_split", "b_label", "kind", "distance"]
    assert rows[0] == [*fixed, "score", "explanation"]  # the fixed columns first; later ones only appended
    assert [row[:8] for row in rows[1:]] == [
        ["train/cat/1.png", "train", "cat", "val/cat/1.png", "val", "cat", "exact-bytes", "0"],
        ["train/cat/2.png", "train", "cat", "test/dog/2_relabelled.png", "test", "dog", "exact-bytes", "0"],
        ["train/dog/4.png", "train", "dog", "test/dog/4_small.png", "test", "dog", "near", rows[3][7]],
    ]
    assert 0 <= int(rows[3][7]) <= 10
    assert [row[8] for row in rows[1:3]] == ["1.0000", "1.0000"]
    assert 0.0 < float(rows[3][8]) <= 1.0
    assert "resized" in rows[3][9]
    assert report.pairs().values.tolist() == [[*r[:7], int(r[7]), float(r[8]), r[9]] for r in rows[1:]]


def test_a_group_of_k_copies_is_connected_by_k_minus_1_rows(factory: DatasetFactory) -> None:
    src = factory.add("train", "cat", "orig.jpg", 1)
    for split in ("train", "val", "test"):
        for k in range(3):
            factory.copy_bytes(src, split, "cat", f"copy{k}.jpg")
    factory.add("test", "dog", "other.jpg", 2)
    report = leakcheck.scan(factory.root, jobs=1)
    pairs = report.pairs()
    assert len(pairs) == 9  # 10 copies of one image, connected as a star from the first train copy
    assert set(pairs["a_path"]) == {"train/cat/copy0.jpg"}


def test_notebook_html_and_frames(factory: DatasetFactory) -> None:
    report = leakcheck.scan(_golden_dataset(factory), jobs=1)
    html = report._repr_html_()
    assert "val: 1 of 2 images (50.0%) also appear in train" in html
    frame = report.to_frame()
    assert list(frame.columns) == ["id", "check", "severity", "message", "samples", "hint"]
    assert frame["severity"].iloc[0] == "error"
    assert len(frame) == len(report.findings)


def test_empty_frames_keep_the_column_types_of_full_ones(factory: DatasetFactory) -> None:
    """A notebook that filters `report.pairs()` on a clean data set must not meet other dtypes."""
    full = leakcheck.scan(_golden_dataset(factory), jobs=1, cache=False)
    assert len(full.pairs())
    assert len(full.to_frame())
    empty = dataclasses.replace(full, findings=(), relations=())
    assert empty.pairs().empty
    assert empty.to_frame().empty
    assert empty.pairs().dtypes.to_dict() == full.pairs().dtypes.to_dict()
    assert empty.to_frame().dtypes.to_dict() == full.to_frame().dtypes.to_dict()


def test_finding_ids_differ_between_splits_it_leaked_into(factory: DatasetFactory) -> None:
    """val and test both copies of the same train images: test's two findings (from train, from val)
    name the same test images and must still have two ids."""
    train = factory.add_many("train", ["a"], 3, seed0=0)
    for n, src in enumerate(train):
        factory.copy_bytes(src, "val", "a", f"v{n}.jpg")
        factory.copy_bytes(src, "test", "a", f"t{n}.jpg")
    report = leakcheck.scan(factory.root, jobs=1, near=False)
    ids = [f.id for f in report.findings]
    assert len(ids) == len(set(ids))
    assert len([f for f in report.findings if f.metrics.get("split") == "test"]) >= 2


def test_report_does_not_change_with_the_number_of_workers(factory: DatasetFactory) -> None:
    factory.add_many("train", ["a", "b"], 40, seed0=0)
    factory.add_many("test", ["a", "b"], 10, seed0=5000)
    one = leakcheck.scan(factory.root, jobs=1, cache=False, near=False).to_json()
    assert leakcheck.scan(factory.root, jobs=2, cache=False, near=False).to_json() == one


def test_show_pairs_wants_a_positive_count(factory: DatasetFactory) -> None:
    factory.add_many("train", ["a"], 2, seed0=0)
    report = leakcheck.scan(factory.root, jobs=1, near=False)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(leakcheck.UsageError, match="at least 1"):
            report.show_pairs(bad)  # type: ignore[arg-type]
    assert report.to_frame()["samples"].dtype == "int64"
