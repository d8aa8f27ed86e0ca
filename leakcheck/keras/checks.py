"""Preflight checks: pure functions of what was read from the model and its data, each a small class.

Every finding names what to change. The default set is the explicit tuple `PREFLIGHT_CHECKS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from leakcheck.keras.architecture import ModelFacts
from leakcheck.keras.inputs import SplitFacts
from leakcheck.model import Finding, Severity
from leakcheck.splits import TRAIN

_PIXEL_BYTES = 10.0  # above this (with no negatives) values are taken to be raw 0-255 pixels


@dataclass(frozen=True, slots=True)
class Subject:
    """What preflight examines: the model, each split's data, and the planned length of training."""

    model: ModelFacts
    splits: tuple[SplitFacts, ...]
    epochs: int | None = None
    steps_per_epoch: int | None = None

    @property
    def train(self) -> SplitFacts:
        return next(s for s in self.splits if s.split == TRAIN)

    @property
    def classes(self) -> int | None:
        """Classes as the training labels (or the train class names) imply; None for non-class labels."""
        train = self.train
        if train.encoding not in ("integer", "one-hot", "multi-hot"):
            return None
        named = len(train.class_names) if train.class_names else 0
        return max(train.classes or 0, named) or None

    @property
    def exclusive_classes(self) -> bool:
        """The labels say one class per image (integer or one-hot), with more than two classes."""
        return self.train.encoding in ("integer", "one-hot") and (self.classes or 0) > 2


class PreflightCheck(Protocol):
    id: ClassVar[str]

    def params(self) -> Mapping[str, Any]: ...

    def run(self, subject: Subject) -> Iterator[Finding]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LossMatchesLabels:
    """The loss family agrees with how the labels are encoded and how many classes there are."""

    id: ClassVar[str] = "keras-loss-labels"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        m, train = subject.model, subject.train
        for split in subject.splits:
            if split.encoding == "string":
                yield Finding(
                    self.id,
                    Severity.ERROR,
                    f"the {split.split} labels are strings (class names), but Keras losses and metrics need "
                    "numbers: integer class indices or one-hot vectors",
                    metrics={"split": split.split, "encoding": split.encoding},
                    hint="map the names to indices with one shared, sorted list of names for every split "
                    "(names = sorted(set(y_train)); y = np.array([names.index(v) for v in y])) or "
                    "keras.layers.StringLookup(vocabulary=names, num_oov_indices=0)",
                )
        if not m.compiled:
            yield Finding(
                self.id,
                Severity.INFO,
                f"model {m.name!r} is not compiled: the loss, activation and metric checks were skipped",
                hint="call model.compile(...) before preflight",
            )
            return
        loss, encoding, classes = m.loss, train.encoding, subject.classes
        if loss.kind == "binary" and subject.exclusive_classes:
            yield Finding(
                self.id,
                Severity.ERROR,
                f"loss {loss.name} treats every output as its own yes/no question, but the train labels are "
                f"{classes} mutually exclusive classes ({encoding} labels)",
                metrics={"loss": loss.name, "classes": classes, "encoding": encoding},
                hint="use a softmax output with categorical_crossentropy (one-hot labels) "
                "or sparse_categorical_crossentropy (integer labels)",
            )
        elif loss.kind == "categorical" and encoding == "integer":
            yield Finding(
                self.id,
                Severity.ERROR,
                f"loss {loss.name} expects one-hot labels, but the train labels are integer class indices "
                f"(shape (batch,) or (batch, 1))",
                metrics={"loss": loss.name, "encoding": encoding},
                hint="use sparse_categorical_crossentropy, or one-hot labels "
                "(keras.utils.to_categorical, or label_mode='categorical' in image_dataset_from_directory)",
            )
        elif loss.kind == "sparse" and encoding == "one-hot":
            yield Finding(
                self.id,
                Severity.ERROR,
                f"loss {loss.name} expects integer class indices, but the train labels are one-hot "
                f"(shape (batch, {train.classes}))",
                metrics={"loss": loss.name, "encoding": encoding},
                hint="use categorical_crossentropy, or integer labels (label_mode='int')",
            )
        elif loss.kind in ("categorical", "sparse", "auto") and encoding == "multi-hot":
            yield Finding(
                self.id,
                Severity.WARNING,
                f"the train labels are multi-hot (several classes per image) but loss {loss.name} assumes "
                "exactly one class per image",
                metrics={"loss": loss.name, "encoding": encoding},
                hint="for multi-label data use a sigmoid output with binary_crossentropy",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputUnitsMatchClasses:
    """The output layer has one unit per class (or one unit for a binary problem)."""

    id: ClassVar[str] = "keras-output-units"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        units, classes = subject.model.output_units, subject.classes
        if units is None or classes is None:
            return
        binary_ok = units == 1 and classes <= 2 and subject.model.loss.kind in ("binary", "other", "none")
        metrics = {"output_units": units, "classes": classes}
        if units < classes and not binary_ok:
            yield Finding(
                self.id,
                Severity.ERROR,
                f"the output layer has {units} unit{'s' if units != 1 else ''} but the train labels have "
                f"{classes} classes: labels {units} and above have no output to match",
                metrics=metrics,
                hint=f"make the last layer Dense({classes}, activation='softmax')",
            )
        elif (
            units > classes
            and not (units == 2 and classes <= 2)
            and (subject.train.labels_complete or subject.train.class_names)
        ):
            yield Finding(
                self.id,
                Severity.WARNING,
                f"the output layer has {units} units but the train labels use only {classes} classes",
                metrics=metrics,
                hint=f"use Dense({classes}), or check whether classes are missing from train",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivationMatchesLoss:
    """The last activation agrees with the loss and its `from_logits` setting."""

    id: ClassVar[str] = "keras-activation-loss"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        m = subject.model
        act, loss, units = m.final_activation, m.loss, m.output_units
        if not m.compiled or act is None or loss.kind in ("other", "none"):
            return
        metrics = {"activation": act, "loss": loss.name, "from_logits": loss.from_logits}
        if act == "softmax" and units == 1:
            yield Finding(
                self.id,
                Severity.ERROR,
                "the last layer is Dense(1) with softmax, which always outputs 1.0: the model cannot learn",
                metrics=metrics,
                hint="use Dense(1, activation='sigmoid') with binary_crossentropy, "
                "or Dense(n_classes, activation='softmax')",
            )
        elif loss.from_logits and act in ("softmax", "sigmoid"):
            yield Finding(
                self.id,
                Severity.ERROR,
                f"loss {loss.name} has from_logits=True, but the last layer already applies {act}: "
                f"{act} is applied twice and the gradients shrink",
                metrics=metrics,
                hint="make the last layer linear (activation=None), or set from_logits=False",
            )
        elif not loss.from_logits and act == "linear":
            yield Finding(
                self.id,
                Severity.ERROR,
                f"the last layer outputs raw scores (linear activation) but loss {loss.name} expects "
                "probabilities (from_logits=False)",
                metrics=metrics,
                hint=f"pass from_logits=True to the loss (e.g. keras.losses.{_loss_class(loss.kind)}"
                "(from_logits=True)) or add a softmax/sigmoid activation",
            )
        elif act == "sigmoid" and loss.kind in ("categorical", "sparse") and (units or 0) > 1:
            yield Finding(
                self.id,
                Severity.ERROR,
                f"the last layer applies sigmoid, whose {units} outputs do not sum to 1, but loss {loss.name} "
                "expects a probability distribution over the classes",
                metrics=metrics,
                hint="use activation='softmax' on the last layer",
            )
        elif act == "softmax" and loss.kind == "binary" and (units or 0) > 1:
            yield Finding(
                self.id,
                Severity.ERROR,
                f"the last layer applies softmax (outputs compete) but loss {loss.name} scores each output "
                "as an independent yes/no question",
                metrics=metrics,
                hint="use categorical_crossentropy with softmax, or sigmoid with binary_crossentropy "
                "for multi-label data",
            )


def _loss_class(kind: str) -> str:
    return {"binary": "BinaryCrossentropy", "sparse": "SparseCategoricalCrossentropy"}.get(
        kind, "CategoricalCrossentropy"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NoBinaryAccuracyOnClasses:
    """No metric is BinaryAccuracy when the labels are more than two exclusive classes."""

    id: ClassVar[str] = "keras-binary-accuracy"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        m, classes = subject.model, subject.classes
        if not subject.exclusive_classes or classes is None:
            return
        for metric in m.metrics:
            if not metric.is_binary_accuracy(output_units=m.output_units):
                continue
            how = "is" if metric.name.lower() in ("binary_accuracy", "binaryaccuracy") else "resolves to"
            floor = ""
            if m.output_units == classes:
                floor = (
                    f"; a model that outputs all zeros scores {(classes - 1) / classes:.0%} on "
                    f"{classes} one-hot classes"
                )
            right = "sparse_categorical_accuracy" if subject.train.encoding == "integer" else "categorical_accuracy"
            yield Finding(
                self.id,
                Severity.ERROR,
                f"metric {metric.name!r} {how} BinaryAccuracy, which thresholds every output at 0.5 and "
                f"does not measure which of the {classes} classes the model picks{floor}",
                metrics={"metric": metric.name, "resolved": metric.resolved or "BinaryAccuracy", "classes": classes},
                hint=f"use metrics=['{right}'] (argmax accuracy)",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRangeMatchesBackbone:
    """Pixel values reach the network (or the pretrained backbone) in the range it expects."""

    id: ClassVar[str] = "keras-input-range"

    def params(self) -> Mapping[str, Any]:
        return {"raw_pixel_threshold": _PIXEL_BYTES}

    def run(self, subject: Subject) -> Iterator[Finding]:
        yield from self._splits_agree(subject)
        yield from self._train_range(subject)

    @staticmethod
    def _splits_agree(subject: Subject) -> Iterator[Finding]:
        """Every evaluation split reaches the model in train's range (a val set left at 0-255 while train
        was divided by 255 is evaluated on images the model never saw the like of)."""
        train = subject.train
        if train.x_min is None or train.x_max is None:
            return
        reference = _range_kind(train)
        for split in subject.splits:
            if split.split == TRAIN or split.x_min is None or split.x_max is None:
                continue
            kind = _range_kind(split)
            if kind != reference:
                yield Finding(
                    "keras-input-range",
                    Severity.ERROR,
                    f"{split.split} pixels span {split.x_min:.3g} to {split.x_max:.3g} ({kind}) but train pixels "
                    f"span {train.x_min:.3g} to {train.x_max:.3g} ({reference}): the model is evaluated on "
                    "images scaled differently from those it trained on",
                    metrics={"split": split.split, "min": split.x_min, "max": split.x_max, "train_range": reference},
                    hint="scale every split in the same step of the pipeline (or with a Rescaling layer in the model)",
                )

    def _train_range(self, subject: Subject) -> Iterator[Finding]:
        m, train = subject.model, subject.train
        path = m.input_path
        for name in path.unadapted:
            yield Finding(
                self.id,
                Severity.WARNING,
                f"Normalization layer {name!r} was given no mean and variance and was never adapted: it passes "
                "values through unchanged",
                metrics={"layer": name},
                hint=f"call model.get_layer({name!r}).adapt(train images) before fit, or pass mean= and variance=",
            )
        if train.x_min is None or train.x_max is None or path.normalised_by is not None:
            return
        ends = (train.x_min * path.scale + path.offset, train.x_max * path.scale + path.offset)
        lo, hi = min(ends), max(ends)
        seen = f"train pixels span {train.x_min:.3g} to {train.x_max:.3g}"
        if path.scaled_by:
            seen += f", {lo:.3g} to {hi:.3g} after {', '.join(path.scaled_by)}"
        metrics = {"min": lo, "max": hi, "backbone": m.backbone.label if m.backbone else None}
        raw = lo >= 0 and hi > _PIXEL_BYTES
        unit = lo >= -1e-3 and hi <= 1.0 + 1e-3
        kind = m.backbone
        expected = _EXPECTED_SPAN.get(
            kind.mode if kind else "standardised" if path.standardising else "rescaled" if path.rescaling else ""
        )
        if expected is not None and 0 < hi - lo < _COLLAPSED * expected:
            target = kind.label if kind else "the network"
            yield Finding(
                self.id,
                Severity.ERROR,
                f"{seen}: the values span only {hi - lo:.3g} when they reach {target}, about "
                f"{(hi - lo) / expected:.1%} of the span it expects: the images were scaled twice (or are "
                "nearly uniform)",
                metrics={**metrics, "span": hi - lo, "expected_span": expected},
                hint="scale once: a model that rescales 0-255 pixels itself (a Rescaling layer, or keras.applications "
                "models with their preprocessing built in: EfficientNet, EfficientNetV2, ConvNeXt, MobileNetV3) "
                "takes raw 0-255 images, so drop the division by 255 from the pipeline; apply preprocess_input once",
            )
            return
        if kind is None:
            if raw:
                yield Finding(
                    self.id,
                    Severity.WARNING,
                    f"{seen}: raw 0-255 pixels reach the network, which has no Rescaling or Normalization layer",
                    metrics=metrics,
                    hint="add keras.layers.Rescaling(1/255) as the first layer (or scale the images in the pipeline)",
                )
            return
        expects = f"{kind.label} expects {kind.expects}"
        if kind.mode == "internal":
            if hi <= 2.0:
                yield Finding(
                    self.id,
                    Severity.ERROR,
                    f"{seen} when they reach {kind.label}, but {expects}: it sees nearly black images",
                    metrics=metrics,
                    hint="feed raw 0-255 pixels (remove the division by 255 or the Rescaling layer)",
                )
            return
        fix = f"feed 0-255 images through {kind.preprocess} (in the pipeline or as the first layer)"
        if path.scaled_by:
            fix += f" instead of {', '.join(path.scaled_by)}"
        if kind.mode == "caffe" and train.x_low is not None and train.x_high is not None:
            robust_low = min(v * path.scale + path.offset for v in (train.x_low, train.x_high))
            if robust_low < _CAFFE_LOWEST - 1:
                yield Finding(
                    self.id,
                    Severity.ERROR,
                    f"{seen}; a 200th of the values are below {robust_low:.4g} when they reach {kind.label}, but "
                    f"one pass of {kind.preprocess} gives nothing below {_CAFFE_LOWEST:g}: the images were "
                    "mean-subtracted twice (preprocess_input applied twice, or the pipeline centred them before it)",
                    metrics={**metrics, "robust_min": robust_low},
                    hint=f"apply {kind.preprocess} once, to raw 0-255 RGB images",
                )
                return
        if kind.mode == "caffe" and hi <= 2.0:
            severity, what = Severity.ERROR, "scaled pixels"
        elif kind.mode == "caffe" and raw:
            severity, what = Severity.WARNING, "raw RGB pixels without the BGR order and mean subtraction"
        elif kind.mode in ("tf", "torch") and raw:
            severity, what = Severity.ERROR, "raw 0-255 pixels"
        elif kind.mode in ("tf", "torch") and unit:
            severity, what = Severity.WARNING, "[0, 1] pixels"
        else:
            return
        yield Finding(
            self.id,
            severity,
            f"{seen}: {what} reach {kind.label}, but {expects}",
            metrics=metrics,
            hint=fix,
        )


# The span of values each kind of input takes for images that use the full 0-255 range; a span below
# `_COLLAPSED` of it means the pixels were scaled twice. (Caffe-mode preprocessing applied twice keeps
# its span, and a model that rescales internally is judged by its range above.)
_EXPECTED_SPAN = {"rescaled": 1.0, "standardised": 4.0, "tf": 2.0, "torch": 4.7}
_COLLAPSED = 0.05
# Caffe-mode preprocessing subtracts the ImageNet channel means (largest: 123.68) from 0-255 pixels, so a
# single pass never goes below this.
_CAFFE_LOWEST = -123.68


def _range_kind(split: SplitFacts) -> str:
    """The scale pixels are at, coarsely: raw 0-255, signed (such as [-1, 1] or standardized), or small
    and non-negative (such as [0, 1]).

    Augmentation may push a [0, 1] image a little past its ends (noise added to dark pixels goes below
    0), so "signed" is judged on the robust range (0.5th to 99.5th percentile), and only when the
    negative part is a real share of the span (more than a fifth of the positive part)."""
    hi = split.x_max if split.x_max is not None else 0.0
    if hi > _PIXEL_BYTES:
        return "raw 0-255 scale"
    low = split.x_low if split.x_low is not None else (split.x_min or 0.0)
    high = split.x_high if split.x_high is not None else hi
    if low < -0.05 and -low > 0.2 * max(high, 0.0):
        return "signed scale"
    return "0-1 scale"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchNormCanConverge:
    """Trainable BatchNorm layers get enough updates for their moving statistics to forget the initial ones.

    After s steps with momentum m the moving mean and variance still hold a fraction m**s of their
    initial values (0 and 1), which inference mode (predict, evaluate) uses instead of batch statistics.
    """

    id: ClassVar[str] = "keras-batchnorm-steps"
    max_residual: float = 0.1
    error_residual: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.max_residual <= self.error_residual < 1:
            raise ValueError("need 0 < max_residual <= error_residual < 1")

    def params(self) -> Mapping[str, Any]:
        return {"max_residual": self.max_residual, "error_residual": self.error_residual}

    def run(self, subject: Subject) -> Iterator[Finding]:
        steps, epochs = subject.steps_per_epoch or subject.train.steps, subject.epochs
        layers = subject.model.trainable_batchnorm
        if not layers or steps is None or epochs is None:
            return
        planned = steps * epochs
        by_momentum: dict[float, list[str]] = {}
        for layer in layers:
            by_momentum.setdefault(layer.momentum, []).append(layer.name)
        for momentum, names in sorted(by_momentum.items()):
            residual = momentum**planned
            if residual <= self.max_residual:
                continue
            needed = math.ceil(math.log(self.max_residual) / math.log(momentum)) if 0 < momentum < 1 else None
            severity = Severity.ERROR if residual > self.error_residual else Severity.WARNING
            longer = f"train for at least {needed:,} steps, " if needed else ""
            yield Finding(
                self.id,
                severity,
                f"{len(names)} trainable BatchNorm layer{'s' if len(names) != 1 else ''} (momentum {momentum:g}) "
                f"get only {planned:,} updates ({epochs} epoch{'s' if epochs != 1 else ''} x {steps} steps): "
                f"their moving statistics keep {residual:.0%} of the initial values, so predict and evaluate "
                "will disagree with what fit reports",
                samples=tuple(sorted(names)),
                metrics={"momentum": momentum, "steps": planned, "residual": round(residual, 6)},
                hint=f"{longer}lower the momentum (e.g. 0.9), or freeze BatchNorm layers (trainable=False) "
                "when fine-tuning a pretrained backbone",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationIsRepeatable:
    """Evaluation splits yield the same tensors on every pass (no random augmentation)."""

    id: ClassVar[str] = "keras-eval-repeatable"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        for split in subject.splits:
            if split.split == TRAIN or split.repeatable is not False:
                continue
            if split.reordered_only:
                yield Finding(
                    self.id,
                    Severity.INFO,
                    f"{split.split}: the pipeline reshuffles the same images on every pass; metrics are "
                    "unaffected but predictions cannot be matched to files",
                    metrics={"split": split.split},
                    hint="build evaluation data with shuffle=False",
                )
                continue
            if split.repeat_unsure:
                yield Finding(
                    self.id,
                    Severity.WARNING,
                    f"{split.split}: a second pass over the pipeline yields images that are not among the first "
                    f"{split.reference:,} of another pass: random augmentation, or reshuffling over more images "
                    "than preflight reads",
                    metrics={"split": split.split, "compared": split.inspected, "reference": split.reference},
                    hint="build evaluation data with shuffle=False, and apply random augmentation to the "
                    "training data only",
                )
                continue
            yield Finding(
                self.id,
                Severity.ERROR,
                f"{split.split}: two passes over the pipeline yield different images (random augmentation): "
                "its metrics are noisy and not measured on the real images",
                metrics={"split": split.split, "compared": split.inspected, "reference": split.reference},
                hint="apply random augmentation to the training data only (or as model layers, which are "
                "off at inference) and build evaluation data with shuffle=False",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassOrderAgrees:
    """Every split maps label indices to the same class names as train."""

    id: ClassVar[str] = "keras-class-order"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        reference = subject.train.class_names
        if reference is None:
            return
        for split in subject.splits:
            names = split.class_names
            if split.split == TRAIN or names is None or names == reference:
                continue
            details: list[str] = []
            missing = sorted(set(reference) - set(names))
            extra = sorted(set(names) - set(reference))
            if missing:
                details.append(f"lacks {', '.join(missing)}")
            if extra:
                details.append(f"adds {', '.join(extra)}")
            first = next(
                (i for i, (a, b) in enumerate(zip(reference, names, strict=False)) if a != b),
                min(len(reference), len(names)),
            )
            if first < min(len(reference), len(names)):
                details.insert(0, f"label {first} is {reference[first]!r} in train but {names[first]!r} there")
            yield Finding(
                self.id,
                Severity.ERROR,
                f"{split.split}: class names differ from train ({'; '.join(details)}), so label indices "
                "mean different classes in the two splits",
                metrics={"split": split.split, "train": list(reference), "names": list(names)},
                hint="pass class_names=train_ds.class_names to image_dataset_from_directory for every split",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitsAreDisjoint:
    """No val or test sample is also a train sample: the same files (when the datasets list them) or the
    same pixels (among the samples read)."""

    id: ClassVar[str] = "keras-split-overlap"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, subject: Subject) -> Iterator[Finding]:
        splits = subject.splits
        for i, split in enumerate(splits):
            for other in splits[:i]:
                if split.split == other.split:
                    continue
                if split.file_paths is not None and other.file_paths is not None:
                    shared = sorted(set(split.file_paths) & set(other.file_paths))
                    if shared:
                        yield self._finding(split, other, len(shared), len(split.file_paths), "files", shared)
                        continue
                same = split.digests & other.digests
                if same:
                    yield self._finding(split, other, len(same), split.inspected, "images read", [])

    def _finding(
        self, split: SplitFacts, other: SplitFacts, shared: int, total: int, what: str, samples: list[str]
    ) -> Finding:
        how = "the same files" if what == "files" else "identical pixels"
        hint = "split the data once and build every split from its own files"
        if what == "files":
            hint = (
                "with validation_split, pass the same seed (and shuffle) for subset='training' and "
                "subset='validation', or subset='both'; otherwise " + hint
            )
        return Finding(
            self.id,
            Severity.ERROR,
            f"{split.split} and {other.split} share samples: {shared:,} of {total:,} {split.split} {what} are "
            f"also {other.split} samples ({how}), so {split.split} metrics are measured on images the model "
            f"{'trained on' if other.split == TRAIN else 'is tuned on'}",
            samples=tuple(samples[:20]),
            metrics={"split": split.split, "other": other.split, "shared": shared, "compared": total, "by": what},
            hint=hint,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EnoughData:
    """The training set is not tiny for the number of trainable parameters or per class."""

    id: ClassVar[str] = "keras-tiny-data"
    min_per_class: int = 10
    max_params_per_image: int = 10_000

    def __post_init__(self) -> None:
        if self.min_per_class < 1 or self.max_params_per_image < 1:
            raise ValueError("min_per_class and max_params_per_image must be at least 1")

    def params(self) -> Mapping[str, Any]:
        return {"min_per_class": self.min_per_class, "max_params_per_image": self.max_params_per_image}

    def run(self, subject: Subject) -> Iterator[Finding]:
        train, params = subject.train, subject.model.trainable_params
        if not train.samples:
            return
        hint = (
            "train only a small head on a frozen pretrained backbone (keras.applications with "
            "weights='imagenet', base.trainable=False), add augmentation, or collect more images"
        )
        per_image = params / train.samples
        if per_image > self.max_params_per_image:
            yield Finding(
                self.id,
                Severity.WARNING,
                f"train has {train.samples:,} images for {params:,} trainable parameters ({per_image:,.0f} per "
                "image): the model can memorise the training set",
                metrics={"images": train.samples, "trainable_params": params},
                hint=hint,
            )
        if train.class_counts and train.labels_complete:
            small = [(c, n) for c, n in train.class_counts if n < self.min_per_class]
            if small:
                shown = ", ".join(f"{_class_name(train, c)}: {n}" for c, n in small[:10])
                yield Finding(
                    self.id,
                    Severity.WARNING,
                    f"{len(small)} of {len(train.class_counts)} classes have fewer than {self.min_per_class} "
                    f"training images ({shown})",
                    metrics={"classes": {_class_name(train, c): n for c, n in small}},
                    hint=hint,
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassesCovered:
    """Every class the evaluation splits hold is in train, every declared class has images, and no class
    dwarfs another in train. Judged on class counts of whole splits (arrays, datasets read to their end,
    or image_dataset_from_directory's file list)."""

    id: ClassVar[str] = "keras-class-coverage"
    max_imbalance: float = 10.0

    def __post_init__(self) -> None:
        if self.max_imbalance <= 1:
            raise ValueError("max_imbalance must be above 1")

    def params(self) -> Mapping[str, Any]:
        return {"max_imbalance": self.max_imbalance}

    def run(self, subject: Subject) -> Iterator[Finding]:
        train = subject.train
        if train.encoding not in ("integer", "one-hot"):
            return
        trained = {c for c, n in train.class_counts if n}
        for split in subject.splits:
            if split.split == TRAIN or split.encoding not in ("integer", "one-hot") or not train.labels_complete:
                continue
            unseen = sorted({c for c, n in split.class_counts if n} - trained)
            if unseen:
                count = sum(n for c, n in split.class_counts if c in unseen)
                shown = ", ".join(_class_name(split, c) for c in unseen[:10])
                yield Finding(
                    self.id,
                    Severity.ERROR,
                    f"{split.split} has {count:,} images of {len(unseen)} class{'es' if len(unseen) > 1 else ''} "
                    f"that train has none of ({shown}): the model cannot learn to recognise them",
                    metrics={"split": split.split, "classes": [_class_name(split, c) for c in unseen]},
                    hint="add training images of those classes, or drop the classes from every split",
                )
        for split in subject.splits:
            declared, source = self._declared(subject, split)
            if not split.labels_complete or declared is None:
                continue
            present = {c for c, n in split.class_counts if n}
            empty = [c for c in range(declared) if c not in present]
            if split.split == TRAIN and source != "class_names":
                continue  # more output units than train classes: keras-output-units says so
            if empty:
                shown = ", ".join(_class_name(split, c) for c in empty[:10])
                yield Finding(
                    self.id,
                    Severity.ERROR if split.split == TRAIN else Severity.WARNING,
                    f"{split.split} has no images of {len(empty)} of the {declared} classes its {source} declare "
                    f"({shown})"
                    + (": the model is asked to learn classes it never sees" if split.split == TRAIN else
                       f": {split.split} metrics say nothing about them"),
                    metrics={"split": split.split, "classes": [_class_name(split, c) for c in empty],
                             "declared_by": source},
                    hint="add images of those classes (an empty class folder declares a class), or remove them",
                )  # fmt: skip
        counts = [n for _, n in train.class_counts if n]
        if train.labels_complete and len(counts) > 1 and max(counts) >= self.max_imbalance * min(counts):
            largest = max(train.class_counts, key=lambda cn: cn[1])
            smallest = min((cn for cn in train.class_counts if cn[1]), key=lambda cn: cn[1])
            yield Finding(
                self.id,
                Severity.WARNING,
                f"train classes are strongly imbalanced: {_class_name(train, largest[0])} has {largest[1]:,} images, "
                f"{_class_name(train, smallest[0])} only {smallest[1]:,} ({largest[1] / smallest[1]:.0f} to 1): "
                "accuracy rewards predicting the large classes",
                metrics={"largest": largest[1], "smallest": smallest[1]},
                hint="pass class_weight to fit, resample, and judge per-class recall rather than accuracy",
            )

    @staticmethod
    def _declared(subject: Subject, split: SplitFacts) -> tuple[int | None, str]:
        if split.class_names:
            return len(split.class_names), "class_names"
        units = subject.model.output_units
        if units is not None and units > 2:
            return units, "output units"
        return None, ""


def _class_name(split: SplitFacts, index: int) -> str:
    names = split.class_names
    return names[index] if names and index < len(names) else str(index)


PREFLIGHT_CHECKS: tuple[PreflightCheck, ...] = (
    LossMatchesLabels(),
    OutputUnitsMatchClasses(),
    ActivationMatchesLoss(),
    NoBinaryAccuracyOnClasses(),
    InputRangeMatchesBackbone(),
    BatchNormCanConverge(),
    EvaluationIsRepeatable(),
    SplitsAreDisjoint(),
    ClassOrderAgrees(),
    ClassesCovered(),
    EnoughData(),
)
