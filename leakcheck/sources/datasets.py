"""TensorFlow sources: `tf.data.Dataset` objects and TFDS datasets already prepared on disk.

TensorFlow and TFDS are imported only here, and only when one of these sources is used. Nothing is ever
downloaded: a TFDS dataset that is not prepared is an error that names the command which prepares it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from leakcheck.errors import DataNotFoundError, UsageError
from leakcheck.sources.arrays import ArrayListing, SplitArrays, array_listing
from leakcheck.splits import DEFAULT_ALIASES

_INSTALL_HINT = "pip install 'leakcheck-images[tf]'"


def is_tf_dataset(value: object) -> bool:
    """Whether `value` is a tf.data.Dataset, without importing TensorFlow when it cannot be one."""
    if not type(value).__module__.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return isinstance(value, tf.data.Dataset)


def _element_parts(spec: Any, image_key: str | None, label_key: str | None, where: str) -> tuple[Any, Any, Any]:
    """How to pick the image and the label out of one element: (image selector, label selector, image spec)."""
    if isinstance(spec, Mapping):
        keys = list(spec)
        image = image_key or ("image" if "image" in spec else None)
        if image is None:
            ranked = [k for k in keys if len(spec[k].shape) >= 2]
            if len(ranked) != 1:
                raise UsageError(f"{where}: cannot tell which of {keys} holds the image", hint="pass image_key=")
            image = ranked[0]
        label = label_key or ("label" if "label" in spec else None)
        for key in (image, label):
            if key is not None and key not in spec:
                raise UsageError(f"{where}: elements have no {key!r} entry (they have {keys})")
        return image, label, spec[image]
    if isinstance(spec, tuple | list):
        if not 1 <= len(spec) <= 3:
            raise UsageError(f"{where}: elements are {len(spec)}-tuples; expected (image, label) or (image, label, w)")
        return 0, (1 if len(spec) > 1 else None), spec[0]
    return None, None, spec


def _is_batched(image_spec: Any) -> bool:
    """Rank 4 is a batch of images; rank 3 is one HxWxC image when C is 1, 3 or 4, else a batch of HxW."""
    shape = image_spec.shape
    rank = len(shape)
    if rank == 4:
        return True
    if rank == 3:
        return shape[-1] not in (1, 3, 4)
    return False


def dataset_split(
    split: str,
    dataset: Any,
    *,
    image_key: str | None = None,
    label_key: str | None = None,
    batched: bool | None = None,
) -> SplitArrays:
    """Read every element of a tf.data.Dataset into numpy images and labels (one pass, in order).

    Elements may be `(image, label)` tuples, dicts (`image`/`label` keys by default), or bare images,
    batched or not; `batched=None` decides from the element shape.
    """
    where = f"split {split!r}"
    image_sel, label_sel, image_spec = _element_parts(dataset.element_spec, image_key, label_key, where)
    is_batched = _is_batched(image_spec) if batched is None else batched
    images: list[np.ndarray[Any, Any]] = []
    labels: list[Any] = []
    for element in dataset.as_numpy_iterator():
        image = element if image_sel is None else element[image_sel]
        label = None if label_sel is None else element[label_sel]
        if is_batched:
            images.extend(np.asarray(image))
            if label_sel is not None:
                labels.extend(np.asarray(label))
        else:
            images.append(np.asarray(image))
            if label_sel is not None:
                labels.append(label)
    return SplitArrays(split, images, np.asarray(labels) if label_sel is not None else None)


def read_datasets(
    datasets: Mapping[str, Any],
    *,
    image_key: str | None = None,
    label_key: str | None = None,
    batched: bool | None = None,
    label_names: Sequence[str] | None = None,
    aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    root: str = "tf.data",
) -> ArrayListing:
    """List the samples of `{"train": ds, "test": ds}`; see `dataset_split` for the element shapes.

    Raises:
        UsageError: a value is not a tf.data.Dataset, or its elements hold no recognisable image.
    """
    parts: list[SplitArrays] = []
    for split, ds in datasets.items():
        if not is_tf_dataset(ds):
            raise UsageError(f"split {split!r}: expected a tf.data.Dataset, got {type(ds).__name__}")
        parts.append(dataset_split(split, ds, image_key=image_key, label_key=label_key, batched=batched))
    if not parts:
        raise UsageError("no datasets given", hint='pass {"train": train_ds, "test": test_ds}')
    return array_listing(root, parts, label_names=label_names, aliases=aliases)


def prepare_command(name: str, data_dir: str | None) -> str:
    """The commands that prepare a TFDS dataset, for a message to a user."""
    cli = f"tfds build {name.split('/')[0]}"
    if "/" in name:
        cli += f" --config {name.split('/', 1)[1]}"
    if data_dir:
        cli += f" --data_dir {data_dir}"
    py_dir = f", data_dir={data_dir!r}" if data_dir else ""
    return f"{cli}, or in Python tfds.builder({name!r}{py_dir}).download_and_prepare()"


def read_tfds(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    splits: Sequence[str] | None = None,
    aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
) -> ArrayListing:
    """List the samples of a TFDS dataset (`NAME`, `NAME/CONFIG` or `NAME:VERSION`) prepared on disk.

    Raises:
        UsageError: TFDS is not installed, or the dataset has no image feature.
        DataNotFoundError: unknown name, or the dataset is not prepared in `data_dir`.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:  # optional: the `tf` extra
        raise UsageError("reading TFDS datasets needs tensorflow-datasets", hint=_INSTALL_HINT) from None
    dir_text = os.fspath(data_dir) if data_dir is not None else None
    try:
        builder = tfds.builder(name, data_dir=dir_text)
    except tfds.core.registered.DatasetNotFoundError:
        raise DataNotFoundError(
            f"tfds:{name}: no such TFDS dataset", hint="see 'tfds build --help' or the TFDS catalog for names"
        ) from None
    except ValueError as exc:  # an unknown config or version
        raise DataNotFoundError(f"tfds:{name}: {exc}") from None
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # is_prepared() logs a warning for the very case we report below
    try:
        prepared = builder.is_prepared()
    finally:
        absl.setLevel(level)
    if not prepared:
        raise DataNotFoundError(
            f"tfds:{name}: not prepared in {builder.data_dir}; leakcheck reads only data already on disk",
            hint=f"prepare it first with {prepare_command(name, dir_text)}",
        )
    info = builder.info
    features = info.features
    image_key, label_key = _tfds_keys(info, name)
    names: list[str] | None = None
    if label_key is not None and isinstance(features[label_key], tfds.features.ClassLabel):
        names = list(features[label_key].names)
    wanted = list(splits) if splits else sorted(info.splits)
    known = set(info.splits)
    unknown = [s for s in wanted if known and s not in known]
    if unknown:
        raise UsageError(f"tfds:{name}: no split {unknown[0]!r}; it has {', '.join(sorted(known))}")
    parts = []
    for split in wanted:
        ds = builder.as_dataset(split=split, shuffle_files=False)
        parts.append(dataset_split(split, ds, image_key=image_key, label_key=label_key, batched=False))
    return array_listing(f"tfds:{name}", parts, label_names=names, aliases=aliases)


def _tfds_keys(info: Any, name: str) -> tuple[str, str | None]:
    """The image and label features: the supervised keys when declared, else the only Image feature."""
    import tensorflow_datasets as tfds

    features = info.features
    if info.supervised_keys and len(info.supervised_keys) >= 2:
        image, label = info.supervised_keys[0], info.supervised_keys[1]
        if isinstance(image, str) and isinstance(label, str) and isinstance(features[image], tfds.features.Image):
            return image, label
    images = [k for k in features if isinstance(features[k], tfds.features.Image)]
    if len(images) != 1:
        raise UsageError(f"tfds:{name}: cannot tell which feature is the image (has {', '.join(features)})")
    labels = [k for k in features if isinstance(features[k], tfds.features.ClassLabel)]
    return images[0], ("label" if "label" in labels else (labels[0] if labels else None))
