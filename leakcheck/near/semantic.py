"""Optional semantic tier: pairs that a Keras model embeds close together ("the same scene, another shot").

Only when asked (`scan(..., semantic=...)`, `--semantic`), and only from weights already on disk:
either a saved Keras model file (`.keras`), or the name of a Keras application (`mobilenet_v2`,
`efficientnet_b0`, `resnet50`) whose no-top ImageNet weights are in the Keras cache
(`$KERAS_HOME/models` or `~/.keras/models`). leakcheck never downloads weights. TensorFlow is imported
here, lazily, and never on the plain scan path.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from leakcheck.errors import InputError, UsageError
from leakcheck.fingerprint import quiet_pillow

# name -> (keras.applications constructor, preprocess module, cached no-top weights file, input side)
APPLICATIONS: dict[str, tuple[str, str, str, int]] = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2",
                     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", 224),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", "efficientnetb0_notop.h5", 224),
    "resnet50": ("ResNet50", "resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", 224),
}  # fmt: skip
DEFAULT_MIN_SIMILARITY = 0.92
_BATCH = 32


class SemanticWeightsMissing(InputError):
    """The semantic tier was asked for, but its weights are not on disk."""


@dataclass(frozen=True)
class Embedder:
    """A loaded model: `embed(batch of HxWx3 uint8)` -> (n, d) float32 vectors."""

    name: str
    side: int
    embed: Callable[[NDArray[np.uint8]], NDArray[np.float32]]


def keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def _import_keras() -> Any:
    try:
        import keras
    except ImportError:
        raise UsageError(
            "the semantic tier needs TensorFlow/Keras", hint="pip install 'leakcheck-images[tf]'"
        ) from None
    return keras


def load_embedder(spec: str | os.PathLike[str]) -> Embedder:
    """A saved `.keras` model file, or an application name whose weights are in the Keras cache."""
    text = os.fspath(spec)
    if text in APPLICATIONS:
        ctor, module, filename, side = APPLICATIONS[text]
        weights = keras_cache() / filename
        if not weights.is_file():
            raise SemanticWeightsMissing(
                f"no weights for {text} at {weights}",
                hint="leakcheck never downloads: put the file there (or set KERAS_HOME), or pass a .keras model",
            )
        keras = _import_keras()
        try:
            model = getattr(keras.applications, ctor)(weights=str(weights), include_top=False, pooling="avg",
                                                      input_shape=(side, side, 3))  # fmt: skip
        except (OSError, ValueError) as exc:  # a truncated or foreign weights file
            raise InputError(
                f"{weights}: cannot load the weights of {text} ({exc})",
                hint="replace the file with the real Keras weights file (leakcheck never downloads)",
            ) from None
        preprocess = getattr(keras.applications, module).preprocess_input
        return Embedder(text, side, lambda batch: _predict(model, preprocess(batch.astype(np.float32))))
    path = Path(text)
    if not path.is_file():
        names = ", ".join(APPLICATIONS)
        raise SemanticWeightsMissing(
            f"{text}: no such model file", hint=f"pass a saved .keras model or one of {names} (from the Keras cache)"
        )
    keras = _import_keras()
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{text}: cannot load as a Keras model ({exc})", hint="save it with model.save('x.keras')"
        ) from None
    shape = model.input_shape
    # leakcheck feeds square RGB images in [0, 1]: (batch, side, side, 3).
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[3] not in (3, None) or shape[1] != shape[2]:
        raise InputError(
            f"{text}: the model takes inputs of shape {shape}; leakcheck feeds square RGB images "
            "(None, S, S, 3) with values in [0, 1]",
            hint="wrap the model so that it takes such images (resize, convert to grayscale inside it)",
        )
    side = int(shape[1]) if shape[1] is not None else 224
    return Embedder(path.name, side, lambda batch: _predict(model, batch.astype(np.float32) / 255.0, text))


def _predict(model: Any, batch: NDArray[np.float32], name: str = "the model") -> NDArray[np.float32]:
    raw = model(batch, training=False)
    if isinstance(raw, list | tuple | dict):
        raise InputError(f"{name}: the model has {len(raw)} outputs; an embedder has one", hint="keep one output")
    out = np.asarray(raw, dtype=np.float32)
    out = out.reshape(out.shape[0], -1)
    if out.shape[1] < 2:
        raise InputError(
            f"{name}: the model gives {out.shape[1]} number per image; an embedding needs several",
            hint="use the model's feature layer (before the classifier), not a single score",
        )
    return out


def embed_paths(embedder: Embedder, paths: Sequence[Path]) -> NDArray[np.float32]:
    """Unit-length embeddings of the images at `paths` (one row each), decoded at the model's size."""
    rows: list[NDArray[np.float32]] = []
    for start in range(0, len(paths), _BATCH):
        batch = [_pixels(p, embedder.side) for p in paths[start : start + _BATCH]]
        rows.append(embedder.embed(np.stack(batch)))
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = np.concatenate(rows)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _pixels(path: Path, side: int) -> NDArray[np.uint8]:
    """The image at `path` as side x side RGB. The scan decoded it already; should it fail now (changed
    since, or above Pillow's own size limit), it is a black square, whose embedding is nobody's near twin
    (Pillow's warnings about the file are ignored, as the scan ignores them)."""
    try:
        with warnings.catch_warnings():
            quiet_pillow()
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB").resize((side, side)), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError):
        return np.zeros((side, side, 3), dtype=np.uint8)


def similar_pairs(vectors: NDArray[np.float32], min_similarity: float) -> list[tuple[int, int, float]]:
    """All pairs i < j whose cosine similarity is at least `min_similarity`, sorted."""
    out: list[tuple[int, int, float]] = []
    for start in range(0, len(vectors), 1024):
        sims = vectors[start : start + 1024] @ vectors.T
        ii, jj = np.nonzero(sims >= min_similarity)
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            if start + i < j:
                out.append((start + i, j, round(float(sims[i, j]), 4)))
    return sorted(out)
