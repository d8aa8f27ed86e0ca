"""Leak-adjusted evaluation: test metrics on the full split and on the images with no copy in train."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from leakcheck.errors import UsageError
from leakcheck.report import LEAK_CHECK, Report
from leakcheck.splits import TRAIN


@dataclass(frozen=True, slots=True)
class Score:
    """Metrics over one subset of an evaluation split."""

    images: int
    accuracy: float | None
    loss: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "accuracy": self.accuracy, "loss": self.loss}


@dataclass(frozen=True, slots=True)
class CleanEvaluation:
    """The inflated number next to the honest one: all of `split`, and only its images with no copy in train."""

    split: str
    full: Score
    clean: Score
    leaked: tuple[str, ...]

    @property
    def inflation(self) -> float | None:
        """How many accuracy points the leaked images add (full minus clean)."""
        if self.full.accuracy is None or self.clean.accuracy is None:
            return None
        return round(self.full.accuracy - self.clean.accuracy, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "full": self.full.to_dict(),
            "clean": self.clean.to_dict(),
            "leaked": len(self.leaked),
            "inflation": self.inflation,
        }

    def lines(self) -> list[str]:
        """The two numbers side by side, for a terminal."""

        def fmt(score: Score) -> str:
            acc = "n/a" if score.accuracy is None else f"{score.accuracy:.1%}"
            return f"accuracy {acc} on {score.images:,} images"

        return [
            f"{self.split} (all images):         {fmt(self.full)}",
            f"{self.split} (no copy in train):   {fmt(self.clean)}  [{len(self.leaked):,} leaked images left out]",
        ]


def leaked_keys(report: Report, split: str = "test", reference: str = TRAIN) -> frozenset[str]:
    """Keys of `split` images that the scan found (exactly or nearly) in `reference`."""
    return frozenset(
        key
        for f in report.findings
        if f.check == LEAK_CHECK and f.metrics.get("split") == split and f.metrics.get("other") == reference
        for key in f.samples
    )


def evaluate_clean(
    model: keras.Model,
    report: Report,
    test: Any,
    *,
    root: str | Path | None = None,
    keys: Sequence[str] | None = None,
    split: str = "test",
    batch_size: int = 32,
) -> CleanEvaluation:
    """Score `model` on all of `test` and on the part of it with no duplicate in train, side by side.

    `test` is `(x, y)` arrays with `keys` (the report's sample keys, e.g. `test/cat/001.jpg`), or a
    dataset from `keras.utils.image_dataset_from_directory(..., shuffle=False)` with `root` the folder
    that was scanned (its `file_paths` give the keys). Labels may be integer or one-hot.
    """
    if isinstance(test, tf.data.Dataset):
        labels, sample_keys = _dataset_labels_and_keys(test, root)
        probs = np.asarray(model.predict(test, verbose=0))
    else:
        if keys is None:
            raise UsageError("evaluate_clean needs keys= (one report key per image) when test is given as arrays")
        x, y = test[0], np.asarray(test[1])
        labels = y.argmax(axis=-1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(np.int64)
        sample_keys = list(keys)
        probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    if not len(sample_keys) == len(labels) == len(probs):
        raise UsageError(f"{split}: {len(sample_keys)} keys for {len(labels)} labels and {len(probs)} predictions")
    return score_split(probs, labels, sample_keys, leaked_keys(report, split), split=split)


def score_split(
    probs: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    keys: Sequence[str],
    leaked: frozenset[str],
    *,
    split: str,
) -> CleanEvaluation:
    """Full and leak-free scores from predictions already made."""
    mask = np.array([k not in leaked for k in keys], dtype=bool)
    return CleanEvaluation(
        split=split,
        full=_score(probs, labels),
        clean=_score(probs[mask], labels[mask]),
        leaked=tuple(sorted(k for k in keys if k in leaked)),
    )


def _score(probs: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> Score:
    if len(labels) == 0:
        return Score(0, None, None)
    accuracy = float(np.mean(probs.argmax(axis=-1) == labels))
    loss: float | None = None
    if np.all(probs >= 0) and np.allclose(probs.sum(axis=-1), 1.0, atol=1e-3):
        picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
        loss = float(-np.mean(np.log(picked)))
    return Score(len(labels), round(accuracy, 6), None if loss is None else round(loss, 6))


def _dataset_labels_and_keys(ds: Any, root: str | Path | None) -> tuple[np.ndarray[Any, Any], list[str]]:
    paths: Sequence[str] | None = getattr(ds, "file_paths", None)
    names: Sequence[str] | None = getattr(ds, "class_names", None)
    if paths is None or names is None or root is None:
        raise UsageError(
            "evaluate_clean needs a dataset from image_dataset_from_directory (with file_paths and class_names) "
            "and root= the scanned folder"
        )
    try:
        keys = [_relative_key(Path(p), Path(root)) for p in paths]
    except ValueError:
        raise UsageError(
            f"the dataset's files are not under {root}", hint="pass root= the folder you scanned"
        ) from None
    labels = np.concatenate([_as_indices(np.asarray(y)) for _, y in ds]) if len(paths) else np.zeros(0, np.int64)
    index = {name: i for i, name in enumerate(names)}
    expected = np.array([index.get(Path(p).parent.name, -1) for p in paths])
    if not np.array_equal(labels, expected):
        raise UsageError(
            "the dataset does not yield its images in file_paths order",
            hint="build it with image_dataset_from_directory(..., shuffle=False)",
        )
    return labels, keys


def _relative_key(path: Path, root: Path) -> str:
    """The scan's key for `path`: relative to `root` as given, else to both resolved (links, `..`)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.resolve().relative_to(root.resolve()).as_posix()


def _as_indices(y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return y.argmax(axis=-1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(np.int64)
