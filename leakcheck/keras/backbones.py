"""Keras application backbones: how to recognise one inside a model, what input it expects, how to build one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import keras

from leakcheck.train_setup import weights_file

PreprocessMode = Literal["caffe", "tf", "torch", "internal"]

# What each mode of `keras.applications.imagenet_utils.preprocess_input` feeds the network.
EXPECTED_INPUT: dict[PreprocessMode, str] = {
    "caffe": "0-255 pixels converted to BGR with the ImageNet mean subtracted (about -124 to 152)",
    "tf": "pixels scaled to [-1, 1]",
    "torch": "[0, 1] pixels standardised with the ImageNet mean and std (about -2.1 to 2.6)",
    "internal": "raw 0-255 pixels (the model rescales them itself)",
}


@dataclass(frozen=True, slots=True)
class BackboneKind:
    """A keras.applications family: the layer names that identify it and the preprocessing it was trained with."""

    label: str
    mode: PreprocessMode
    signature: frozenset[str]
    preprocess: str

    @property
    def expects(self) -> str:
        return EXPECTED_INPUT[self.mode]


def _kind(label: str, mode: PreprocessMode, module: str, *names: str) -> BackboneKind:
    return BackboneKind(label, mode, frozenset(names), f"keras.applications.{module}.preprocess_input")


# Most specific first: ResNetV2 shares ResNet's stem names, Xception shares VGG's first block names.
KNOWN_BACKBONES: tuple[BackboneKind, ...] = (
    _kind("ResNetV2", "tf", "resnet_v2", "conv1_conv", "post_bn", "conv5_block3_out"),
    _kind("ResNet", "caffe", "resnet50", "conv1_conv", "conv2_block1_0_conv", "conv5_block3_out"),
    _kind("MobileNetV2", "tf", "mobilenet_v2", "Conv1", "block_16_project", "out_relu"),
    _kind("MobileNet", "tf", "mobilenet", "conv1", "conv_dw_1", "conv_pw_13"),
    _kind("EfficientNet", "internal", "efficientnet", "stem_conv", "block1a_dwconv", "top_conv"),
    _kind("Xception", "tf", "xception", "block1_conv1", "block14_sepconv2"),
    _kind("VGG", "caffe", "vgg16", "block1_conv1", "block5_conv3", "block5_pool"),
    _kind("DenseNet121", "torch", "densenet", "conv1_conv", "conv5_block16_concat"),
    _kind("InceptionV3", "tf", "inception_v3", "mixed0", "mixed10"),
)


def identify(layer_names: Iterable[str]) -> BackboneKind | None:
    """The known backbone whose identifying layer names all occur in `layer_names`, if any."""
    names = set(layer_names)
    return next((kind for kind in KNOWN_BACKBONES if kind.signature <= names), None)


@dataclass(frozen=True, slots=True)
class TrainableBackbone:
    """A backbone the bundled trainer can build: constructor, preprocessing module, weights file, last block."""

    name: str
    constructor: str
    module: str
    last_block: tuple[str, ...]

    def weights_file(self, *, image_size: int, alpha: float) -> str:
        """The file name Keras caches ImageNet weights (without the classifier top) under."""
        return weights_file(self.name, image_size=image_size, alpha=alpha)

    def build(self, *, image_size: int, weights: str | None, alpha: float) -> keras.Model:
        """The convolutional base without its classifier; `weights` is None or a local file path."""
        kwargs: dict[str, Any] = {"include_top": False, "weights": weights, "input_shape": (image_size, image_size, 3)}
        if self.name == "mobilenetv2":
            kwargs["alpha"] = alpha
        model: keras.Model = getattr(keras.applications, self.constructor)(**kwargs)
        return model

    def preprocess_input(self, x: Any) -> Any:
        return getattr(keras.applications, self.module).preprocess_input(x)

    def in_last_block(self, layer_name: str) -> bool:
        return layer_name.startswith(self.last_block)


TRAINABLE_BACKBONES: dict[str, TrainableBackbone] = {
    "resnet50": TrainableBackbone("resnet50", "ResNet50", "resnet50", ("conv5_block3_",)),
    "mobilenetv2": TrainableBackbone("mobilenetv2", "MobileNetV2", "mobilenet_v2", ("block_16_", "Conv_1")),
    "efficientnetb0": TrainableBackbone("efficientnetb0", "EfficientNetB0", "efficientnet", ("block7a_", "top_")),
}


@keras.saving.register_keras_serializable(package="leakcheck")
class BackbonePreprocessing(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type information
    """The backbone's own `preprocess_input` as a layer, so that a saved model takes raw 0-255 images."""

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if backbone not in TRAINABLE_BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; expected one of {', '.join(TRAINABLE_BACKBONES)}")
        self.backbone = backbone

    def call(self, inputs: Any) -> Any:
        return TRAINABLE_BACKBONES[self.backbone].preprocess_input(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config["backbone"] = self.backbone
        return config
