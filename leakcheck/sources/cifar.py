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


def _batch(path: Path) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], list[int]]:
    batch = _load(path)
    labels = batch.get("fine_labels", batch.get("labels"))
    if "data" not in batch or labels is None:
        raise ManifestError(f"{path}: no 'data' and 'labels' (or 'fine_labels') entries; not a CIFAR batch")
    data = np.asarray(batch["data"])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise ManifestError(f"{path}: 'data' is {data.dtype} {data.shape}; CIFAR batches are uint8 N x 3072")
    if len(labels) != len(data):
        raise ManifestError(f"{path}: {len(labels)} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), [int(v) for v in labels]


def _names(path: Path, *keys: str) -> list[str] | None:
    if not path.is_file():
        return None
    meta = _load(path)
    for key in keys:
        if key in meta:
            return [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v) for v in meta[key]]
    return None


def read_cifar(root: Path) -> ArrayListing:
    """Read a CIFAR python folder; missing batches among data_batch_1..5 are reported, not guessed.

    Raises:
        ManifestError: a batch is missing, unreadable or not in the CIFAR format.
    """
    if (root / "data_batch_1").is_file():
        missing = [n for n in (*_CIFAR10_TRAIN, "test_batch") if not (root / n).is_file()]
        if missing:
            raise ManifestError(
                f"{root}: CIFAR-10 folder without {', '.join(missing)}", hint="extract the full download again"
            )
        train = [_batch(root / n) for n in _CIFAR10_TRAIN]
        x_train = np.concatenate([x for x, _ in train])
        y_train = [y for _, ys in train for y in ys]
        x_test, y_test = _batch(root / "test_batch")
        names = _names(root / "batches.meta", "label_names")
    else:
        if not (root / "test").is_file():
            raise ManifestError(f"{root}: CIFAR-100 folder without its 'test' file", hint="extract it again")
        x_train, y_train = _batch(root / "train")
        x_test, y_test = _batch(root / "test")
        names = _names(root / "meta", "fine_label_names")
    splits = [SplitArrays("train", x_train, np.asarray(y_train)), SplitArrays("test", x_test, np.asarray(y_test))]
    return array_listing(root.name, splits, label_names=names, where=str(root))
