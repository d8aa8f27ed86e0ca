"""`preflight`: check a compiled model and its data before `fit`; `check_batchnorm`: check a model after it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

from leakcheck._version import __version__
from leakcheck.errors import UsageError
from leakcheck.keras.architecture import ModelFacts
from leakcheck.keras.checks import PREFLIGHT_CHECKS, PreflightCheck, Subject
from leakcheck.keras.inputs import SplitFacts, read_split
from leakcheck.model import Finding, Severity
from leakcheck.report import Report


def preflight(
    model: keras.Model,
    train: Any,
    val: Any = None,
    test: Any = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    checks: Sequence[PreflightCheck] = PREFLIGHT_CHECKS,
    max_samples: int = 256,
) -> Report:
    """Check a compiled model against its data before training; returns a Report of findings.

    Each split is `(x, y)` arrays, a `tf.data.Dataset` (batched, yielding `(x, y)`) or a
    `keras.utils.PyDataset`. At most `max_samples` samples per split are read (val and test twice,
    to see whether the pipeline is repeatable). `epochs` and `batch_size` (for arrays; Keras's default
    is 32) or `steps_per_epoch` give the planned number of training steps for the BatchNorm check, which
    is skipped without `epochs`.
    """
    if epochs is not None and epochs < 1:
        raise UsageError(f"epochs must be at least 1, got {epochs}")
    if max_samples < 1:
        raise UsageError(f"max_samples must be at least 1, got {max_samples}")
    facts = ModelFacts.of(model)
    input_rank = len(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    splits: list[SplitFacts] = []
    for name, data in (("train", train), ("val", val), ("test", test)):
        if data is None:
            continue
        splits.append(
            read_split(
                name,
                data,
                input_rank=input_rank,
                batch_size=batch_size,
                max_samples=max_samples,
                check_repeat=name != "train",
            )
        )
    subject = Subject(facts, tuple(splits), epochs, steps_per_epoch)
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check.run(subject))
    return _report(
        model.name,
        findings,
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "steps_per_epoch": steps_per_epoch,
            "checks": {c.id: dict(c.params()) for c in checks},
        },
    )


def check_batchnorm(
    model: keras.Model,
    x: Any,
    *,
    batch_size: int = 32,
    max_disagreement: float = 0.1,
) -> Report:
    """After a fit: compare the model's predictions in training mode (batch statistics) and inference mode.

    Dropout and noise layers are switched off for the comparison and every non-trainable variable
    (BatchNorm moving statistics among them) is restored afterwards, so the model is left as it was.
    A finding is raised when the predicted class differs on more than `max_disagreement` of `x`.
    """
    if not 0 <= max_disagreement < 1:
        raise UsageError(f"max_disagreement must be in [0, 1), got {max_disagreement}")
    x = np.asarray(x)
    if len(x) == 0:
        raise UsageError("check_batchnorm needs at least one input image")
    with _deterministic_training_mode(model):
        trained = _predict(model, x, batch_size=batch_size, training=True)
        again = _predict(model, x, batch_size=batch_size, training=True)
    inferred = _predict(model, x, batch_size=batch_size, training=False)
    noise = float(np.mean(_classes(trained) != _classes(again)))
    differ = int(np.sum(_classes(trained) != _classes(inferred)))
    fraction = differ / len(x)
    distinct = len(set(_classes(inferred).tolist()))
    has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in _all_layers(model))
    findings: list[Finding] = []
    if fraction - noise > max_disagreement:
        cause = (
            "the BatchNorm moving statistics have not converged to the data's statistics"
            if has_bn
            else "layers behave differently in training and inference mode"
        )
        findings.append(
            Finding(
                "keras-batchnorm-modes",
                Severity.ERROR,
                f"predictions in inference mode (predict, evaluate) differ from training mode (fit) on {differ} "
                f"of {len(x)} images ({fraction:.0%}); inference predicts {distinct} distinct "
                f"class{'es' if distinct != 1 else ''}: {cause}",
                metrics={
                    "images": len(x),
                    "disagree": differ,
                    "fraction": round(fraction, 6),
                    "noise": round(noise, 6),
                    "mean_abs_difference": round(float(np.mean(np.abs(trained - inferred))), 6),
                    "inference_classes": distinct,
                },
                hint="train for more steps or with a lower BatchNorm momentum, freeze BatchNorm layers of a "
                "pretrained backbone (trainable=False), or use a batch size and data set large enough",
            )
        )
    return _report(
        model.name, findings, {"max_disagreement": max_disagreement, "batch_size": batch_size, "images": len(x)}
    )


def _report(name: str, findings: Sequence[Finding], parameters: dict[str, Any]) -> Report:
    return Report(
        root=name,
        findings=tuple(findings),
        splits=(),
        relations=(),
        skipped=(),
        parameters=parameters,
        version=__version__,
    )


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer)


def _classes(pred: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if pred.ndim >= 2 and pred.shape[-1] > 1:
        return np.asarray(pred.argmax(axis=-1))
    return np.asarray(pred.reshape(len(pred), -1)[:, 0] > 0.5)


def _predict(model: keras.Model, x: np.ndarray[Any, Any], *, batch_size: int, training: bool) -> np.ndarray[Any, Any]:
    parts = [
        keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=training))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


@contextmanager
def _deterministic_training_mode(model: keras.Model) -> Iterator[None]:
    """Training mode without dropout or noise, and without lasting updates to moving statistics."""
    saved = [(v, keras.ops.convert_to_numpy(v)) for v in model.non_trainable_variables]
    silenced: list[tuple[Any, str, Any]] = []
    for layer in _all_layers(model):
        for attr in ("rate", "stddev"):
            if type(layer).__name__ in _NOISE_LAYERS and hasattr(layer, attr):
                silenced.append((layer, attr, getattr(layer, attr)))
                setattr(layer, attr, 0.0)
    try:
        yield
    finally:
        for layer, attr, value in silenced:
            setattr(layer, attr, value)
        for variable, value in saved:
            variable.assign(value)


_NOISE_LAYERS = frozenset(
    {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout", "GaussianDropout",
     "GaussianNoise"}
)  # fmt: skip
