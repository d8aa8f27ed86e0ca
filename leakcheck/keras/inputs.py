"""What preflight reads from a split's data: size, pixel range, label encoding, class names, repeatability."""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from leakcheck.errors import UsageError

Encoding = Literal["integer", "one-hot", "multi-hot", "string", "other", "none"]
DataKind = Literal["arrays", "dataset", "sequence"]
KERAS_DEFAULT_BATCH = 32
_VALUES_PER_BATCH = 16384  # pixel values kept per batch for the percentiles


@dataclass(frozen=True, slots=True)
class SplitFacts:
    """One split as the model will see it, from up to `inspected` samples.

    `samples` and `steps` (batches per epoch) are None when they cannot be known without a full pass.
    `labels_complete` says whether the label facts cover the whole split (always for arrays) or only
    the samples inspected. `repeatable` is None when not tested (arrays, or the train split);
    `reordered_only` is True when two passes hold the same samples in another order; `repeat_unsure` is
    True when the passes differ but reading `reference` samples of a third pass could not tell a
    reshuffle over more images from random augmentation.
    """

    split: str
    kind: DataKind
    samples: int | None
    steps: int | None
    inspected: int
    x_min: float | None
    x_max: float | None
    encoding: Encoding
    classes: int | None
    class_counts: tuple[tuple[int, int], ...]
    class_names: tuple[str, ...] | None
    labels_complete: bool = False
    repeatable: bool | None = None
    reordered_only: bool = False
    repeat_unsure: bool = False
    reference: int = 0
    digests: frozenset[str] = frozenset()
    file_paths: tuple[str, ...] | None = None
    # The 0.5th and 99.5th percentiles of the values read: the range without the tails that noise
    # augmentation or a few outlying pixels add.
    x_low: float | None = None
    x_high: float | None = None


@dataclass(slots=True)
class _Pass:
    digests: list[str]
    labels: list[np.ndarray[Any, Any]]
    x_min: float | None = None
    x_max: float | None = None
    batches: int = 0
    exhausted: bool = False
    values: list[np.ndarray[Any, Any]] = field(default_factory=list)

    def percentiles(self) -> tuple[float | None, float | None]:
        if not self.values:
            return None, None
        low, high = np.percentile(np.concatenate(self.values), [0.5, 99.5])
        return float(low), float(high)


def read_split(
    split: str,
    data: Any,
    *,
    input_rank: int | None,
    batch_size: int | None,
    max_samples: int,
    check_repeat: bool,
) -> SplitFacts:
    """Inspect one split given as `(x, y)` arrays, a `tf.data.Dataset` or a `keras.utils.PyDataset`."""
    kind = _data_kind(split, data)
    first = _read_pass(kind, data, input_rank=input_rank, max_samples=max_samples)
    repeat = _Repeat()
    if check_repeat and kind != "arrays":
        repeat = _compare_passes(kind, data, first, input_rank=input_rank, max_samples=max_samples)
    if kind == "arrays":  # labels are cheap to read in full, pixels are only sampled
        labels: np.ndarray[Any, Any] | None = np.asarray(data[1])
        labels_complete = True
    else:
        labels = np.concatenate(first.labels) if first.labels else None
        labels_complete = first.exhausted
    encoding, classes = _label_encoding(labels)
    samples, steps = _size(kind, data, first, batch_size)
    counts: Counter[int] = Counter()
    if labels is not None and encoding == "integer":
        counts.update(int(v) for v in labels.reshape(-1))
    elif labels is not None and encoding == "one-hot":
        counts.update(int(v) for v in labels.argmax(axis=-1))
    names, paths = _class_names(data), _file_paths(data)
    if not labels_complete and names and paths is not None and encoding in ("integer", "one-hot"):
        # image_dataset_from_directory: every file's class is its class folder, and its label that folder's index.
        folders = class_folders(paths, names)
        if folders is not None:
            counts = Counter(names.index(name) for name in folders)
            labels_complete = True
    return SplitFacts(
        split=split,
        kind=kind,
        samples=samples,
        steps=steps,
        inspected=len(first.digests),
        x_min=first.x_min,
        x_max=first.x_max,
        encoding=encoding,
        classes=classes,
        class_counts=tuple(sorted(counts.items())),
        class_names=names,
        labels_complete=labels_complete,
        repeatable=repeat.same,
        reordered_only=repeat.reordered,
        repeat_unsure=repeat.unsure,
        reference=repeat.reference,
        digests=frozenset(first.digests),
        x_low=first.percentiles()[0],
        x_high=first.percentiles()[1],
        file_paths=paths,
    )


@dataclass(frozen=True, slots=True)
class _Repeat:
    same: bool | None = None
    reordered: bool = False
    unsure: bool = False
    reference: int = 0


def _compare_passes(kind: DataKind, data: Any, first: _Pass, *, input_rank: int | None, max_samples: int) -> _Repeat:
    """Whether a second pass yields the first pass's images: in the same order, reordered, or changed.

    Only a prefix of each pass is read, so "same images in another order" is told from "changed images"
    by looking every image of the second pass up among the images of other passes: first among those of
    the first pass; then, when labels show the order did not change (the same label sequence), a
    mismatch is augmentation in place; otherwise a third pass is read, stopping once every image of the
    second is found, at its end (then any image not found is new: augmentation), or after a window of
    `_REFERENCE_FACTOR * max_samples` samples (then the answer is unsure).
    """
    second = _read_pass(kind, data, input_rank=input_rank, max_samples=max_samples, sequence_batches=1)
    n = len(second.digests) if kind == "sequence" else min(len(first.digests), len(second.digests))
    if first.digests[:n] == second.digests[:n]:
        return _Repeat(same=True)
    seen = Counter(first.digests)
    wanted = [d for d in second.digests[:n] if d not in seen]
    if not wanted:
        return _Repeat(same=False, reordered=True, reference=len(first.digests))
    if kind == "sequence" or (first.exhausted and second.exhausted) or _same_label_order(first, second, n):
        # A batch index of a PyDataset, a whole split, or an unchanged label order: nothing else to find.
        return _Repeat(same=False, reference=len(first.digests))
    missing = set(wanted)
    limit = _REFERENCE_FACTOR * max_samples
    read, exhausted = 0, True
    for x, _ in _batches(kind, data, input_rank=input_rank, limit=None):
        for row in x.reshape(len(x), -1):
            missing.discard(_digest(row))
        read += len(x)
        if not missing or read >= limit:
            exhausted = False
            break
    if not missing:
        return _Repeat(same=False, reordered=True, reference=read)
    return _Repeat(same=False, unsure=not exhausted, reference=read)


_REFERENCE_FACTOR = 16  # a third pass reads at most this many times the samples of the first two


def _same_label_order(first: _Pass, second: _Pass, n: int) -> bool:
    """The two passes yield the same labels in the same order, and the labels are varied enough (more
    than one class among the samples compared) for that to mean the order did not change."""
    if not first.labels or not second.labels:
        return False
    a, b = np.concatenate(first.labels)[:n], np.concatenate(second.labels)[:n]
    if a.shape != b.shape or len(a) < 8:
        return False
    flat = a.reshape(len(a), -1)
    return bool(np.array_equal(a, b)) and len(np.unique(flat, axis=0)) > 1


def _digest(row: np.ndarray[Any, Any]) -> str:
    return hashlib.sha1(row.tobytes(), usedforsecurity=False).hexdigest()


def class_folders(paths: Sequence[str], names: Sequence[str]) -> list[str] | None:
    """The class folder of each of image_dataset_from_directory's `file_paths` (`<directory>/<class>/...`,
    where deeper folders keep their class), or None where no level below a shared folder names a class
    for every file."""
    parts = [os.path.normpath(os.path.dirname(path)).split(os.sep) for path in paths]
    if not parts:
        return None
    shared = 0
    while all(len(p) > shared and p[shared] == parts[0][shared] for p in parts):
        shared += 1
    known = set(names)
    for level in range(min(shared, min(len(p) for p in parts) - 1), -1, -1):
        if all(p[level] in known for p in parts):
            return [p[level] for p in parts]
    return None


def _data_kind(split: str, data: Any) -> DataKind:
    if isinstance(data, tf.data.Dataset):
        return "dataset"
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return "arrays"
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return "sequence"
    raise UsageError(
        f"{split}: expected (x, y) arrays, a tf.data.Dataset or a keras.utils.PyDataset, got {type(data).__name__}"
    )


def _read_pass(
    kind: DataKind, data: Any, *, input_rank: int | None, max_samples: int, sequence_batches: int | None = None
) -> _Pass:
    out = _Pass([], [])
    for x, y in _batches(kind, data, input_rank=input_rank, limit=sequence_batches):
        out.batches += 1
        flat = x.reshape(len(x), -1)
        out.digests.extend(_digest(row) for row in flat)
        if x.size:
            lo, hi = float(x.min()), float(x.max())
            out.x_min = lo if out.x_min is None else min(out.x_min, lo)
            out.x_max = hi if out.x_max is None else max(out.x_max, hi)
            values = x.reshape(-1)
            out.values.append(values[:: max(1, values.size // _VALUES_PER_BATCH)].astype(np.float64))
        if y is not None:
            out.labels.append(y)
        if len(out.digests) >= max_samples:
            return out
    out.exhausted = kind != "sequence" or sequence_batches is None
    return out


def _batches(
    kind: DataKind, data: Any, *, input_rank: int | None, limit: int | None
) -> Iterator[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]]:
    if kind == "arrays":
        x, y = np.asarray(data[0]), np.asarray(data[1])
        for start in range(0, len(x), 256):
            yield x[start : start + 256], y[start : start + 256]
        return
    if kind == "sequence":
        count = len(data) if limit is None else min(limit, len(data))
        for i in range(count):
            yield _unpack(data[i], input_rank=None)
        return
    for element in data:
        yield _unpack(element, input_rank=input_rank)


def _unpack(element: Any, *, input_rank: int | None) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    if isinstance(element, (tuple, list)) and len(element) >= 2:
        x, y = np.asarray(element[0]), np.asarray(element[1])
    else:
        x, y = np.asarray(element), None
    if input_rank is not None and x.ndim == input_rank - 1:
        # An unbatched dataset: one sample per element.
        x = x[None, ...]
        y = None if y is None else y[None, ...]
    return x, y


def _label_encoding(labels: np.ndarray[Any, Any] | None) -> tuple[Encoding, int | None]:
    if labels is None or labels.size == 0:
        return "none", None
    if labels.dtype.kind in "US" or (
        labels.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in labels.reshape(-1)[:1000])
    ):
        return "string", None  # class names (tf.string tensors arrive as bytes)
    try:
        values = labels.astype(np.float64)
    except (TypeError, ValueError):
        return "other", None
    if labels.ndim == 1 or (labels.ndim == 2 and labels.shape[1] == 1):
        if np.all(values >= 0) and np.all(values == np.round(values)):
            return "integer", int(values.max()) + 1
        return "other", None
    if labels.ndim == 2:
        width = int(labels.shape[1])
        if np.all(values >= 0) and np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
            return "one-hot", width
        if np.all((values == 0) | (values == 1)):
            return "multi-hot", width
    return "other", None


def _size(kind: DataKind, data: Any, first: _Pass, batch_size: int | None) -> tuple[int | None, int | None]:
    if kind == "arrays":
        n = len(data[0])
        return n, math.ceil(n / (batch_size or KERAS_DEFAULT_BATCH))
    if kind == "sequence":
        per_batch = len(first.digests) // max(first.batches, 1)
        return (len(data) * per_batch if per_batch else None), len(data)
    paths: Sequence[str] | None = getattr(data, "file_paths", None)
    if first.exhausted:
        return len(first.digests), first.batches
    cardinality = int(data.cardinality())
    steps = cardinality if cardinality >= 0 else None
    return (len(paths) if paths is not None else None), steps


def _class_names(data: Any) -> tuple[str, ...] | None:
    names = getattr(data, "class_names", None)
    if names is not None:
        return tuple(str(n) for n in names)
    indices = getattr(data, "class_indices", None)  # Keras 2's DirectoryIterator
    if isinstance(indices, dict):
        return tuple(str(name) for name, _ in sorted(indices.items(), key=lambda kv: kv[1]))
    return None


def _file_paths(data: Any) -> tuple[str, ...] | None:
    """The files a dataset reads (image_dataset_from_directory sets `file_paths`), normalised."""
    paths = getattr(data, "file_paths", None)
    if paths is None or isinstance(data, (tuple, list)):
        return None
    try:
        return tuple(os.path.normpath(os.path.abspath(str(p))) for p in paths)
    except TypeError:
        return None
