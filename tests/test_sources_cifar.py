"""CIFAR-10/100 python pickles, written by the test in the format of the original downloads."""

from __future__ import annotations

import pickle
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
