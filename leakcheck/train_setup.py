"""Which weights the trainer loads and whether they are on disk: plain Python, no TensorFlow.

Outside `leakcheck.keras` (whose `__init__` imports TensorFlow), so that `leakcheck train` runs these
checks before TensorFlow is imported: a missing or broken weights file is one line and a quick exit 2,
not TensorFlow's start-up noise first. Keep it free of Keras and TensorFlow imports.
"""

from __future__ import annotations

import os
from pathlib import Path

from leakcheck.errors import DataNotFoundError, InputError, UsageError
from leakcheck.fixing import check_out_folder
from leakcheck.sources.folder import split_folders

# Backbone name -> keras.applications constructor.
CONSTRUCTORS = {"resnet50": "ResNet50", "mobilenetv2": "MobileNetV2", "efficientnetb0": "EfficientNetB0"}
# MobileNetV2's published ImageNet weights (keras.applications.MobileNetV2 refuses other alphas).
MOBILENET_V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def keras_cache() -> Path:
    """Where Keras keeps downloaded weights: `$KERAS_HOME/models`, by default `~/.keras/models`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def weights_file(backbone: str, *, image_size: int, alpha: float) -> str:
    """The file name Keras caches ImageNet weights (without the classifier top) under."""
    if backbone == "resnet50":
        return "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if backbone == "mobilenetv2":
        rows = image_size if image_size in MOBILENET_V2_ROWS else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return f"{backbone}_notop.h5"


def caching_call(backbone: str, *, image_size: int, alpha: float) -> str:
    """The keras.applications call that downloads (and caches) exactly the file `weights_file` names."""
    args = "include_top=False, weights='imagenet'"
    if backbone == "mobilenetv2":
        if float(alpha) != 1.0:
            args += f", alpha={float(alpha):g}"
        rows = image_size if image_size in MOBILENET_V2_ROWS else 224
        if rows != 224:
            args += f", input_shape=({rows}, {rows}, 3)"
    return f"keras.applications.{CONSTRUCTORS[backbone]}({args})"


def resolve_weights(backbone: str, weights: str, *, image_size: int, alpha: float) -> str | None:
    """None (random initialisation) or a local file for the backbone's `weights=`; never a download.

    Raises:
        UsageError: ImageNet weights were asked for a MobileNetV2 alpha that has none.
        InputError: the ImageNet weights are not in the local Keras cache, or the cached file is empty or
            not an HDF5 file (a broken download).
        DataNotFoundError: a weights file named by the user is missing.
    """
    if weights.lower() == "none":
        return None
    if weights.lower() == "imagenet":
        constructor = CONSTRUCTORS[backbone]
        if backbone == "mobilenetv2" and float(alpha) not in MOBILENET_V2_ALPHAS:
            raise UsageError(
                f"MobileNetV2 has no ImageNet weights for alpha {alpha:g}; Keras publishes them for alpha "
                f"{', '.join(f'{a:g}' for a in MOBILENET_V2_ALPHAS)}",
                hint="choose one of those alphas, or use --weights none or --weights FILE",
            )
        name = weights_file(backbone, image_size=image_size, alpha=alpha)
        path = keras_cache() / name
        if not path.is_file():
            raise InputError(
                f"ImageNet weights for {constructor} are not in the local Keras cache: {path} is missing "
                "(leakcheck never downloads)",
                hint=f"copy {name} there from a machine where "
                f"{caching_call(backbone, image_size=image_size, alpha=alpha)} has run, "
                "or use --weights none or --weights FILE",
            )
        if not _looks_like_hdf5(path):
            raise broken_weights(path, "empty" if path.stat().st_size == 0 else "not an HDF5 file")
        return str(path)
    path = Path(weights)
    if not path.is_file():
        raise DataNotFoundError(f"{weights}: no such weights file", hint="use --weights imagenet, none, or FILE")
    return str(path)


def broken_weights(path: str | os.PathLike[str], why: str) -> InputError:
    """The error for a weights file that exists but cannot be read (an interrupted download, most often)."""
    cached = Path(path).parent == keras_cache()
    again = "download it again on a machine with network access and copy it back" if cached else "write it again"
    return InputError(f"{path}: the weights file cannot be read ({why})", hint=f"delete it, then {again}")


def check_before_training(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    backbone: str,
    weights: str,
    image_size: int,
    alpha: float,
) -> str | None:
    """Everything the trainer checks before it reads an image, in order: the data folder, the run folder,
    the weights. Returns what `resolve_weights` returns.

    Raises:
        DataNotFoundError, LayoutError: `data` is missing or not a <split>/<class>/<image> folder.
        UsageError: `out` is not new or empty, or overlaps the data; or `resolve_weights` refuses.
        InputError: as `resolve_weights`.
    """
    root, out_dir = Path(data), Path(out)
    # The data first (a missing folder is the first thing to say), then where the run goes: never inside
    # the data, where the next scan would take the run folder for a split.
    split_folders(root)
    check_out_folder(root, out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"{out_dir}: already exists and is not empty", hint="choose a new --out folder")
    return resolve_weights(backbone, weights, image_size=image_size, alpha=alpha)


def _looks_like_hdf5(path: Path) -> bool:
    """An HDF5 signature where the format allows it (offset 0, 512, 1024, ...); Keras writes it at 0."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + len(_HDF5_SIGNATURE) <= size:
            handle.seek(offset)
            if handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False
