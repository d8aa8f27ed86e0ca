"""Numpy arrays in Python and .npz files on the command line reach the folder source's findings."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import leakcheck
from leakcheck.cli import main
from leakcheck.errors import ManifestError
from leakcheck.model import Finding
from leakcheck.sources.arrays import read_npz
from tests.synthetic import smooth_images, write_folder

_FOLDER_KEY = re.compile(r"\b(train|test)/\w+/(\d{4})\.png\b")


def _dataset() -> dict[str, tuple[np.ndarray, list[str]]]:
    """40 train and 12 test images: three exact and one near copy of train in test, one copy within train."""
    x_train = smooth_images(40, seed=1)
    x_train[38] = x_train[10]  # both "dog": the folder lists them in the same order as the array
    y_train = ["cat" if i % 2 else "dog" for i in range(40)]
    x_test = smooth_images(12, seed=2)
    x_test[:3] = x_train[:3]
    noise = np.random.default_rng(3).integers(-3, 4, x_train[5].shape)
    x_test[3] = np.clip(x_train[5].astype(int) + noise, 0, 255).astype(np.uint8)
    y_test = ["cat" if i % 2 else "dog" for i in range(12)]
    y_test[0] = "cat"  # train[0] is a dog: a label conflict across splits
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def _translated(findings: tuple[Finding, ...]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    def key(text: str) -> str:
        return _FOLDER_KEY.sub(lambda m: f"{m.group(1)}[{int(m.group(2))}]", text)

    return {(f.check, str(f.severity), key(f.message), tuple(sorted(key(s) for s in f.samples))) for f in findings}


def test_arrays_reach_the_same_findings_as_the_folder(tmp_path: Path) -> None:
    data = _dataset()
    write_folder(tmp_path / "data", data)
    folder = leakcheck.scan(tmp_path / "data", jobs=1)
    arrays = leakcheck.scan_arrays({s: (x, np.array(y)) for s, (x, y) in data.items()})
    assert _translated(arrays.findings) == _translated(folder.findings)
    leak = next(f for f in arrays.findings if f.check == "cross-split-duplicates")
    assert leak.message == "test: 4 of 12 images (33.3%) also appear in train"
    assert leak.metrics["by_kind"] == {"exact-bytes": 3, "near": 1}
    assert arrays.exit_code() == 1
    assert sorted(r.kind for r in arrays.relations) == sorted(r.kind for r in folder.relations)
    # Arrays are not files: their identical bytes are identical data.
    exact = {r.explanation for r in arrays.relations if r.kind == "exact-bytes"}
    assert exact == {"identical data"}
    assert {r.explanation for r in folder.relations if r.kind == "exact-bytes"} == {"identical file"}


def test_scan_arrays_takes_every_scan_option_scan_takes() -> None:
    data = {s: (x, np.array(y)) for s, (x, y) in _dataset().items()}
    for options in ({"near_method": "hash"}, {"min_score": 0.99, "sensitivity": "strict"}):
        spelled_out = leakcheck.scan_arrays(data, **options)
        assert spelled_out == leakcheck.scan(data, **options)
        assert spelled_out.parameters["near_method"] == options.get("near_method", "verified")
    with pytest.raises(leakcheck.UsageError, match="min_score"):
        leakcheck.scan_arrays(data, min_score=2.0)


def test_npz_on_the_command_line_matches_python_arrays(tmp_path: Path) -> None:
    data = _dataset()
    names = np.array(["cat", "dog"])
    ints = {s: np.array([list(names).index(v) for v in y]) for s, (_, y) in data.items()}
    npz = tmp_path / "cifar_like.npz"
    np.savez(npz, x_train=data["train"][0], y_train=ints["train"], x_test=data["test"][0], y_test=ints["test"],
             label_names=names)  # fmt: skip
    json_out = tmp_path / "report.json"
    assert main(["scan", str(npz), "-q", "--json", str(json_out)]) == 1
    from_python = leakcheck.scan({s: (x, ints[s]) for s, (x, _) in data.items()}, label_names=["cat", "dog"])
    from_file = leakcheck.scan(npz)
    assert _translated(from_file.findings) == _translated(from_python.findings)
    assert from_file.root == "cifar_like.npz"
    assert from_file.parameters["source"] == "npz"
    assert '"source": "npz"' in json_out.read_text()


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(lambda y: y, id="int"),
        pytest.param(lambda y: y.reshape(-1, 1), id="n-by-1"),
        pytest.param(lambda y: np.eye(3, dtype=np.float32)[y], id="one-hot"),
        pytest.param(lambda y: np.array(["a", "b", "c"])[y], id="strings"),
    ],
)
def test_label_forms_give_the_same_classes(labels) -> None:  # type: ignore[no-untyped-def]
    x = smooth_images(9, seed=4)
    y = np.arange(9) % 3
    report = leakcheck.scan_arrays({"train": (x, labels(y)), "test": (x[:3], labels(y[:3]))}, near=False)
    classes = {s.split: dict(s.classes) for s in report.splits}
    assert classes["train"] in ({"0": 3, "1": 3, "2": 3}, {"a": 3, "b": 3, "c": 3})


@pytest.mark.parametrize(
    ("convert", "dtype", "scale"),
    [
        (lambda x: x, "uint8", "0-255"),
        (lambda x: x.astype(np.float32) / 255, "float32", "0-1"),
        (lambda x: x.astype(np.float64), "float64", "0-255"),
        (lambda x: x.astype(np.uint16) * 257, "uint16", "0-65535"),
        (lambda x: x.astype(np.float32) / 127.5 - 1, "float32", "-1-1"),
        (lambda x: x.transpose(0, 3, 1, 2).copy(), "uint8", "0-255"),  # channels first
    ],
)
def test_any_dtype_is_hashed_on_one_canonical_view(convert, dtype: str, scale: str) -> None:  # type: ignore[no-untyped-def]
    x = smooth_images(6, seed=5)
    report = leakcheck.scan_arrays({"train": x, "test": convert(x)})
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.metrics["leaked"] == 6
    summary = next(
        f for f in report.findings if f.check == "pixel-normalization" and f.metrics.get("split") == "test"
        and f.metrics["problem"] == "summary"
    )  # fmt: skip
    assert (summary.metrics["dtype"], summary.metrics["scale"]) == (dtype, scale)


def test_grayscale_arrays_with_and_without_a_channel_axis() -> None:
    x = smooth_images(5, seed=6)[..., 0]
    report = leakcheck.scan_arrays({"train": x, "test": x[:, :, :, None]})
    assert next(f for f in report.findings if f.check == "cross-split-duplicates").metrics["leaked"] == 5
    assert not [f for f in report.findings if f.metrics.get("problem") == "channel-mismatch"]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.zeros((2, 8, 8)), "y_train": np.zeros(3)}, "3 labels for 2 images"),
        ({"x_train": np.zeros((2, 8, 8)), "images": np.zeros(2)}, "unexpected array 'images'"),
        ({"y_train": np.zeros(2)}, "no x_train images"),
        ({"x_train": np.zeros((2, 8, 8, 2))}, "images have shape (2, 8, 8, 2)"),
        ({"x_train": np.zeros((2, 8, 8)), "y_train": np.array([0.5, 1.0])}, "not whole numbers"),
    ],
)
def test_malformed_npz_is_a_manifest_error(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ManifestError, match=re.escape(message)):
        read_npz(path)


def test_npz_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, pixels=np.zeros((2, 8, 8)))
    assert main(["scan", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "bad.npz: unexpected array 'pixels'" in err
    assert "x_<split>" in err
    object_npz = tmp_path / "objects.npz"
    np.savez(object_npz, x_train=np.array([np.zeros((2, 2)), None], dtype=object))
    assert main(["scan", str(object_npz), "-q"]) == 2
    assert "holds Python objects" in capsys.readouterr().err
    # Random bytes, and an archive whose array is cut short: unreadable files, not Python objects.
    noise = tmp_path / "noise.npz"
    noise.write_bytes(np.random.default_rng(0).bytes(512))
    cut = tmp_path / "cut.npz"
    np.savez(tmp_path / "whole.npz", x_train=np.zeros((4, 8, 8), dtype=np.uint8))
    with zipfile.ZipFile(tmp_path / "whole.npz") as whole, zipfile.ZipFile(cut, "w") as out:
        out.writestr("x_train.npy", whole.read("x_train.npy")[:-100])
    for bad in (noise, cut):
        assert main(["scan", str(bad), "-q"]) == 2
        err = capsys.readouterr().err
        assert f"{bad.name}: not a readable .npz file" in err
        assert "Python objects" not in err


def test_npz_header_claiming_more_than_the_member_holds_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A damaged header claiming 30 TB: numpy would try to allocate it (a MemoryError, reported as exit 3).
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 10000, 10000, 3), }".ljust(118) + "\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 10
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        bad = tmp_path / f"bad{compression}.npz"
        with zipfile.ZipFile(bad, "w", compression) as out:
            out.writestr("x_train.npy", member)
        assert main(["scan", str(bad), "--no-cache", "-q", "--no-near"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert (
            f"{bad.name}: not a readable .npz file (x_train.npy is corrupt or truncated: its header claims "
            "30,000,000,000,000 bytes, the file holds 10)" in err
        )
        with pytest.raises(ManifestError, match="corrupt or truncated"):
            read_npz(bad)
    # Whole arrays, stored or compressed, in either header version, still read.
    x = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8)
    np.savez_compressed(tmp_path / "ok.npz", x_train=x, y_train=np.array([0, 1]))
    assert read_npz(tmp_path / "ok.npz").total == 2
    with zipfile.ZipFile(tmp_path / "v2.npz", "w") as out, out.open("x_train.npy", "w") as f:
        np.lib.format.write_array(f, x, version=(2, 0))
    assert read_npz(tmp_path / "v2.npz").total == 2


def test_none_or_empty_labels_mean_unlabelled(tmp_path: Path) -> None:
    """As an empty manifest cell does: no class named "None" or "" (and no false class-balance finding)."""
    x = smooth_images(6, seed=9)
    for missing in (None, ""):
        report = leakcheck.scan_arrays(
            {"train": (x[:4], ["cat", "dog", missing, missing]), "test": (x[4:], ["cat", "dog"])}
        )
        assert report.to_dict()["splits"]["train"]["classes"] == {"cat": 1, "dog": 1}
        assert not [
            f for f in report.findings if f.check == "class-balance" and f.severity >= leakcheck.Severity.WARNING
        ]


def test_an_empty_numpy_array_is_an_empty_split() -> None:
    x = smooth_images(4, seed=11)
    report = leakcheck.scan_arrays({"train": x, "test": np.array([])})
    assert [(s.split, s.images) for s in report.splits] == [("train", 4), ("test", 0)]
    with pytest.raises(leakcheck.errors.ManifestError, match=r"or N x C x H x W \(C = 1 or 3\)"):
        leakcheck.scan_arrays({"train": np.zeros((4, 4, 32, 32), np.uint8)})


def test_label_names_given_to_scan_name_an_npz_files_labels(tmp_path: Path) -> None:
    x = smooth_images(4, seed=10)
    path = tmp_path / "n.npz"
    np.savez(path, x_train=x[:2], y_train=np.array([0, 1]), x_test=x[2:], y_test=np.array([0, 2]))
    report = leakcheck.scan(path, label_names=["cat", "dog", "bird"], cache=False)
    assert report.to_dict()["splits"]["test"]["classes"] == {"bird": 1, "cat": 1}


def test_groups_as_a_third_array() -> None:
    x = smooth_images(8, seed=7)
    report = leakcheck.scan_arrays(
        {"train": (x[:6], None, ["p1", "p1", "p2", "p2", "p3", "p3"]), "test": (x[6:], None, ["p3", "p4"])}
    )
    leak = next(f for f in report.findings if f.check == "group-leakage")
    assert leak.severity == leakcheck.Severity.ERROR
    assert leak.message == "test: 1 of 2 groups (50.0%, 1 image) also appear in train: p3 (2 in train, 1 in test)"


def test_worker_processes_give_the_same_report() -> None:
    x = smooth_images(300, size=16, seed=8)
    x[250:] = x[:50]
    data = {"train": x[:200], "test": x[200:]}
    calls: list[int] = []

    def progress(total: int):  # type: ignore[no-untyped-def]
        calls.append(total)
        return lambda n: calls.append(n)

    pooled = leakcheck.scan_arrays(data, jobs=2, progress=progress)
    assert pooled.to_dict() == leakcheck.scan_arrays(data, jobs=1).to_dict()
    assert calls[0] == 300
    assert sum(calls[1:]) == 300


def test_16_bit_png_folder_matches_uint16_arrays(tmp_path: Path) -> None:
    """A 16-bit grayscale PNG is hashed on its 8-bit view, like the uint16 array it was written from."""
    x = (smooth_images(12, seed=9)[..., 0].astype(np.uint16) * 257) ^ np.uint16(0x5A)  # full 16-bit detail
    for split, images in (("train", x[:8]), ("test", np.concatenate([x[:2], x[8:]]))):
        (tmp_path / split / "c").mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(tmp_path / split / "c" / f"{i:04d}.png")
    folder = leakcheck.scan(tmp_path, jobs=1)
    arrays = leakcheck.scan_arrays({"train": x[:8], "test": np.concatenate([x[:2], x[8:]])})
    assert _translated(arrays.findings) == _translated(folder.findings)
    assert next(f for f in folder.findings if f.check == "cross-split-duplicates").metrics["leaked"] == 2
    # Different images stay apart: the white-clipped hash of Pillow's "L" conversion would merge them all.
    assert not [f for f in folder.findings if f.check == "within-split-duplicates"]


@pytest.mark.parametrize(
    ("splits", "options", "error", "message"),
    [
        ("list", {}, "UsageError", "splits must be a mapping"),
        ({"train": (["a.jpg", "b.jpg"], [0, 1])}, {}, "ManifestError", "image 0 is <U5"),
        ({"train": "abc"}, {}, "ManifestError", "image 0 is <U1"),
        ("ragged", {}, "ManifestError", "labels: not one value per image"),
        ({"train": "x"}, {"checks": ["label-conflicts"]}, "UsageError", "checks must be check objects"),
        ({"train": "x"}, {"jobs": "2"}, "UsageError", "jobs must be a whole number"),
    ],
)
def test_bad_arrays_and_options_are_leakcheck_errors(splits: object, options: dict, error: str, message: str) -> None:  # type: ignore[type-arg]
    x = smooth_images(6, seed=40)
    if splits == "list":
        splits = [(x, [0] * 6)]
    elif splits == "ragged":
        splits = {"train": (x, [[1], [2, 3], [1], [1], [1], [1]])}
    elif splits == {"train": "x"}:
        splits = {"train": x}
    with pytest.raises(leakcheck.LeakcheckError, match=re.escape(message)) as info:
        leakcheck.scan_arrays(splits, **{"jobs": 1, **options})  # type: ignore[arg-type]
    assert type(info.value).__name__ == error


def test_a_list_is_images_and_an_empty_split_is_reported() -> None:
    x = smooth_images(6, seed=41)
    # A list of images (sizes may vary), not an (images, labels) pair.
    report = leakcheck.scan_arrays({"train": [x[0], x[1, :20, :24]]}, jobs=1)
    assert [(s.split, s.images) for s in report.splits] == [("train", 2)]
    report = leakcheck.scan_arrays({"train": (x, [0, 1] * 3), "test": (x[:0], [])}, jobs=1)
    assert [(s.split, s.images) for s in report.splits] == [("train", 6), ("test", 0)]
    assert [f.message for f in report.findings if f.metrics.get("problem") == "empty"] == ["test: no images"]


def test_the_kept_copy_of_a_within_split_set_is_the_earlier_position() -> None:
    """train[2] and train[10] are copies: train[10] is the extra one (as text, "train[10]" sorts first)."""
    x = smooth_images(12, seed=12)
    x[10] = x[2]
    report = leakcheck.scan_arrays({"train": x})
    (finding,) = [f for f in report.findings if f.check == "within-split-duplicates"]
    assert finding.samples == ("train[10]",)


def test_an_npz_with_an_encrypted_member_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "locked.npz"
    np.savez(path, x_train=smooth_images(2, seed=13))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "encrypted" flag, bit 0
        at = data.find(signature)
        data[at + offset] |= 1
    path.write_bytes(bytes(data))
    assert main(["scan", str(path), "-q", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "locked.npz: not a readable .npz file" in err
    assert "password required" in err
