"""leakcheck.keras: every preflight finding is triggered by a real Keras model with the bug and absent once
it is fixed; the callback, the trainer and the leak-adjusted evaluation run on tiny generated images."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import leakcheck  # noqa: E402  # after the TensorFlow environment variable
from leakcheck.cli import main  # noqa: E402
from leakcheck.errors import InputError, RefusedError  # noqa: E402
from leakcheck.keras import (  # noqa: E402
    LeakcheckCallback,
    TrainOptions,
    check_batchnorm,
    evaluate_clean,
    preflight,
    train,
)
from leakcheck.keras.training import OUTPUT_FILES  # noqa: E402
from leakcheck.render.findings import render_findings  # noqa: E402

pytestmark = [
    # TensorFlow 2.21 tensors implement __array__ without numpy 2's `copy` keyword; Keras converts them with
    # np.array(x) on every step (keras/src/backend/tensorflow/core.py). Third-party, harmless, not ours.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
]

TINTS = {"blue": (0.3, 0.3, 1.0), "green": (0.3, 1.0, 0.3), "red": (1.0, 0.3, 0.3)}


# --- helpers ---------------------------------------------------------------------------------------------
def write_folder(
    root: Path, counts: dict[str, int], *, classes: Iterable[str] = TINTS, seed: int = 0, size: int = 32
) -> Path:
    """root/<split>/<class>/<i>.png of tinted noise: every image distinct (random perceptual hashes)."""
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        for cls in classes:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            tint = np.array(TINTS.get(cls, (1.0, 1.0, 1.0)))
            for i in range(n):
                pixels = (rng.random((size, size, 3)) * 255 * tint).astype("uint8")
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def plant_leaks(root: Path, per_class: int) -> list[str]:
    """Copy the first train images of each class into test; returns the keys of the copies."""
    keys = []
    for cls in TINTS:
        for i in range(per_class):
            target = root / "test" / cls / f"copy{i}.png"
            shutil.copy(root / "train" / cls / f"{i:03d}.png", target)
            keys.append(f"test/{cls}/copy{i}.png")
    return sorted(keys)


def checks_of(report: leakcheck.Report) -> set[str]:
    return {f.check for f in report.findings}


def small_cnn(
    classes: int, *, activation: str | None = "softmax", rescale: bool = True, bn_momentum: float | None = None
) -> Any:
    layers: list[Any] = [keras.Input((32, 32, 3))]
    if rescale:
        layers.append(keras.layers.Rescaling(1 / 255))
    layers.append(keras.layers.Conv2D(4, 3, activation="relu"))
    if bn_momentum is not None:
        layers.append(keras.layers.BatchNormalization(momentum=bn_momentum))
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(classes, activation=activation)]
    return keras.Sequential(layers)


def images(n: int, seed: int = 0) -> np.ndarray[Any, Any]:
    return (np.random.default_rng(seed).random((n, 32, 32, 3)) * 255).astype("float32")


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


# --- preflight: loss, labels, outputs, activation, metrics ----------------------------------------------
def test_ten_class_sigmoid_binary_crossentropy_reports_binary_accuracy_near_ninety_percent() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((400, 16)).astype("float32")
    y = rng.integers(0, 10, 400)
    onehot = keras.utils.to_categorical(y, 10)
    buggy = keras.Sequential([keras.Input((16,)), keras.layers.Dense(10, activation="sigmoid")])
    buggy.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["binary_accuracy"])

    report = preflight(buggy, (x, onehot), epochs=5)
    assert {"keras-loss-labels", "keras-binary-accuracy"} <= checks_of(report)
    assert report.exit_code() == 1

    history = buggy.fit(x, onehot, epochs=5, batch_size=32, verbose=0)
    reported = history.history["binary_accuracy"][-1]
    argmax = float(np.mean(buggy.predict(x, verbose=0).argmax(axis=1) == y))
    assert reported > 0.85  # what Keras shows
    assert argmax < 0.3  # what the model does: about chance on 10 classes
    # Once fit has built the metrics, preflight reads the resolved metric object.
    after = preflight(buggy, (x, onehot), epochs=5)
    resolved = [f for f in after.findings if f.check == "keras-binary-accuracy"]
    assert resolved
    assert resolved[0].metrics["resolved"] == "BinaryAccuracy"

    fixed = keras.Sequential([keras.Input((16,)), keras.layers.Dense(10, activation="softmax")])
    fixed.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    assert preflight(fixed, (x, onehot), epochs=5).findings == ()


def test_accuracy_on_a_one_unit_output_resolves_to_binary_accuracy() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.random((64, 8)).astype("float32"), rng.integers(0, 3, 64)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
    report = preflight(model, (x, y))
    assert {"keras-binary-accuracy", "keras-output-units"} <= checks_of(report)
    (finding,) = [f for f in report.findings if f.check == "keras-binary-accuracy"]
    assert "resolves to BinaryAccuracy" in finding.message
    assert "sparse_categorical_accuracy" in (finding.hint or "")

    fixed = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    fixed.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert preflight(fixed, (x, y)).findings == ()


@pytest.mark.parametrize("metric", ["binary_accuracy", "function", "object"])
def test_binary_accuracy_however_it_is_spelled(metric: str) -> None:
    x, y = images(40), keras.utils.to_categorical(np.random.default_rng(19).integers(0, 5, 40), 5)
    given = {"binary_accuracy": "binary_accuracy", "function": keras.metrics.binary_accuracy,
             "object": keras.metrics.BinaryAccuracy()}[metric]  # fmt: skip
    model = small_cnn(5)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[given])
    (finding,) = [f for f in preflight(model, (x, y)).findings if f.check == "keras-binary-accuracy"]
    assert " is BinaryAccuracy, which thresholds every output" in finding.message


@pytest.mark.parametrize(
    ("loss", "labels", "fixed_loss"),
    [
        ("categorical_crossentropy", "integer", "sparse_categorical_crossentropy"),
        ("sparse_categorical_crossentropy", "one-hot", "categorical_crossentropy"),
    ],
)
def test_loss_must_match_the_label_encoding(loss: str, labels: str, fixed_loss: str) -> None:
    x = images(40)
    y = np.random.default_rng(3).integers(0, 3, 40)
    target = y if labels == "integer" else keras.utils.to_categorical(y, 3)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss=loss)
    report = preflight(model, (x, target))
    (finding,) = [f for f in report.findings if f.check == "keras-loss-labels"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert fixed_loss in (finding.hint or "")
    model.compile(optimizer="adam", loss=fixed_loss)
    assert "keras-loss-labels" not in checks_of(preflight(model, (x, target)))


def test_string_labels_are_a_finding_not_a_traceback() -> None:
    x = images(30)
    names = np.array(["cat", "dog", "bird"] * 10)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    as_tensor = tf.data.Dataset.from_tensor_slices((x, tf.constant(names))).batch(8)
    for train_data in ((x, names), as_tensor):
        report = preflight(model, train_data, epochs=1)
        (finding,) = [f for f in report.findings if f.check == "keras-loss-labels"]
        assert finding.severity == leakcheck.Severity.ERROR
        assert finding.message.startswith("the train labels are strings")
        assert "StringLookup" in (finding.hint or "")
    ids = np.array([sorted(set(names)).index(v) for v in names])
    assert "keras-loss-labels" not in checks_of(preflight(model, (x, ids), epochs=1))


def test_output_units_must_cover_the_classes() -> None:
    x, y = images(40), np.random.default_rng(4).integers(0, 10, 40)
    model = small_cnn(5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [f for f in preflight(model, (x, y)).findings if f.check == "keras-output-units"]
    assert "Dense(10" in (finding.hint or "")
    fixed = small_cnn(10)
    fixed.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert "keras-output-units" not in checks_of(preflight(fixed, (x, y)))
    # A Sequential model without an Input is not built yet; its last layer still tells.
    unbuilt = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax")])
    unbuilt.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert "keras-output-units" in checks_of(preflight(unbuilt, (x, y)))


@pytest.mark.parametrize(
    ("activation", "from_logits", "bad"),
    [("softmax", True, True), (None, False, True), (None, True, False), ("softmax", False, False)],
)
def test_final_activation_must_match_from_logits(activation: str | None, from_logits: bool, bad: bool) -> None:
    x, y = images(40), np.random.default_rng(5).integers(0, 3, 40)
    model = small_cnn(3, activation=activation)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    found = "keras-activation-loss" in checks_of(preflight(model, (x, y)))
    assert found is bad


# --- preflight: input range vs the backbone --------------------------------------------------------------
def test_raw_pixels_into_a_network_without_rescaling() -> None:
    x, y = images(40), np.random.default_rng(6).integers(0, 3, 40)
    raw = small_cnn(3, rescale=False)
    raw.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [f for f in preflight(raw, (x, y)).findings if f.check == "keras-input-range"]
    assert "Rescaling(1/255)" in (finding.hint or "")
    fixed = small_cnn(3, rescale=True)
    fixed.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert "keras-input-range" not in checks_of(preflight(fixed, (x, y)))


def test_a_val_split_scaled_unlike_train_is_an_error() -> None:
    """Train divided by 255 in the pipeline, val left at 0-255: evaluated on images unlike any in training."""
    x, y = images(40), np.random.default_rng(9).integers(0, 3, 40)
    model = small_cnn(3, rescale=False)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    train, val = (x[:30].astype(np.float32) / 255, y[:30]), (x[30:].astype(np.float32), y[30:])
    (finding,) = [f for f in preflight(model, train, val).findings if f.check == "keras-input-range"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert finding.message.startswith("val pixels span")
    assert "(raw 0-255 scale) but train pixels span" in finding.message
    # The same scale on both sides (and a little augmentation past 1 in train) is fine.
    bright = (np.clip(x[:30].astype(np.float32) / 255 * 1.1, 0, 1.1), y[:30])
    same = preflight(model, bright, (x[30:].astype(np.float32) / 255, y[30:]))
    assert "keras-input-range" not in checks_of(same)


def test_noise_augmentation_on_train_only_keeps_its_scale() -> None:
    """Gaussian noise on [0, 1] training images dips below 0; the images are still at the 0-1 scale."""
    x = (images(60, seed=18) / 255).astype("float32")
    x[:, :4] = 0.0  # dark rows, where noise goes furthest below 0
    y = np.random.default_rng(18).integers(0, 3, 60)
    model = small_cnn(3, rescale=False)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    noisy = tf.data.Dataset.from_tensor_slices((x[:40], y[:40])).batch(16)
    noisy = noisy.map(lambda a, b: (a + tf.random.normal(tf.shape(a), stddev=0.05), b))
    clean = tf.data.Dataset.from_tensor_slices((x[40:], y[40:])).batch(16)
    assert "keras-input-range" not in checks_of(preflight(model, noisy, clean))
    # A val split really at another scale ([-1, 1] against train's [0, 1]) is still an error.
    signed = tf.data.Dataset.from_tensor_slices((x[40:] * 2 - 1, y[40:])).batch(16)
    (finding,) = [f for f in preflight(model, noisy, signed).findings if f.check == "keras-input-range"]
    assert "(signed scale) but train pixels" in finding.message


def _on_backbone(base: Any, *front: Any) -> Any:
    inputs = keras.Input((32, 32, 3))
    h = inputs
    for layer in front:
        h = layer(h)
    h = keras.layers.GlobalAveragePooling2D()(base(h))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_unit_range_pixels_into_resnet50_which_expects_its_preprocess_input() -> None:
    x, y = images(32), np.random.default_rng(7).integers(0, 3, 32)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    base.trainable = False
    scaled = _on_backbone(base, keras.layers.Rescaling(1 / 255))
    (finding,) = [f for f in preflight(scaled, (x, y)).findings if f.check == "keras-input-range"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert "ResNet" in finding.message
    assert "resnet50.preprocess_input" in (finding.hint or "")
    # Fixed: the backbone's own preprocessing applied in the pipeline.
    fixed = _on_backbone(base)
    preprocessed = keras.applications.resnet50.preprocess_input(x.copy())
    assert "keras-input-range" not in checks_of(preflight(fixed, (preprocessed, y)))


def test_raw_pixels_into_mobilenetv2_which_expects_minus_one_to_one() -> None:
    x, y = images(32), np.random.default_rng(8).integers(0, 3, 32)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    base.trainable = False
    raw = _on_backbone(base)
    (finding,) = [f for f in preflight(raw, (x, y)).findings if f.check == "keras-input-range"]
    assert "MobileNetV2" in finding.message
    assert finding.severity == leakcheck.Severity.ERROR
    fixed = _on_backbone(base, keras.layers.Rescaling(1 / 127.5, offset=-1))
    assert "keras-input-range" not in checks_of(preflight(fixed, (x, y)))


def test_pixels_scaled_twice_reach_the_network_nearly_uniform() -> None:
    x, y = images(32), np.random.default_rng(21).integers(0, 3, 32)
    rescaled = small_cnn(3)  # Rescaling(1/255) inside the model
    rescaled.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [f for f in preflight(rescaled, (x / 255, y)).findings if f.check == "keras-input-range"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert "scaled twice" in finding.message
    assert "keras-input-range" not in checks_of(preflight(rescaled, (x, y)))
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    model = _on_backbone(base)
    once = keras.applications.mobilenet_v2.preprocess_input(x.copy())
    twice = keras.applications.mobilenet_v2.preprocess_input(once.copy())
    (finding,) = [f for f in preflight(model, (twice, y)).findings if f.check == "keras-input-range"]
    assert "when they reach MobileNetV2" in finding.message
    assert "keras-input-range" not in checks_of(preflight(model, (once, y)))


def test_models_with_their_own_preprocessing_fed_pixels_divided_by_255() -> None:
    # MobileNetV3, EfficientNetV2 and ConvNeXt carry a Rescaling and/or Normalization layer inside and take
    # raw 0-255 images; x / 255 reaches their first convolution as a nearly uniform image.
    x, y = images(32), np.random.default_rng(22).integers(0, 3, 32)
    for constructor in (keras.applications.MobileNetV3Small, keras.applications.EfficientNetV2B0,
                        keras.applications.ConvNeXtTiny):  # fmt: skip
        model = _on_backbone(constructor(include_top=False, weights=None, input_shape=(32, 32, 3)))
        (finding,) = [f for f in preflight(model, (x / 255, y)).findings if f.check == "keras-input-range"]
        assert finding.severity == leakcheck.Severity.ERROR, constructor.__name__
        assert "scaled twice" in finding.message, constructor.__name__
        assert "keras-input-range" not in checks_of(preflight(model, (x, y))), constructor.__name__


def test_caffe_mode_preprocess_input_applied_twice() -> None:
    x, y = images(32), np.random.default_rng(23).integers(0, 3, 32)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = _on_backbone(base)
    once = keras.applications.vgg16.preprocess_input(x.copy())
    twice = keras.applications.vgg16.preprocess_input(once.copy())
    (finding,) = [f for f in preflight(model, (twice, y)).findings if f.check == "keras-input-range"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert "mean-subtracted twice" in finding.message
    assert "keras-input-range" not in checks_of(preflight(model, (once, y)))


def test_normalization_layer_never_adapted_or_adapted_to_another_scale() -> None:
    x, y = images(48), np.random.default_rng(24).integers(0, 3, 48)

    def with_norm(norm: Any) -> Any:
        head = [keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
        model = keras.Sequential([keras.Input((32, 32, 3)), norm, *head, keras.layers.Softmax()])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    never = with_norm(keras.layers.Normalization(name="norm"))
    found = [f for f in preflight(never, (x, y)).findings if f.check == "keras-input-range"]
    assert [f.severity for f in found] == [leakcheck.Severity.WARNING, leakcheck.Severity.WARNING]
    assert found[0].message.startswith("Normalization layer 'norm' was given no mean and variance")
    assert "raw 0-255 pixels reach the network" in found[1].message  # it changed nothing
    adapted = keras.layers.Normalization()
    adapted.adapt(x)
    assert "keras-input-range" not in checks_of(preflight(with_norm(adapted), (x, y)))
    (finding,) = [f for f in preflight(with_norm(adapted), (x / 255, y)).findings if f.check == "keras-input-range"]
    assert "scaled twice" in finding.message


# --- BatchNorm ------------------------------------------------------------------------------------------
def test_batchnorm_statistics_that_cannot_converge_in_the_planned_steps() -> None:
    x, y = images(64), np.random.default_rng(9).integers(0, 3, 64)
    slow = small_cnn(3, bn_momentum=0.99)
    slow.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [
        f for f in preflight(slow, (x, y), epochs=3, batch_size=32).findings if f.check == "keras-batchnorm-steps"
    ]
    assert finding.metrics["steps"] == 6
    assert finding.metrics["residual"] == pytest.approx(0.99**6, abs=1e-6)
    fast = small_cnn(3, bn_momentum=0.5)
    fast.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert "keras-batchnorm-steps" not in checks_of(preflight(fast, (x, y), epochs=3, batch_size=32))


def test_check_batchnorm_after_fitting_three_images() -> None:
    """The forum case: fit reports accuracy 1.0 on three images, predict gives one class for all of them."""
    x = images(3, seed=10)  # raw 0-255: far from the moving mean's initial 0
    y = np.array([0, 1, 2])

    def fitted(*, freeze_batchnorm: bool) -> tuple[Any, float]:
        keras.utils.set_random_seed(0)
        model = small_cnn(3, rescale=False, bn_momentum=0.99)
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = not freeze_batchnorm
        model.compile(
            optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        history = model.fit(x, y, epochs=10, batch_size=3, verbose=0)
        return model, history.history["accuracy"][-1]

    buggy, fit_accuracy = fitted(freeze_batchnorm=False)
    _, evaluate_accuracy = buggy.evaluate(x, y, verbose=0)
    assert fit_accuracy == 1.0
    assert evaluate_accuracy < 0.7
    before = [v.numpy().copy() for v in buggy.non_trainable_variables]
    (finding,) = check_batchnorm(buggy, x).findings
    assert finding.check == "keras-batchnorm-modes"
    assert finding.metrics["disagree"] >= 2
    assert "BatchNorm moving statistics" in finding.message
    # The check leaves the moving statistics as they were.
    for v, old in zip(buggy.non_trainable_variables, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), old)
    # Fixed: BatchNorm frozen (as for a pretrained backbone), so both modes use the same statistics.
    fixed, _ = fitted(freeze_batchnorm=True)
    assert check_batchnorm(fixed, x).findings == ()


# --- evaluation pipelines and class names ---------------------------------------------------------------
def test_random_augmentation_on_the_validation_pipeline() -> None:
    x, y = images(48), np.random.default_rng(11).integers(0, 3, 48)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.2)])
    plain = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    augmented = plain.map(lambda a, b: (augment(a, training=True), b))
    (finding,) = [f for f in preflight(model, (x, y), val=augmented).findings if f.check == "keras-eval-repeatable"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert "val" in finding.message
    assert "keras-eval-repeatable" not in checks_of(preflight(model, (x, y), val=plain))
    reshuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=1).batch(16)
    notes = [f for f in preflight(model, (x, y), val=reshuffled).findings if f.check == "keras-eval-repeatable"]
    assert [f.severity for f in notes] == [leakcheck.Severity.INFO]


def test_a_validation_pipeline_that_only_reshuffles_many_images_is_a_note(tmp_path: Path) -> None:
    """More images than preflight reads, reshuffled on every pass (image_dataset_from_directory's default
    shuffle=True, as in the Keras tutorials): the same images in another order, not augmentation."""
    rng = np.random.default_rng(16)
    x, y = images(600, seed=16), rng.integers(0, 3, 600)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def severities(val: Any, max_samples: int = 256) -> list[leakcheck.Severity]:
        report = preflight(model, (x[:60], y[:60]), val=val, max_samples=max_samples)
        return [f.severity for f in report.findings if f.check == "keras-eval-repeatable"]

    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(600).batch(32)
    assert severities(shuffled) == [leakcheck.Severity.INFO]
    # Read too little to find the images of one pass in another: unsure, a warning that does not stop fit.
    assert severities(shuffled, max_samples=8) == [leakcheck.Severity.WARNING]
    root = write_folder(tmp_path / "data", {"val": 100}, size=8)  # 300 files
    from_folder = keras.utils.image_dataset_from_directory(root / "val", image_size=(32, 32), verbose=False)
    assert severities(from_folder) == [leakcheck.Severity.INFO]
    # Real augmentation stays an error: reshuffled as well, in place, or a flip that leaves half the images.
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.2)])
    flip = keras.layers.RandomFlip("horizontal")
    in_place = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    for val in (
        shuffled.map(lambda a, b: (augment(a, training=True), b)),
        in_place.map(lambda a, b: (augment(a, training=True), b)),
        in_place.map(lambda a, b: (flip(a, training=True), b)),
        shuffled.map(lambda a, b: (flip(a, training=True), b)),
    ):
        assert severities(val) == [leakcheck.Severity.ERROR]


def test_train_and_val_that_share_samples(tmp_path: Path) -> None:
    """validation_split with a different seed for each subset: the two subsets overlap."""
    root = write_folder(tmp_path / "data", {"train": 10})
    common: dict[str, Any] = {"validation_split": 0.25, "image_size": (32, 32), "batch_size": 8, "verbose": False}
    train_ds = keras.utils.image_dataset_from_directory(root / "train", subset="training", seed=1, **common)
    val_ds = keras.utils.image_dataset_from_directory(root / "train", subset="validation", seed=2, **common)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [f for f in preflight(model, train_ds, val_ds).findings if f.check == "keras-split-overlap"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert finding.metrics["by"] == "files"
    shared = set(train_ds.file_paths) & set(val_ds.file_paths)
    assert finding.metrics["shared"] == len(shared) > 0
    assert finding.message.startswith(f"val and train share samples: {len(shared)} of 7 val files")
    train_ok, val_ok = keras.utils.image_dataset_from_directory(root / "train", subset="both", seed=1, **common)
    assert "keras-split-overlap" not in checks_of(preflight(model, train_ok, val_ok))
    # Without file lists the pixels tell: arrays whose test part repeats train images.
    x, y = images(40), np.random.default_rng(17).integers(0, 3, 40)
    report = preflight(model, (x[:30], y[:30]), None, (x[25:], y[25:]))
    (finding,) = [f for f in report.findings if f.check == "keras-split-overlap"]
    assert (finding.metrics["split"], finding.metrics["shared"], finding.metrics["by"]) == ("test", 5, "images read")
    assert "keras-split-overlap" not in checks_of(preflight(model, (x[:30], y[:30]), None, (x[30:], y[30:])))


def test_class_names_that_differ_between_splits(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"train": 4, "val": 4})
    write_folder(root, {"val": 2}, classes=("ant",), seed=1)  # a class folder only val has: indices shift
    common: dict[str, Any] = {"image_size": (32, 32), "batch_size": 8, "verbose": False, "shuffle": False}
    train_ds = keras.utils.image_dataset_from_directory(root / "train", **common)
    val_ds = keras.utils.image_dataset_from_directory(root / "val", **common)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [f for f in preflight(model, train_ds, val_ds).findings if f.check == "keras-class-order"]
    assert "label 0 is 'blue' in train but 'ant' there" in finding.message
    assert "adds ant" in finding.message
    fixed_val = keras.utils.image_dataset_from_directory(root / "val", class_names=train_ds.class_names, **common)
    assert "keras-class-order" not in checks_of(preflight(model, train_ds, fixed_val))


def test_classes_missing_from_a_split_or_badly_imbalanced(tmp_path: Path) -> None:
    x, y = images(100, seed=20), np.arange(100) % 5
    model = small_cnn(5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def coverage(*splits: Any) -> list[tuple[leakcheck.Severity, str]]:
        report = preflight(model, *splits)
        return [(f.severity, f.message) for f in report.findings if f.check == "keras-class-coverage"]

    assert coverage((x[:60], y[:60]), (x[60:], y[60:])) == []
    # Class 3 is in val but never in train.
    ((severity, message),) = coverage((x[:60], np.where(y[:60] == 3, 4, y[:60])), (x[60:], y[60:]))
    assert severity == leakcheck.Severity.ERROR
    assert message.startswith("val has 8 images of 1 class that train has none of (3)")
    # Class 2 is missing from val (the output layer declares five classes).
    ((severity, message),) = coverage((x[:60], y[:60]), (x[60:], np.where(y[60:] == 2, 0, y[60:])))
    assert severity == leakcheck.Severity.WARNING
    assert message.startswith("val has no images of 1 of the 5 classes its output units declare (2)")
    # 1 image of class 4 for 12 of every other class.
    keep = (y[:60] != 4) | (np.arange(60) == 4)
    ((severity, message),) = coverage((x[:60][keep], y[:60][keep]))
    assert severity == leakcheck.Severity.WARNING
    assert "strongly imbalanced: 0 has 12 images, 4 only 1 (12 to 1)" in message
    # An empty class folder in train: image_dataset_from_directory still declares the class.
    root = write_folder(tmp_path / "data", {"train": 4})
    (root / "train" / "yellow").mkdir()
    train_ds = keras.utils.image_dataset_from_directory(root / "train", image_size=(32, 32), verbose=False)
    three = small_cnn(4)
    three.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (finding,) = [f for f in preflight(three, train_ds).findings if f.check == "keras-class-coverage"]
    assert finding.severity == leakcheck.Severity.ERROR
    assert finding.message.startswith("train has no images of 1 of the 4 classes its class_names declare (yellow)")
    # Deeper folders keep the class of the first level (as in image_dataset_from_directory and the scan).
    nested = root / "train" / "red" / "2024" / "batch"
    nested.mkdir(parents=True)
    for image in sorted((root / "train" / "red").glob("*.png")):
        image.rename(nested / image.name)
    train_ds = keras.utils.image_dataset_from_directory(
        root / "train", image_size=(32, 32), batch_size=2, verbose=False
    )
    # Only 4 of the 12 images are read: the counts come from the file list.
    report = preflight(three, train_ds, max_samples=4)
    (finding,) = [f for f in report.findings if f.check == "keras-class-coverage"]
    assert finding.message.startswith("train has no images of 1 of the 4 classes its class_names declare (yellow)")


def test_tiny_dataset_for_the_model_size() -> None:
    rng = np.random.default_rng(12)
    x, y = images(12), rng.integers(0, 3, 12)
    big = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
         keras.layers.Dense(128, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    big.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    tiny = [f for f in preflight(big, (x, y)).findings if f.check == "keras-tiny-data"]
    assert len(tiny) == 2  # parameters per image, and images per class
    x2, y2 = images(60), np.repeat(np.arange(3), 20)
    small = small_cnn(3)
    small.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert "keras-tiny-data" not in checks_of(preflight(small, (x2, y2)))


def test_a_preflight_report_renders_and_serialises() -> None:
    x, y = images(20), np.random.default_rng(14).integers(0, 3, 20)
    model = small_cnn(3, activation=None)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    report = preflight(model, (x, y), epochs=2)
    console = Console(record=True, width=200)
    console.print(render_findings(report, title="preflight of the model"))
    text = console.export_text()
    assert "error [keras-activation-loss] the last layer outputs raw scores" in text
    assert "from_logits=True" in text
    assert text.rstrip().endswith("FAIL  1 errors, 1 warnings, 0 notes")
    data = json.loads(report.to_json())
    assert data["verdict"] == "errors"
    assert data["parameters"]["epochs"] == 2
    assert [f["check"] for f in data["findings"]] == ["keras-activation-loss", "keras-tiny-data"]


def test_an_uncompiled_model_gets_a_note_not_a_verdict() -> None:
    x, y = images(40), np.random.default_rng(15).integers(0, 3, 40)
    report = preflight(small_cnn(3), (x, y))
    assert [(f.check, f.severity) for f in report.findings] == [("keras-loss-labels", leakcheck.Severity.INFO)]
    assert report.exit_code(fail_on="warning") == 0


# --- the callback ---------------------------------------------------------------------------------------
def test_callback_raises_before_the_first_batch() -> None:
    rng = np.random.default_rng(13)
    x, y = rng.random((64, 8)).astype("float32"), keras.utils.to_categorical(rng.integers(0, 5, 64), 5)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["binary_accuracy"])
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(RefusedError, match="training stopped by leakcheck") as caught:
        model.fit(x, y, epochs=2, verbose=0, callbacks=[LeakcheckCallback(train=(x, y))])
    assert caught.value.report is not None
    assert "keras-loss-labels" in checks_of(caught.value.report)
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)

    stop = LeakcheckCallback(train=(x, y), action="stop")
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[stop])
    assert len(history.epoch) == 1
    assert stop.preflight_report is not None

    keep_going = LeakcheckCallback(train=(x, y), stop_on="never")
    assert len(model.fit(x, y, epochs=2, verbose=0, callbacks=[keep_going]).epoch) == 2


def test_callback_audits_the_data_folder(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"train": 4, "test": 2})
    plant_leaks(root, 1)
    model = small_cnn(3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = images(12), np.repeat(np.arange(3), 4)
    callback = LeakcheckCallback(root, jobs=1)
    with pytest.raises(RefusedError, match="also appear in train"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.scan_report is not None
    assert callback.scan_report.leaking


# --- leak-adjusted evaluation -----------------------------------------------------------------------------
def test_evaluate_clean_separates_the_inflated_score_from_the_honest_one(tmp_path: Path) -> None:
    # Random labels on noise: a model can only memorise, so it is right on test copies of train images.
    root = write_folder(tmp_path / "data", {"train": 8, "test": 4}, classes=("a", "b", "c"))
    for cls in ("a", "b", "c"):
        for i in range(3):
            shutil.copy(root / "train" / cls / f"{i:03d}.png", root / "test" / cls / f"copy{i}.png")
    report = leakcheck.scan(root, jobs=1)
    common: dict[str, Any] = {"image_size": (32, 32), "batch_size": 32, "verbose": False, "shuffle": False}
    train_ds = keras.utils.image_dataset_from_directory(root / "train", **common)
    test_ds = keras.utils.image_dataset_from_directory(root / "test", **common)
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
         keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_ds, epochs=60, verbose=0, shuffle=False)
    result = evaluate_clean(model, report, test_ds, root=root)
    assert len(result.leaked) == 9
    assert result.full.images == 21
    assert result.clean.images == 12
    assert result.full.accuracy is not None
    assert result.clean.accuracy is not None
    assert result.full.accuracy > result.clean.accuracy + 0.2
    # The copies alone are (nearly) all right: that is the inflation.
    copies = [i for i, p in enumerate(test_ds.file_paths) if Path(p).name.startswith("copy")]
    x_test = np.concatenate([x for x, _ in test_ds])
    y_test = np.concatenate([y for _, y in test_ds])
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    assert np.mean(predicted[copies] == y_test[copies]) >= 0.8
    keys = [Path(p).relative_to(root).as_posix() for p in test_ds.file_paths]
    same = evaluate_clean(model, report, (x_test, y_test), keys=keys)
    assert same == result


# --- the trainer ----------------------------------------------------------------------------------------
SMALL = [
    "--backbone",
    "mobilenetv2",
    "--alpha",
    "0.35",
    "--image-size",
    "32",
    "--weights",
    "none",
    "-j",
    "1",
    "--no-cache",
]


def test_train_refuses_a_leaking_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_folder(tmp_path / "data", {"train": 6, "val": 2, "test": 2})
    plant_leaks(root, 1)
    out = tmp_path / "run"
    assert main(["train", str(root), "--out", str(out), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "test: 3 of 9 images (33.3%) also appear in train" in err
    assert "training refused" in err
    assert "--allow-leakage" in err
    assert not out.exists()


def test_train_one_epoch_on_a_clean_folder_writes_the_run_folder(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"train": 8, "val": 3, "test": 3})
    deeper = root / "test" / "red" / "extra"  # deeper folders keep the class of the first level
    deeper.mkdir()
    for image in sorted((root / "test" / "red").glob("*.png")):
        image.rename(deeper / image.name)
    out = tmp_path / "run"
    assert main(["train", str(root), "--out", str(out), "--epochs", "1", "-q", *SMALL]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    rows = list(csv.DictReader((out / "history.csv").read_text(encoding="utf-8").splitlines()))
    assert [r["epoch"] for r in rows] == ["1"]
    assert rows[0]["stage"] == "head"
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["classes"] == ["blue", "green", "red"]
    assert summary["images"] == {"train": 24, "val": 9, "test": 9}
    assert summary["scan"]["verdict"] == "clean"
    assert summary["evaluation"]["test"]["full"]["images"] == 9
    assert summary["evaluation"]["test"]["clean"]["images"] == 9
    assert summary["confusion_matrix"]["split"] == "test"
    assert sum(map(sum, summary["confusion_matrix"]["matrix"])) == 9
    per_class = json.loads((out / "per_class.json").read_text(encoding="utf-8"))
    assert [c["class"] for c in per_class["classes"]] == ["blue", "green", "red"]
    assert [c["support"] for c in per_class["classes"]] == [3, 3, 3]
    assert str(tmp_path) not in (out / "summary.json").read_text(encoding="utf-8")
    # The saved model takes raw 0-255 images: the backbone's preprocessing is a layer inside it.
    model = keras.models.load_model(out / "model.keras")
    probs = model.predict(images(2), verbose=0)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_train_with_allowed_leakage_and_a_weights_file(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"train": 6, "test": 3})
    plant_leaks(root, 2)
    pretrained = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    weights_file = tmp_path / "base.weights.h5"
    pretrained.save_weights(weights_file)
    options = TrainOptions(
        backbone="mobilenetv2", alpha=0.35, image_size=32, weights=str(weights_file), epochs=1,
        fine_tune_epochs=1, allow_leakage=True,
    )  # fmt: skip
    result = train(root, tmp_path / "run", options=options, jobs=1)
    assert result.scan.leaking
    test = result.evaluations["test"]
    assert (test.full.images, test.clean.images, len(test.leaked)) == (15, 9, 6)
    assert "val" not in result.evaluations  # carved out of train: no split of its own in the scan
    assert result.summary["options"]["weights"] == "file:base.weights.h5"
    history = list(csv.DictReader((tmp_path / "run" / "history.csv").read_text(encoding="utf-8").splitlines()))
    assert [r["stage"] for r in history] == ["head", "fine-tune"]
    assert float(history[1]["learning_rate"]) == pytest.approx(1e-5)
    # The frozen stem kept the weights from the file; only the last block was fine-tuned.
    saved = keras.models.load_model(tmp_path / "run" / "model.keras")
    base = next(layer for layer in saved.layers if layer.name.startswith("mobilenetv2"))
    np.testing.assert_array_equal(
        base.get_layer("Conv1").get_weights()[0], pretrained.get_layer("Conv1").get_weights()[0]
    )


def test_the_validation_hold_out_keeps_every_set_of_copies_on_one_side(tmp_path: Path) -> None:
    """No val/ folder and copies inside train/: a copy on each side of the cut would be a leak."""
    root = write_folder(tmp_path / "data", {"train": 8, "test": 2})
    for cls in TINTS:
        for i in range(4):
            shutil.copy(root / "train" / cls / f"{i:03d}.png", root / "train" / cls / f"dup{i}.png")
    options = TrainOptions(backbone="mobilenetv2", alpha=0.35, image_size=32, weights="none", epochs=1)
    result = train(root, tmp_path / "run", options=options, jobs=1, cache=False)
    assert len(result.held_out) == int(0.2 * 36)
    assert result.summary["images"] == {"train": 36 - len(result.held_out), "val": len(result.held_out), "test": 6}
    every = {p.relative_to(root).as_posix() for p in (root / "train").rglob("*.png")}
    held = set(result.held_out)
    assert held <= every
    trained_on = {(root / key).read_bytes() for key in every - held}
    assert not [key for key in held if (root / key).read_bytes() in trained_on]


def test_a_hold_out_that_must_split_a_set_of_copies_is_refused() -> None:
    from leakcheck.index import Relation
    from leakcheck.keras.training import _hold_out

    keys = [f"train/a/{i}.png" for i in range(5)]
    star = [Relation(keys[0], "train", "a", k, "train", "a", "exact-bytes", 0) for k in keys[1:]]
    assert _hold_out(keys, [], 0.2, 0) in ([0], [1], [2], [3], [4])
    with pytest.raises(InputError, match="without splitting a set of duplicates"):
        _hold_out(keys, star, 0.2, 0)
    # A near link chains sets together just like an exact copy.
    near = [*star[:2], Relation(keys[3], "train", "a", keys[4], "train", "a", "near", 3, 0.9)]
    held = _hold_out(keys, near, 0.4, 1)
    assert held == [3, 4]


def test_imagenet_weights_only_from_the_local_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    root = write_folder(tmp_path / "data", {"train": 2, "test": 1})
    args = ["train", str(root), "--out", str(tmp_path / "run"), "--weights", "imagenet", "-q", "-j", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in err
    assert "never downloads" in err
    assert not (tmp_path / "run").exists()


def test_missing_weights_are_one_line_before_tensorflow_starts(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"train": 2, "test": 1})
    done = _python(
        "import sys\nfrom leakcheck.cli import main\n"
        f"code = main(['train', {str(root)!r}, '--out', {str(tmp_path / 'run')!r}, '-q'])\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\nsys.exit(code)",
        KERAS_HOME=str(tmp_path / "keras-home"),
    )
    assert done.returncode == 2
    assert done.stdout.strip() == "[]"  # TensorFlow was never imported
    (line,) = done.stderr.splitlines()
    assert line.startswith("leakcheck: error: ImageNet weights for ResNet50 are not in the local Keras cache")
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in line


def test_a_broken_cached_weights_file_is_named_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    cached = tmp_path / "keras-home" / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir(parents=True)
    root = write_folder(tmp_path / "data", {"train": 2, "test": 1})
    args = ["train", str(root), "--out", str(tmp_path / "run"), "--image-size", "32", "-q", "-j", "1", "--no-cache"]
    cached.write_bytes(b"")  # an interrupted download
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"{cached}: the weights file cannot be read (empty)" in line
    assert "delete it" in line
    # An HDF5 file cut short passes the quick look and fails in h5py, while the model is built.
    cached.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(2000))
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"{cached}: the weights file cannot be read (" in line
    assert "Traceback" not in line
    assert not (tmp_path / "run").exists()


def test_mobilenetv2_weights_for_an_alpha_and_size_keras_publishes_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    root = write_folder(tmp_path / "data", {"train": 2, "test": 1})
    args = ["train", str(root), "--out", str(tmp_path / "run"), "--backbone", "mobilenetv2", "-q"]
    assert main([*args, "--alpha", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "MobileNetV2 has no ImageNet weights for alpha 0.3" in err
    assert "0.35, 0.5, 0.75, 1, 1.3, 1.4" in err
    assert main([*args, "--alpha", "0.35", "--image-size", "160"]) == 2
    err = capsys.readouterr().err
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5 is missing" in err
    # The call to run where there is a network caches that very file.
    assert "MobileNetV2(include_top=False, weights='imagenet', alpha=0.35, input_shape=(160, 160, 3))" in err


def test_train_checks_the_data_and_the_run_folder_before_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A missing folder is named as such (not the weights, which are checked later).
    missing = tmp_path / "nope"
    assert main(["train", str(missing), "--out", str(tmp_path / "run"), "--weights", "imagenet", "-q"]) == 2
    assert f"{missing}: no such folder" in capsys.readouterr().err
    # A run folder inside the data would be scanned as a split next time: refused, nothing written.
    root = write_folder(tmp_path / "data", {"train": 2, "test": 1})
    assert main(["train", str(root), "--out", str(root / "run"), *SMALL]) == 2
    assert "inside the data folder" in capsys.readouterr().err
    assert not (root / "run").exists()


# --- optional stays optional --------------------------------------------------------------------------
def _python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **environment}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)


def test_importing_leakcheck_and_scanning_never_imports_tensorflow(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", {"train": 1, "test": 1})
    done = _python(
        "import sys, leakcheck, leakcheck.cli\n"
        f"leakcheck.scan({str(root)!r}, jobs=1)\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_missing_tensorflow_gives_the_install_hint() -> None:
    done = _python(
        "import sys\nsys.modules['tensorflow'] = None\nfrom leakcheck.cli import main\n"
        "sys.exit(main(['train', 'nowhere']))"
    )
    assert done.returncode == 2
    assert "pip install 'leakcheck-images[tf]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_importing_leakcheck_keras_without_tensorflow_raises_an_import_error_with_the_hint() -> None:
    done = _python(
        "import sys\nsys.modules['tensorflow'] = None\n"
        "try:\n    import leakcheck.keras\nexcept ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingExtraError leakcheck.keras needs TensorFlow and Keras")
    assert "pip install 'leakcheck-images[tf]'" in done.stdout


def test_public_api_of_leakcheck_keras() -> None:
    import leakcheck.keras as lk

    assert sorted(lk.__all__) == [
        "BackbonePreprocessing",
        "CleanEvaluation",
        "LeakcheckCallback",
        "PREFLIGHT_CHECKS",
        "Score",
        "TRAINABLE_BACKBONES",
        "TrainOptions",
        "TrainResult",
        "check_batchnorm",
        "evaluate_clean",
        "leaked_keys",
        "preflight",
        "train",
    ]
    assert all(hasattr(lk, name) for name in lk.__all__)
    assert [check.id for check in lk.PREFLIGHT_CHECKS] == [
        "keras-loss-labels",
        "keras-output-units",
        "keras-activation-loss",
        "keras-binary-accuracy",
        "keras-input-range",
        "keras-batchnorm-steps",
        "keras-eval-repeatable",
        "keras-split-overlap",
        "keras-class-order",
        "keras-class-coverage",
        "keras-tiny-data",
    ]
