"""CIFAR-10/100 python pickles, written by the test in the format of the original downloads."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

import leakcheck
from leakcheck.cli import main
from leakcheck.errors import ManifestError
from tests.synthetic import smooth_images

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _rows(images: np.ndarray) -> np.ndarray:
    """N x 32 x 32 x 3 images as CIFAR's rows: the red, green and blue planes, 3,072 bytes each."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def _dump(path: Path, obj: dict[bytes, object]) -> None:
    # The downloads are Python 2 pickles read back with encoding="bytes": bytes keys, protocol 2.
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10(root: Path, train: np.ndarray, test: np.ndarray) -> None:
    root.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(train)), 5), start=1):
        _dump(root / f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                         b"labels": [int(j) % 10 for j in chunk], b"data": _rows(train[chunk]),
                                         b"filenames": [f"img_{j}.png".encode() for j in chunk]})  # fmt: skip
    _dump(root / "test_batch", {b"labels": [j % 10 for j in range(len(test))], b"data": _rows(test)})
    _dump(root / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_vis": 3072})


def test_cifar10_folder_is_detected_and_read(tmp_path: Path) -> None:
    x = smooth_images(60, seed=21)
    test = x[50:].copy()
    test[:4] = x[:4]  # four training images also in the test batch
    write_cifar10(tmp_path / "cifar-10-batches-py", x[:50], test)
    report = leakcheck.scan(tmp_path / "cifar-10-batches-py")
    assert report.parameters["source"] == "cifar"
    assert {s.split: s.images for s in report.splits} == {"train": 50, "test": 10}
    assert dict(report.splits[0].classes) == dict.fromkeys(CIFAR10_NAMES, 5)
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.samples == ("test[0]", "test[1]", "test[2]", "test[3]")
    # The arrays source on the same pixels agrees exactly.
    labels_train = np.arange(50) % 10
    arrays = leakcheck.scan({"train": (x[:50], labels_train), "test": (test, np.arange(10) % 10)},
                            label_names=CIFAR10_NAMES)  # fmt: skip
    assert {(f.check, f.message) for f in arrays.findings} == {(f.check, f.message) for f in report.findings}
    assert main(["scan", str(tmp_path / "cifar-10-batches-py"), "-q"]) == 1


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    x = smooth_images(12, seed=22)
    fine = [f"class{i:02d}" for i in range(100)]
    _dump(root / "train", {b"fine_labels": list(range(8)), b"coarse_labels": [0] * 8, b"data": _rows(x[:8])})
    _dump(root / "test", {b"fine_labels": [0, 1, 2, 3], b"coarse_labels": [0] * 4, b"data": _rows(x[8:])})
    _dump(root / "meta", {b"fine_label_names": [n.encode() for n in fine], b"coarse_label_names": [b"c"] * 20})
    report = leakcheck.scan(root)
    assert dict(report.splits[0].classes) == {f"class{i:02d}": 1 for i in range(8)}
    assert report.exit_code() == 0


def test_incomplete_or_hostile_cifar_folders_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = smooth_images(20, seed=23)
    root = tmp_path / "cifar"
    write_cifar10(root, x[:15], x[15:])
    (root / "data_batch_4").unlink()
    assert main(["scan", str(root), "-q"]) == 2
    assert "CIFAR-10 folder without data_batch_4" in capsys.readouterr().err

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    (root / "data_batch_4").write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}, protocol=2))
    with pytest.raises(ManifestError, match=r"refusing to load _*builtins?_*\.print"):
        leakcheck.scan(root)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("labels", "meta", "bad", "expected"),
    [
        (["cat", "dog"], None, "data_batch_1", "'labels' entry 0 is 'cat', not an integer"),
        (5, None, "data_batch_1", "'labels' is an int; CIFAR labels are a list of integers"),
        ([None, None], None, "data_batch_1", "'labels' entry 0 is None, not an integer"),
        ([0, 10], None, "data_batch_1", "'labels' entry 1 is 10; expected a class number 0 to 9"),
        ([0, -1], None, "data_batch_1", "'labels' entry 1 is -1; expected a class number 0 to 9"),
        ([True, False], None, "data_batch_1", "'labels' entry 0 is True, not an integer"),
        (np.zeros((2, 1), np.int64), None, "data_batch_1", "'labels' is int64 (2, 1); CIFAR labels are N integers"),
        ([0, 1], {b"label_names": 5}, "batches.meta", "'label_names' is an int; expected a list of class names"),
        ([0, 1], {b"label_names": [b"a", 3]}, "batches.meta", "'label_names' entry 1 is 3, not a class name"),
        (
            [0, 2],
            {b"label_names": [b"a", b"b"]},
            "data_batch_1",
            "'labels' entry 1 is 2; expected a class number 0 to 1",
        ),
    ],
)
def test_malformed_cifar_batches_are_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: object, meta: dict[bytes, object] | None, bad: str,
    expected: str,
) -> None:  # fmt: skip
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for name in (*[f"data_batch_{i}" for i in range(1, 6)], "test_batch"):
        with (root / name).open("wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}, f)
    if meta is not None:
        _dump(root / "batches.meta", meta)
    assert main(["scan", str(root), "--no-cache", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leakcheck: error: {root / bad}: {expected}")
    assert err.count("\n") == 1
    with pytest.raises(ManifestError, match=re.escape(expected)):
        leakcheck.scan(root)


def test_malformed_cifar_data_and_cifar100_labels_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = smooth_images(20, seed=24)
    root = tmp_path / "cifar"
    write_cifar10(root, x[:15], x[15:])
    _dump(root / "data_batch_3", {b"data": [[0] * 3072], b"labels": [0]})
    assert main(["scan", str(root), "--no-cache", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"leakcheck: error: {root / 'data_batch_3'}: 'data' is a list; CIFAR batches hold a uint8 N x 3072 array\n"
    )
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    _dump(c100 / "meta", {b"coarse_label_names": [b"c"] * 20})  # no fine names: 100 classes
    _dump(c100 / "train", {b"fine_labels": [0, 100], b"coarse_labels": [0, 0], b"data": _rows(x[:2])})
    _dump(c100 / "test", {b"fine_labels": [b"x"], b"coarse_labels": [0], b"data": _rows(x[2:3])})
    assert main(["scan", str(c100), "--no-cache", "-q"]) == 2
    assert "train: 'fine_labels' entry 1 is 100; expected a class number 0 to 99" in capsys.readouterr().err
    _dump(c100 / "train", {b"fine_labels": [0, 99], b"coarse_labels": [0, 0], b"data": _rows(x[:2])})
    assert main(["scan", str(c100), "--no-cache", "-q"]) == 2
    assert "test: 'fine_labels' entry 0 is b'x', not an integer" in capsys.readouterr().err
