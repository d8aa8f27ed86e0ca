"""The CIFAR-10 / CIFAR-100 "python version" downloads: a folder of pickled batches.

CIFAR-10 (`cifar-10-batches-py/`): `data_batch_1` .. `data_batch_5` (train), `test_batch`, and
`batches.meta` with `label_names`. CIFAR-100 (`cifar-100-python/`): `train`, `test`, and `meta` with
`fine_label_names`; the fine labels are used. Each batch holds `data`, N rows of 3,072 bytes (the red,
green and blue 32x32 planes), and `labels` or `fine_labels`.

The files are pickles, and unpickling can run code; they are read with an unpickler that only rebuilds
numpy arrays, lists, dicts, strings and numbers, and refuses anything else.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from leakcheck.errors import ManifestError
from leakcheck.sources.arrays import ArrayListing, SplitArrays, array_listing

_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
# What a numpy array pickled by Python 2 or 3 with numpy 1 or 2 refers to; nothing else may be loaded.
_ALLOWED = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
})  # fmt: skip


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def is_cifar_dir(path: Path) -> bool:
    """Whether `path` looks like an extracted CIFAR-10 or CIFAR-100 python download."""
    try:
        return (path / "data_batch_1").is_file() or ((path / "train").is_file() and (path / "meta").is_file())
    except OSError:  # a folder that cannot be examined: the folder listing says so
        return False


def _load(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ManifestError(
            f"{path}: not a CIFAR python batch ({exc})", hint="use the 'python version' of the CIFAR download"
        ) from None
    if not isinstance(obj, dict):
        raise ManifestError(f"{path}: not a CIFAR python batch (holds a {type(obj).__name__}, not a dict)")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _batch(path: Path, classes: int) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], list[int]]:
    """A batch's images (N x 32 x 32 x 3) and labels, each checked: `labels` must be N integers in
    0 .. classes - 1."""
    batch = _load(path)
    key = "fine_labels" if "fine_labels" in batch else "labels"
    labels = batch.get(key)
    if "data" not in batch or labels is None:
        raise ManifestError(f"{path}: no 'data' and 'labels' (or 'fine_labels') entries; not a CIFAR batch")
    data = batch["data"]
    if not isinstance(data, np.ndarray):
        raise ManifestError(f"{path}: 'data' is {_a(data)}; CIFAR batches hold a uint8 N x 3072 array")
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise ManifestError(f"{path}: 'data' is {data.dtype} {data.shape}; CIFAR batches are uint8 N x 3072")
    ints = _labels(path, key, labels, classes)
    if len(ints) != len(data):
        raise ManifestError(f"{path}: {len(ints)} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), ints


def _labels(path: Path, key: str, labels: object, classes: int) -> list[int]:
    """`labels` as Python integers, or a ManifestError naming the batch and the first bad value."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ManifestError(f"{path}: '{key}' is {labels.dtype} {labels.shape}; CIFAR labels are N integers")
        values: list[object] = labels.tolist()
    elif isinstance(labels, list | tuple):
        values = list(labels)
    else:
        raise ManifestError(f"{path}: '{key}' is {_a(labels)}; CIFAR labels are a list of integers")
    ints: list[int] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise ManifestError(
                f"{path}: '{key}' entry {i} is {_shown(v)}, not an integer; CIFAR labels are class numbers"
            )
        if not 0 <= v < classes:
            raise ManifestError(f"{path}: '{key}' entry {i} is {int(v)}; expected a class number 0 to {classes - 1}")
        ints.append(int(v))
    return ints


def _shown(value: object) -> str:
    """A value as the message quotes it: its repr, cut at 40 characters."""
    text = repr(value)
    return f"{text[:40]}..." if len(text) > 40 else text


def _a(value: object) -> str:
    """'a list', 'an int': the kind of a value, for a message."""
    kind = type(value).__name__
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _names(path: Path, *keys: str) -> list[str] | None:
    if not path.is_file():
        return None
    meta = _load(path)
    for key in keys:
        if key not in meta:
            continue
        names = meta[key]
        if not isinstance(names, list | tuple):
            raise ManifestError(f"{path}: '{key}' is {_a(names)}; expected a list of class names")
        for i, v in enumerate(names):
            if not isinstance(v, bytes | str):
                raise ManifestError(f"{path}: '{key}' entry {i} is {_shown(v)}, not a class name")
        if not names:
            raise ManifestError(f"{path}: '{key}' is empty; expected the class names")
        return [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v for v in names]
    return None


def read_cifar(root: Path) -> ArrayListing:
    """Read a CIFAR python folder; missing batches among data_batch_1..5 are reported, not guessed. Labels
    must be class numbers below the number of label names in the meta file (10 or 100 without one).

    Raises:
        ManifestError: a batch is missing, unreadable or not in the CIFAR format.
    """
    if (root / "data_batch_1").is_file():
        missing = [n for n in (*_CIFAR10_TRAIN, "test_batch") if not (root / n).is_file()]
        if missing:
            raise ManifestError(
                f"{root}: CIFAR-10 folder without {', '.join(missing)}", hint="extract the full download again"
            )
        names = _names(root / "batches.meta", "label_names")
        classes = len(names) if names is not None else 10
        train = [_batch(root / n, classes) for n in _CIFAR10_TRAIN]
        x_train = np.concatenate([x for x, _ in train])
        y_train = [y for _, ys in train for y in ys]
        x_test, y_test = _batch(root / "test_batch", classes)
    else:
        if not (root / "test").is_file():
            raise ManifestError(f"{root}: CIFAR-100 folder without its 'test' file", hint="extract it again")
        names = _names(root / "meta", "fine_label_names")
        classes = len(names) if names is not None else 100
        x_train, y_train = _batch(root / "train", classes)
        x_test, y_test = _batch(root / "test", classes)
    splits = [SplitArrays("train", x_train, np.asarray(y_train)), SplitArrays("test", x_test, np.asarray(y_test))]
    return array_listing(root.name, splits, label_names=names, where=str(root))
