"""The bundled trainer: audit the folder first and refuse leaking splits, then transfer learning.

Transfer learning as practitioners do it: a keras.applications backbone with its own `preprocess_input`,
frozen, under a small head (global average pooling, dropout, softmax); optionally the backbone's last
block fine-tuned afterwards at a lower learning rate with its BatchNorm layers kept frozen. Categorical
cross-entropy on one-hot labels, random augmentation on the training data only, early stopping on the
validation loss and a checkpoint of the best model. `train` writes its run folder itself (it is the
one library function that writes files, because the folder is its result).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from leakcheck._version import __version__
from leakcheck.csvtext import CsvText
from leakcheck.errors import InputError, LayoutError, RefusedError, UsageError
from leakcheck.fixing import partition
from leakcheck.index import Relation
from leakcheck.keras.backbones import TRAINABLE_BACKBONES, BackbonePreprocessing, TrainableBackbone
from leakcheck.keras.checks import PREFLIGHT_CHECKS
from leakcheck.keras.evaluation import CleanEvaluation, leaked_keys, score_split
from leakcheck.keras.figures import confusion_matrix_png, learning_curves_png
from leakcheck.keras.preflight import preflight
from leakcheck.report import Report
from leakcheck.scanning import scan
from leakcheck.sources.folder import list_folder
from leakcheck.splits import TRAIN
from leakcheck.train_setup import broken_weights, check_before_training

MODEL_FILE = "model.keras"
OUTPUT_FILES = (
    MODEL_FILE,
    "history.csv",
    "learning_curves.png",
    "confusion_matrix.png",
    "per_class.csv",
    "per_class.json",
    "scan.json",
    "summary.json",
)
_HISTORY_COLUMNS = ("epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
SUMMARY_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainOptions:
    """How to train. `weights` is "imagenet" (from the local Keras cache only), "none", or a weights file."""

    backbone: str = "resnet50"
    weights: str = "imagenet"
    image_size: int = 224
    alpha: float = 1.0
    batch_size: int = 32
    epochs: int = 10
    fine_tune_epochs: int = 0
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-5
    dropout: float = 0.2
    patience: int = 3
    augment: bool = True
    validation_fraction: float = 0.2
    seed: int = 0
    allow_leakage: bool = False

    def __post_init__(self) -> None:
        if self.backbone not in TRAINABLE_BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; expected one of {', '.join(TRAINABLE_BACKBONES)}")
        for name in ("image_size", "batch_size", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 (the backbones' smallest input), got {self.image_size}")
        if self.fine_tune_epochs < 0:
            raise ValueError(f"fine_tune_epochs must be 0 or more, got {self.fine_tune_epochs}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.learning_rate <= 0 or self.fine_tune_learning_rate <= 0 or self.alpha <= 0:
            raise ValueError("learning rates and alpha must be positive")


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a run produced: its folder, the summary written there, and the reports behind it."""

    out: Path
    summary: Mapping[str, Any]
    scan: Report
    preflight: Report
    evaluations: Mapping[str, CleanEvaluation] = field(default_factory=dict)
    # Report keys of the validation images held out of train/ (empty when DATA has a val/ folder).
    held_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", MappingProxyType(dict(self.summary)))
        object.__setattr__(self, "evaluations", MappingProxyType(dict(self.evaluations)))


def train(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    options: TrainOptions | None = None,
    jobs: int | None = None,
    verbose: int = 0,
    log: Callable[[str], None] | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Scan `data`, refuse leaking splits, run preflight, train, and write the run folder `out`
    (`cache`, `cache_dir`: the scan's fingerprint cache, as for `scan`).

    Raises:
        RefusedError: the splits leak (and `allow_leakage` is off) or preflight found errors; nothing written.
        UsageError: `out` exists and is not empty, lies inside `data` (or holds it), or an option is invalid.
        DataNotFoundError, LayoutError: `data` is missing or not a <split>/<class>/<image> folder.
        InputError: ImageNet weights are not in the local Keras cache, a weights file is missing,
            or val/test lack a class folder that train has.
    """
    options = options or TrainOptions()
    say = log or (lambda _message: None)
    root, out_dir = Path(data), Path(out)
    backbone = TRAINABLE_BACKBONES[options.backbone]
    weights = check_before_training(
        root, out_dir, backbone=options.backbone, weights=options.weights, image_size=options.image_size,
        alpha=options.alpha,
    )  # fmt: skip

    say(f"scanning {root} for leaks")
    report = scan(root, jobs=jobs, cache=cache, cache_dir=cache_dir)
    if report.leaking and not options.allow_leakage:
        raise RefusedError(
            "training refused: the splits leak (images of val/test also appear in train)",
            hint="remove the copies (leakcheck scan DATA --pairs F lists them), or pass --allow-leakage to train "
            "anyway and see the leak-adjusted test score",
            report=report,
        )
    split_dirs = {split: root / name for split, name in list_folder(root).split_dirs.items()}
    if TRAIN not in split_dirs:
        raise LayoutError(f"{root}: no train/ folder", hint="the trainer needs DATA/train/<class>/<image>")
    class_names = _class_folders(split_dirs[TRAIN])
    for split in ("val", "test"):
        if split in split_dirs:
            missing = sorted(set(class_names) - set(_class_folders(split_dirs[split])))
            if missing:
                raise InputError(
                    f"{split_dirs[split]}: no folder for class{'es' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} that train/ has",
                    hint=f"add the class to {split}/ (even a few images) or remove it from train/",
                )

    keras.utils.set_random_seed(options.seed)
    datasets = _datasets(split_dirs, class_names, options, root, report)
    model, base = _build_model(backbone, weights, len(class_names), options)
    say("preflight: checking the model against its data")
    # With --allow-leakage the scan has already said which images repeat across splits.
    checks = tuple(c for c in PREFLIGHT_CHECKS if not (options.allow_leakage and c.id == "keras-split-overlap"))
    checked = preflight(
        model, datasets["train"], datasets.get("val"), datasets.get("test"), epochs=options.epochs, checks=checks
    )
    if checked.counts()["error"]:
        raise RefusedError("training refused: preflight found errors", report=checked)
    for finding in checked.findings:
        say(f"preflight {finding.severity}: {finding.message} ({finding.hint})")

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    train_pipeline = _augmented(datasets["train"], options)
    say(f"training the head on a frozen {backbone.constructor} ({options.epochs} epochs at most)")
    history = _fit(
        model, train_pipeline, datasets["val"], options.epochs, 0, options, model_path, "head", None, verbose
    )
    fine_tune_from: int | None = None
    if options.fine_tune_epochs:
        fine_tune_from = len(history) + 1
        best = min((row["val_loss"] for row in history if row["val_loss"] is not None), default=None)
        _unfreeze_last_block(base, backbone)
        _compile(model, options.fine_tune_learning_rate)
        say(f"fine-tuning the last block of {backbone.constructor} ({options.fine_tune_epochs} epochs at most)")
        history += _fit(
            model, train_pipeline, datasets["val"], options.fine_tune_epochs, len(history), options, model_path,
            "fine-tune", best, verbose,
        )  # fmt: skip

    say("evaluating the best checkpoint")
    best_model = keras.models.load_model(model_path)
    evaluations: dict[str, CleanEvaluation] = {}
    predictions: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
    for split in ("val", "test"):
        if split not in datasets:
            continue
        keys, labels = _keys_and_labels(datasets[split], class_names, root)
        probs = np.asarray(best_model.predict(datasets[split], verbose=0))
        predictions[split] = (labels, probs.argmax(axis=-1))
        if split in split_dirs:  # a carved-out validation subset has no split of its own in the scan
            evaluations[split] = score_split(probs, labels, keys, leaked_keys(report, split), split=split)
    shown = "test" if "test" in predictions else "val"
    labels, predicted = predictions[shown]
    matrix = _confusion(labels, predicted, len(class_names))
    per_class = _per_class(matrix, class_names)

    files: dict[str, bytes] = {
        "history.csv": _history_csv(history).encode("utf-8"),
        "learning_curves.png": learning_curves_png(history, fine_tune_from=fine_tune_from),
        "confusion_matrix.png": confusion_matrix_png(matrix, class_names, title=f"{shown} split, best checkpoint"),
        "per_class.csv": _per_class_csv(per_class).encode("utf-8"),
        "per_class.json": (json.dumps({"split": shown, "classes": per_class}, indent=2) + "\n").encode("utf-8"),
        "scan.json": report.to_json().encode("utf-8"),
    }
    summary = _summary(
        report, checked, options, weights, backbone, class_names, datasets, history, evaluations, shown, matrix
    )
    files["summary.json"] = (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    for name, payload in files.items():
        (out_dir / name).write_bytes(payload)
    held_out: tuple[str, ...] = ()
    if "val" not in split_dirs:
        held_out = tuple(sorted(_keys_and_labels(datasets["val"], class_names, root)[0]))
    return TrainResult(out_dir, summary, report, checked, evaluations, held_out)


def _class_folders(split_dir: Path) -> list[str]:
    """Class names as image_dataset_from_directory infers them: non-hidden sub-folders, sorted."""
    return sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir() and not entry.name.startswith("."))


def _datasets(
    split_dirs: Mapping[str, Path], class_names: list[str], options: TrainOptions, root: Path, report: Report
) -> dict[str, Any]:
    common: dict[str, Any] = {
        "labels": "inferred",
        "label_mode": "categorical",
        "class_names": class_names,
        "image_size": (options.image_size, options.image_size),
        "batch_size": options.batch_size,
        "seed": options.seed,
        "verbose": False,
    }
    load = keras.utils.image_dataset_from_directory
    out: dict[str, Any] = {}
    if "val" in split_dirs:
        out["train"] = load(split_dirs[TRAIN], shuffle=True, **common)
        out["val"] = load(split_dirs["val"], shuffle=False, **common)
    else:
        # The files Keras would read, in a fixed order; the hold-out is cut from them by duplicate sets.
        listed = [Path(p) for p in load(split_dirs[TRAIN], shuffle=False, **common).file_paths]
        keys = [p.relative_to(root).as_posix() for p in listed]
        val_rows = set(_hold_out(keys, report.relations, options.validation_fraction, options.seed))
        labels = [class_names.index(p.relative_to(split_dirs[TRAIN]).parts[0]) for p in listed]
        rows = {
            "train": [i for i in range(len(listed)) if i not in val_rows],
            "val": sorted(val_rows),
        }
        for split, chosen in rows.items():
            out[split] = _from_paths(
                [str(listed[i]) for i in chosen], [labels[i] for i in chosen], class_names, options,
                shuffle=split == "train",
            )  # fmt: skip
    if "test" in split_dirs:
        out["test"] = load(split_dirs["test"], shuffle=False, **common)
    return out


def _hold_out(keys: Sequence[str], relations: Sequence[Relation], fraction: float, seed: int) -> list[int]:
    """Indices of `keys` to hold out for validation: about `fraction` of them, drawn as whole duplicate sets.

    Images the scan relates (exact copies and near duplicates, chained) form one set, and a set goes to one
    side of the cut only, so no validation image has a copy in what the model trains on.
    """
    position = {key: i for i, key in enumerate(keys)}
    pairs = [
        (r.a, r.b)
        for r in relations
        # ("similar": semantically alike, not a copy.)
        if r.kind != "similar" and r.a in position and r.b in position
    ]
    groups = sorted(sorted(position[k] for k in members) for members in partition(keys, pairs).values())
    target = max(1, int(fraction * len(keys)))
    held: list[int] = []
    for g in np.random.default_rng(seed).permutation(len(groups)).tolist():
        if len(held) + len(groups[g]) <= target:
            held.extend(groups[g])
        if len(held) == target:
            break
    if not held or len(held) == len(keys):
        raise InputError(
            f"cannot hold out {fraction:.0%} of {len(keys)} train images for validation without splitting a set "
            "of duplicates across the cut",
            hint="add a val/ folder, or remove the copies inside train/ (leakcheck scan DATA --pairs F lists them)",
        )
    return sorted(held)


def _from_paths(
    paths: Sequence[str], labels: Sequence[int], class_names: Sequence[str], options: TrainOptions, *, shuffle: bool
) -> tf.data.Dataset:
    """Images loaded as image_dataset_from_directory loads them (decoded to RGB, bilinear resize, float32),
    one-hot labels, batched; `file_paths` and `class_names` attached as Keras does."""
    size = (options.image_size, options.image_size)

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.image.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, size, method="bilinear")
        image.set_shape((*size, 3))
        return image, tf.one_hot(label, len(class_names))

    ds = tf.data.Dataset.from_tensor_slices((list(paths), np.asarray(labels, dtype=np.int64)))
    if shuffle:
        ds = ds.shuffle(max(len(paths), 1), seed=options.seed, reshuffle_each_iteration=True)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(options.batch_size)
    ds.file_paths = list(paths)
    ds.class_names = list(class_names)
    return ds


def _augmented(ds: tf.data.Dataset, options: TrainOptions) -> tf.data.Dataset:
    """Random flips, rotations and zooms on the training pipeline only; validation and test stay untouched."""
    if not options.augment:
        return ds.prefetch(tf.data.AUTOTUNE)
    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=options.seed),
            keras.layers.RandomRotation(0.1, seed=options.seed),
            keras.layers.RandomZoom(0.1, seed=options.seed),
        ],
        name="augmentation",
    )
    return ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def _build_model(
    backbone: TrainableBackbone, weights: str | None, classes: int, options: TrainOptions
) -> tuple[keras.Model, keras.Model]:
    try:
        base = backbone.build(image_size=options.image_size, weights=weights, alpha=options.alpha)
    except OSError as exc:  # h5py: a truncated or damaged file
        if weights is None:
            raise
        raise broken_weights(weights, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    except ValueError as exc:
        raise UsageError(f"cannot build {backbone.constructor}: {exc}") from None
    base.trainable = False
    inputs = keras.Input((options.image_size, options.image_size, 3), name="image")
    x = BackbonePreprocessing(backbone.name, name="preprocess_input")(inputs)
    # training=False keeps the backbone's BatchNorm layers in inference mode, also once fine-tuning unfreezes it.
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(options.dropout, name="dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="classifier")(x)
    model = keras.Model(inputs, outputs, name=f"{backbone.name}_transfer")
    _compile(model, options.learning_rate)
    return model, base


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def _unfreeze_last_block(base: keras.Model, backbone: TrainableBackbone) -> None:
    base.trainable = True
    for layer in base.layers:
        layer.trainable = backbone.in_last_block(layer.name) and not isinstance(layer, keras.layers.BatchNormalization)


def _fit(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    epochs: int,
    initial_epoch: int,
    options: TrainOptions,
    model_path: Path,
    stage: str,
    best_so_far: float | None,
    verbose: int,
) -> list[dict[str, Any]]:
    checkpoint_kwargs: dict[str, Any] = {}
    if best_so_far is not None:
        checkpoint_kwargs["initial_value_threshold"] = best_so_far
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=options.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(model_path, monitor="val_loss", save_best_only=True, **checkpoint_kwargs),
    ]
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        shuffle=False,  # the training dataset shuffles itself
        callbacks=callbacks,
        verbose=verbose,
    )
    learning_rate = float(f"{float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)):.6g}")
    rows: list[dict[str, Any]] = []
    for i, epoch in enumerate(history.epoch):
        row: dict[str, Any] = {"epoch": epoch + 1, "stage": stage, "learning_rate": learning_rate}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            values = history.history.get(key)
            row[key] = round(float(values[i]), 6) if values is not None else None
        rows.append(row)
    return rows


def _keys_and_labels(ds: Any, class_names: Sequence[str], root: Path) -> tuple[list[str], np.ndarray[Any, Any]]:
    """Report keys and label indices of an unshuffled dataset, in the order it yields its images."""
    index = {name: i for i, name in enumerate(class_names)}
    # root/<split folder>/<class>/.../<file>, as the scan keys them: deeper folders keep their class.
    keys = [Path(p).relative_to(root).as_posix() for p in ds.file_paths]
    return keys, np.array([index[key.split("/")[1]] for key in keys], dtype=np.int64)


def _confusion(labels: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any], classes: int) -> np.ndarray[Any, Any]:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def _per_class(matrix: np.ndarray[Any, Any], class_names: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(class_names):
        tp = int(matrix[i, i])
        support, predicted = int(matrix[i].sum()), int(matrix[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {"class": name, "precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
             "support": support}
        )  # fmt: skip
    return rows


def _per_class_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = ["class", "precision", "recall", "f1", "support"]
    out = CsvText()
    out.row(columns)
    for row in rows:
        out.row(row.get(c, "") for c in columns)
    return out.text()


def _history_csv(history: Sequence[Mapping[str, Any]]) -> str:
    out = CsvText()
    out.row(_HISTORY_COLUMNS)
    for row in history:
        out.row(["" if row.get(c) is None else row[c] for c in _HISTORY_COLUMNS])
    return out.text()


def _summary(
    report: Report,
    checked: Report,
    options: TrainOptions,
    weights: str | None,
    backbone: TrainableBackbone,
    class_names: Sequence[str],
    datasets: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    evaluations: Mapping[str, CleanEvaluation],
    shown: str,
    matrix: np.ndarray[Any, Any],
) -> dict[str, Any]:
    """The run's JSON summary: deterministic (no timestamps, no absolute paths)."""
    scored = [row for row in history if row["val_loss"] is not None]
    best = min(scored, key=lambda row: row["val_loss"]) if scored else None
    opts = asdict(options)
    opts["weights"] = "none" if weights is None else ("imagenet" if options.weights.lower() == "imagenet" else
                                                      f"file:{Path(weights).name}")  # fmt: skip
    correct = int(np.trace(matrix))
    total = int(matrix.sum())
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "tool": {"name": "leakcheck", "version": __version__, "keras": keras.__version__},
        "data": report.root,
        "backbone": backbone.constructor,
        "options": opts,
        "classes": list(class_names),
        "images": {split: len(ds.file_paths) for split, ds in datasets.items()},
        "scan": {
            "verdict": report.to_dict()["verdict"],
            "headline": [line.message for line in report.headline()],
            "findings": report.counts(),
        },
        "preflight": [f.to_dict() for f in checked.findings],
        "epochs_run": len(history),
        "best_epoch": None if best is None else best["epoch"],
        "best_val_loss": None if best is None else best["val_loss"],
        "evaluation": {split: e.to_dict() for split, e in evaluations.items()},
        "confusion_matrix": {
            "split": shown,
            "accuracy": round(correct / total, 6) if total else None,
            "matrix": matrix.tolist(),
        },
        "files": list(OUTPUT_FILES),
    }
