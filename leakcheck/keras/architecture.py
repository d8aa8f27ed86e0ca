"""What preflight needs to know about a Keras model, read once into a frozen value."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import keras
import numpy as np

from leakcheck.keras.backbones import BackboneKind, BackbonePreprocessing, identify

LossKind = Literal["binary", "categorical", "sparse", "auto", "other", "none"]

_LOSS_KINDS: dict[str, LossKind] = {
    "binary_crossentropy": "binary",
    "bce": "binary",
    "binarycrossentropy": "binary",
    "binary_focal_crossentropy": "binary",
    "binaryfocalcrossentropy": "binary",
    "categorical_crossentropy": "categorical",
    "cce": "categorical",
    "categoricalcrossentropy": "categorical",
    "categorical_focal_crossentropy": "categorical",
    "categoricalfocalcrossentropy": "categorical",
    "sparse_categorical_crossentropy": "sparse",
    "sparsecategoricalcrossentropy": "sparse",
    "crossentropy": "auto",
    "ce": "auto",
}
_BINARY_ACCURACY = {"binary_accuracy", "binaryaccuracy"}
_AUTO_ACCURACY = {"accuracy", "acc"}
# Layers that change pixel values the way a preprocessing step does, so the check can stop there.
_NORMALISING = ("Normalization", "Lambda", "BackbonePreprocessing")


@dataclass(frozen=True, slots=True)
class LossSpec:
    """The compiled loss: its name, the family it belongs to, and whether it takes logits."""

    name: str
    kind: LossKind
    from_logits: bool


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One compiled metric: the name the user gave and, once Keras has built it, the class it resolved to."""

    name: str
    resolved: str | None

    def is_binary_accuracy(self, *, output_units: int | None) -> bool:
        """True when this metric is (or will resolve to) BinaryAccuracy.

        Keras 3 resolves "accuracy" from shapes alone: BinaryAccuracy when the output has one unit.
        """
        if self.resolved is not None:
            return self.resolved == "BinaryAccuracy"
        folded = self.name.lower()
        return folded in _BINARY_ACCURACY or (folded in _AUTO_ACCURACY and output_units == 1)


@dataclass(frozen=True, slots=True)
class InputPath:
    """What happens to pixel values between the model's input and its first network layer (or backbone).

    Values become `x * scale + offset`; `rescaling` names the Rescaling layers and `standardising` the
    Normalization layers with fixed mean and variance that make it so (a Normalization's channels are
    averaged into one scale and offset: coarse, but the checks only tell scales apart). `normalised_by`
    names a layer whose effect cannot be reduced to that (a Lambda, the backbone's own preprocessing, an
    inverting Normalization), after which the range is not judged. `unadapted` names Normalization layers
    that were neither given a mean and variance nor adapted: they pass values through unchanged.
    """

    scale: float = 1.0
    offset: float = 0.0
    normalised_by: str | None = None
    rescaling: tuple[str, ...] = ()
    standardising: tuple[str, ...] = ()
    unadapted: tuple[str, ...] = ()

    @property
    def scaled_by(self) -> tuple[str, ...]:
        """Every layer that changed the values on the way, in order."""
        return self.rescaling + self.standardising


@dataclass(frozen=True, slots=True)
class BatchNormSpec:
    name: str
    momentum: float


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """The parts of a model preflight checks: head, loss, metrics, input path, backbone, BatchNorm layers."""

    name: str
    compiled: bool
    output_units: int | None
    final_activation: str | None
    loss: LossSpec
    metrics: tuple[MetricSpec, ...]
    backbone: BackboneKind | None
    input_path: InputPath
    trainable_batchnorm: tuple[BatchNormSpec, ...]
    trainable_params: int

    @classmethod
    def of(cls, model: keras.Model) -> ModelFacts:
        output_units: int | None = None
        outputs = model.outputs if getattr(model, "outputs", None) else []
        if len(outputs) == 1:
            shape = tuple(outputs[0].shape)
            output_units = shape[-1] if shape and isinstance(shape[-1], int) else None
        elif not outputs:  # a Sequential model not built yet: the last layer knows its units
            units = getattr(_last_layer(model), "units", None)
            output_units = units if isinstance(units, int) else None
        compiled = bool(getattr(model, "compiled", False))
        nested_backbone, path = _input_path(model)
        flat_backbone = identify(layer.name for layer in _walk(model))
        return cls(
            name=model.name,
            compiled=compiled,
            output_units=output_units,
            final_activation=_final_activation(model),
            loss=_loss_spec(getattr(model, "loss", None)) if compiled else LossSpec("", "none", False),
            metrics=_metric_specs(model) if compiled else (),
            backbone=nested_backbone or flat_backbone,
            # A backbone built into the model itself (not nested) starts at the model's input.
            input_path=path if nested_backbone or path.normalised_by or flat_backbone is None else InputPath(),
            trainable_batchnorm=tuple(
                BatchNormSpec(layer.name, float(layer.momentum))
                for layer in _walk(model)
                if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
            ),
            trainable_params=sum(math.prod(w.shape) for w in model.trainable_weights),
        )


def _walk(layer: Any) -> Iterator[Any]:
    """Every layer inside `layer`, nested models expanded, in definition order."""
    for child in getattr(layer, "layers", ()):
        yield child
        yield from _walk(child)


def _last_layer(model: Any) -> Any:
    last = model.layers[-1] if getattr(model, "layers", None) else None
    while last is not None and getattr(last, "layers", None):
        last = last.layers[-1]
    return last


def _final_activation(model: Any) -> str | None:
    last = _last_layer(model)
    if last is None:
        return None
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    activation = getattr(last, "activation", None)
    if isinstance(activation, str):
        return activation
    name = getattr(activation, "__name__", None)
    return str(name) if name else None


def _loss_spec(loss: Any) -> LossSpec:
    if loss is None:
        return LossSpec("", "none", False)
    if isinstance(loss, str):
        return LossSpec(loss, _LOSS_KINDS.get(loss.lower(), "other"), False)
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        name = type(loss).__name__
        if name == "LossFunctionWrapper":  # a plain loss function wrapped by Keras: use the function's name
            name = getattr(getattr(loss, "fn", None), "__name__", name)
        return LossSpec(name, _LOSS_KINDS.get(name.lower(), "other"), bool(config.get("from_logits", False)))
    name = getattr(loss, "__name__", type(loss).__name__)
    return LossSpec(name, _LOSS_KINDS.get(name.lower(), "other"), False)


def _metric_specs(model: Any) -> tuple[MetricSpec, ...]:
    given = model.get_compile_config().get("metrics") or []
    if not isinstance(given, list):
        given = [given]
    names = [_metric_name(m) for m in given]
    # After the first fit/evaluate Keras has resolved each identifier to a metric object; trust those.
    compiled = getattr(model, "_compile_metrics", None)
    built = getattr(compiled, "metrics", None) if getattr(compiled, "built", False) else None
    resolved: list[str | None] = [None] * len(names)
    if built is not None and len(built) == len(names):
        resolved = [type(m).__name__ for m in built]
    return tuple(MetricSpec(n, r) for n, r in zip(names, resolved, strict=True))


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, dict):  # a serialised metric object, or a metric function (by its name)
        if metric.get("class_name") == "function" and isinstance(metric.get("config"), str):
            return str(metric["config"])
        return str(metric.get("class_name", ""))
    return str(getattr(metric, "__name__", metric))


def _input_path(model: Any) -> tuple[BackboneKind | None, InputPath]:
    """The backbone nested in `model` (if any) and what the layers before it do to pixel values."""
    scale, offset = 1.0, 0.0
    names: dict[str, list[str]] = {"rescaling": [], "standardising": [], "unadapted": []}

    def path(normalised_by: str | None = None) -> InputPath:
        return InputPath(scale, offset, normalised_by, *(tuple(names[key]) for key in names))

    for layer in _preprocessing_layers(model):
        kind = identify(sub.name for sub in _walk(layer)) if getattr(layer, "layers", None) else None
        if kind is not None:
            return kind, path()
        affine = _affine(layer)
        if affine == "unadapted":
            names["unadapted"].append(layer.name)
        elif affine is not None:
            s, o = affine
            scale, offset = scale * s, offset * s + o
            names["standardising" if isinstance(layer, keras.layers.Normalization) else "rescaling"].append(layer.name)
        elif type(layer).__name__ in _NORMALISING or isinstance(layer, BackbonePreprocessing):
            return None, path(f"{layer.name} ({type(layer).__name__})")
    return None, path()


def _affine(layer: Any) -> tuple[float, float] | Literal["unadapted"] | None:
    """What a Rescaling layer, or a Normalization layer with a fixed mean and variance, does to values
    (`x * scale + offset`, a Normalization's channels averaged); "unadapted" for a Normalization that was
    neither given its statistics nor adapted; None for any other layer."""
    if isinstance(layer, keras.layers.Rescaling):
        return float(layer.scale), float(layer.offset)
    if not isinstance(layer, keras.layers.Normalization) or layer.invert or getattr(layer, "mean", None) is None:
        return None
    mean = np.asarray(layer.mean, dtype=np.float64).ravel()
    variance = np.asarray(layer.variance, dtype=np.float64).ravel()
    if layer.input_mean is None and not mean.any() and (variance == 1).all():
        return "unadapted"  # adapt() was never called: the initial statistics, which change nothing
    if not (np.isfinite(mean).all() and np.isfinite(variance).all() and (variance > 0).all()):
        return None
    s = 1.0 / float(np.sqrt(variance.mean()))
    return s, -float(mean.mean()) * s


def _preprocessing_layers(model: Any) -> Iterator[Any]:
    """Layers from the input up to and including the first one that is not pure preprocessing.

    Nested models are entered unless they are a known backbone (yielded whole, for the caller to see).
    """
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if getattr(layer, "layers", None):
            if identify(sub.name for sub in _walk(layer)) is not None:
                yield layer
                return
            inner = list(_preprocessing_layers(layer))
            yield from inner
            if not inner or not _passes_values(inner[-1]):
                return
            continue
        yield layer
        if not _passes_values(layer):
            return


def _passes_values(layer: Any) -> bool:
    """Layers that keep the value range (augmentation, padding, resizing) or transform it affinely."""
    name = type(layer).__name__
    return (
        _affine(layer) is not None
        or name.startswith("Random")
        or name in ("Resizing", "CenterCrop", "ZeroPadding2D", "Cropping2D", "Identity")
    )
