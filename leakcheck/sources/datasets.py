"""TensorFlow sources: `tf.data.Dataset` objects and TFDS datasets already prepared on disk.

TensorFlow and TFDS are imported only here, and only when one of these sources is used. Nothing is ever
downloaded: a TFDS dataset that is not prepared is an error that names the command which prepares it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leakcheck.errors import DataNotFoundError, UsageError
from leakcheck.model import Record
from leakcheck.pixels import finite_range, infer_scale
from leakcheck.sources.arrays import Sample, label_strings
from leakcheck.splits import DEFAULT_ALIASES, canonical_split, split_order

_INSTALL_HINT = "pip install 'leakcheck-images[tf]'"


def is_tf_dataset(value: object) -> bool:
    """Whether `value` is a tf.data.Dataset, without importing TensorFlow when it cannot be one."""
    if not type(value).__module__.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return isinstance(value, tf.data.Dataset)


_FLAT_HINT = "map the dataset to (image, label) or {'image': ..., 'label': ...} elements"


def _is_tensor(spec: Any) -> bool:
    return hasattr(spec, "shape") and hasattr(spec, "dtype")


def _may_be_image(spec: Any) -> bool:
    """Whether a tensor spec (or any tensor nested in it) could hold images: rank 2 or more, or unknown."""
    if _is_tensor(spec):
        return spec.shape.rank is None or spec.shape.rank >= 2
    parts = spec.values() if isinstance(spec, Mapping) else spec if isinstance(spec, tuple | list) else ()
    return any(_may_be_image(part) for part in parts)


def _element_parts(spec: Any, image_key: str | None, label_key: str | None, where: str) -> tuple[Any, Any, Any]:
    """How to pick the image and the label out of one element: (image selector, label selector, image spec).

    Raises:
        UsageError: the image (or the label) is not one tensor, or a dict's entry for it cannot be told.
    """
    if isinstance(spec, Mapping):
        keys = list(spec)
        image = image_key or ("image" if "image" in spec else None)
        if image is None:
            # The one entry that may hold images; a nested dict or tuple that may hide one makes it unclear.
            ranked = [k for k in keys if _may_be_image(spec[k])]
            nested = [k for k in ranked if not _is_tensor(spec[k])]
            if len(ranked) != 1 or nested:
                inside = f" ({', '.join(map(repr, nested))} holds nested entries)" if nested else ""
                raise UsageError(
                    f"{where}: cannot tell which of {keys} holds the image{inside}",
                    hint="pass image_key= and label_key= naming top-level entries, or " + _FLAT_HINT,
                )
            image = ranked[0]
        label = label_key or ("label" if "label" in spec else None)
        for key in (image, label):
            if key is not None and key not in spec:
                raise UsageError(f"{where}: elements have no {key!r} entry (they have {keys})")
        picked: tuple[Any, Any, Any] = (image, label, spec[image])
    elif isinstance(spec, tuple | list):
        if not 1 <= len(spec) <= 3:
            raise UsageError(f"{where}: elements are {len(spec)}-tuples; expected (image, label) or (image, label, w)")
        picked = (0, (1 if len(spec) > 1 else None), spec[0])
    else:
        picked = (None, None, spec)
    label_spec = None if picked[1] is None else spec[picked[1]]
    for part, part_spec in (("image", picked[2]), ("label", label_spec)):
        if part_spec is not None and not _is_tensor(part_spec):
            raise UsageError(
                f"{where}: the {part} part of each element is a {type(part_spec).__name__}, not a tensor",
                hint=("pass image_key=/label_key= naming a tensor entry, or " if isinstance(spec, Mapping) else "")
                + _FLAT_HINT,
            )
    return picked


def _is_batched(image_spec: Any, label_spec: Any, where: str) -> bool:
    """Rank 4 is a batch of images. Rank 3 is decided by the label when there is one (`_batched_by_label`);
    otherwise it is one HxWxC image when C is 1, 3 or 4 or not known yet (a JPEG decoded without
    `channels=`), or one CxHxW image (a known first axis of 1 or 3), else a batch of HxW. Rank 2 is one
    HxW image, unless its first axis is open and its second fixed, or its label says it is a batch: a batch
    of flattened vectors, which are not images.

    Raises:
        UsageError: the rank is unknown, or elements are batches of vectors.
    """
    shape = image_spec.shape
    if shape.rank is None:
        raise UsageError(
            f"{where}: the images' shape is unknown (a tf.numpy_function or py_function map?)",
            hint="give it with tf.ensure_shape in the map, or pass batched=True or False",
        )
    rank = shape.rank
    if rank == 4:
        return True
    if rank == 3:
        by_label = _batched_by_label(shape, label_spec)
        if by_label is not None:
            return by_label
        if _channels_first(shape):
            return False
        return shape[-1] is not None and shape[-1] not in (1, 3, 4)
    if rank == 2 and shape[1] is not None and (shape[0] is None or _batched_by_label(shape, label_spec)):
        raise UsageError(
            f"{where}: elements are batches of vectors of length {shape[1]}, not images",
            hint=f"reshape them to H x W or H x W x C images before scanning{_reshape_example(shape[1])}; or "
            "pass batched=False if each element really is one H x W image",
        )
    return False


def _batched_by_label(image_shape: Any, label_spec: Any) -> bool | None:
    """Whether an element is a batch, as its label tells: None when the label does not decide.

    One image has one label: a scalar, or a vector of K class scores (one-hot). A batch of B images has B
    labels: (B,) or (B, K), whose first axis is the images' first axis. So a scalar label is one image, a
    label whose first axis differs from the images' is one image's one-hot vector, and a label of rank 2
    or more with the images' first axis is a batch's. A vector as long as the images' first axis is a
    batch's labels when they are integers or strings; float vectors may be one image's one-hot vector (a
    3 x H x W image of one of 3 classes) or a batch's float labels, so they do not decide.
    """
    if label_spec is None or getattr(label_spec, "shape", None) is None or label_spec.shape.rank is None:
        return None
    if label_spec.shape.rank == 0:
        return False
    first, label_first = image_shape[0], label_spec.shape[0]
    if (first is None) != (label_first is None):
        return None
    if first is not None and first != label_first:
        return False
    if label_spec.shape.rank >= 2 or first is None:
        return True
    return None if label_spec.dtype.is_floating else True


def _refuse_vectors(image_spec: Any, where: str) -> None:
    """Elements of rank 0 or 1 (numbers, flattened images) are neither an image nor a batch of images.

    Raises:
        UsageError: they are.
    """
    shape = image_spec.shape
    if shape.rank is None or shape.rank >= 2:
        return
    length = shape[0] if shape.rank else None
    what = "numbers" if not shape.rank else "vectors" if length is None else f"vectors of length {length}"
    raise UsageError(
        f"{where}: the images are {what}, not H x W or H x W x C arrays",
        hint=f"reshape them to H x W or H x W x C images first, in a .map{_reshape_example(length)}",
    )


def _reshape_example(length: int | None) -> str:
    """The image shape a flattened vector of `length` values most likely had, for a hint ("" if unclear)."""
    for channels in (1, 3):
        side = math.isqrt(length // channels) if length else 0
        if length and side > 1 and side * side * channels == length:
            dims = f"{side}, {side}" if channels == 1 else f"{side}, {side}, 3"
            return f" (e.g. tf.reshape(v, ({dims})))"
    return ""


def _channels_first(shape: Any) -> bool:
    """Whether images of this shape (one image, H x W x C, or a batch of them) hold their channels first
    (C x H x W, as PyTorch lays them out): a known first image axis of 1 or 3 and a last that is not a
    channel count. (A batch's own axis is open, so a batch of grayscale images is not taken for one.)"""
    dims = list(shape)
    if len(dims) == 4:
        dims = dims[1:]
    return len(dims) == 3 and dims[0] in (1, 3) and dims[-1] is not None and dims[-1] not in (1, 3, 4)


@dataclass(frozen=True, slots=True)
class DatasetSplit:
    """One split of a tf.data pipeline: how to take the image and label out of its elements."""

    split: str
    dataset: Any
    image: Any  # the element key or index of the image; None when elements are bare images
    label: Any  # the same for the label; None when there is none
    batched: bool
    scale: str | None  # the value range, when the element type decides it (uint8); else measured
    count: int | None  # images in the split, when known in advance
    channels_first: bool = False  # images are C x H x W: turned to H x W x C as they are read


@dataclass(frozen=True, slots=True)
class DatasetListing:
    """tf.data splits read lazily: images are fingerprinted as they stream, never all held in memory."""

    root: str
    splits: tuple[DatasetSplit, ...]
    label_names: tuple[str, ...] | None = None

    @property
    def empty_splits(self) -> tuple[str, ...]:
        """Every split given, so that one yielding no image is reported as empty rather than left out: a
        pipeline of unknown cardinality (`.filter`, a generator) is known to be empty only once read."""
        return tuple(part.split for part in self.splits)

    @property
    def total(self) -> int | None:
        counts = [part.count for part in self.splits]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def samples(self) -> Iterator[Sample]:
        for part in self.splits:
            scale = part.scale or self._measure_scale(part)
            for i, (image, label) in enumerate(self._images(part)):
                where = f"split {part.split!r} element {i}"
                name = None if part.label is None else label_strings(np.asarray([label]), 1, self.label_names, where)[0]
                yield Record(f"{part.split}[{i}]", part.split, name), image, scale

    @staticmethod
    def _images(part: DatasetSplit) -> Iterator[tuple[np.ndarray[Any, Any], Any]]:
        for element in part.dataset.as_numpy_iterator():
            image = element if part.image is None else element[part.image]
            label = None if part.label is None else element[part.label]
            if part.batched:
                if np.ndim(image) < 3 or (label is not None and np.ndim(label) == 0):
                    raise UsageError(
                        f"split {part.split!r}: batched=True, but its elements are single images",
                        hint="pass batched=False (or leave it out to decide from the element shape)",
                    )
                labels = [None] * len(image) if label is None else list(label)
                if len(labels) != len(image):
                    raise UsageError(
                        f"split {part.split!r}: batched=True, but an element holds {len(image)} images and "
                        f"{len(labels)} labels",
                        hint="pass batched=False if each element is one image with a one-hot label",
                    )
                batch = _numeric(np.asarray(image))
                if part.channels_first:
                    batch = batch.transpose(0, 2, 3, 1)
                yield from zip(batch, labels, strict=True)
            else:
                single = _numeric(np.asarray(image))
                yield (single.transpose(1, 2, 0) if part.channels_first else single), label

    def _measure_scale(self, part: DatasetSplit) -> str:
        """A first pass over a split whose dtype does not decide its range: its finite minimum and maximum."""
        low, high, dtype = math.inf, -math.inf, None
        for image, _ in self._images(part):
            lo, hi, _ = finite_range(image)
            low, high, dtype = min(low, lo), max(high, hi), image.dtype
        return infer_scale(dtype, low, high) if dtype is not None else "0-255"


def _numeric(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """bfloat16 pixels (and TF's other ml_dtypes floats, opaque 'V' data to numpy) as float32, which holds
    every value they can: numpy reductions and the hashes need a numpy dtype."""
    return array.astype(np.float32) if array.dtype.kind == "V" else array


def dataset_split(
    split: str,
    dataset: Any,
    *,
    image_key: str | None = None,
    label_key: str | None = None,
    batched: bool | None = None,
    count: int | None = None,
) -> DatasetSplit:
    """Describe one tf.data.Dataset split: elements may be `(image, label)` tuples, dicts (`image`/`label`
    keys by default) or bare images, batched or not; `batched=None` decides from the element shape."""
    import tensorflow as tf

    where = f"split {split!r}"
    spec = dataset.element_spec
    image_sel, label_sel, image_spec = _element_parts(spec, image_key, label_key, where)
    label_spec = None if label_sel is None else spec[label_sel]
    if image_spec.dtype == tf.string:
        raise UsageError(
            f"{where}: the images are strings (file paths or encoded image bytes?), not pixels",
            hint="decode them first, e.g. ds.map(lambda path, y: (tf.io.decode_image(tf.io.read_file(path), "
            "expand_animations=False), y)), or scan the image folder or a manifest instead",
        )
    _refuse_vectors(image_spec, where)
    is_batched = _is_batched(image_spec, label_spec, where) if batched is None else batched
    if not is_batched and label_spec is not None and label_spec.dtype == tf.string and label_spec.shape.rank:
        raise UsageError(
            f"{where}: each element holds one image but {label_spec.shape.rank}-D string labels",
            hint="if each element is a batch of images, pass batched=True",
        )
    cardinality = int(dataset.cardinality())
    if cardinality == int(tf.data.INFINITE_CARDINALITY):
        raise UsageError(
            f"{where}: the dataset repeats forever (.repeat()), so a scan would never end",
            hint="scan a finite part: drop .repeat(), or take N elements with .take(N)",
        )
    if count is None and (not is_batched or cardinality == 0):
        count = cardinality if cardinality >= 0 else None
    scale = "0-255" if image_spec.dtype == tf.uint8 else None
    # (Rank 3 given as a batch is of grayscale images, whatever its first axis.)
    rank = image_spec.shape.rank
    first = _channels_first(image_spec.shape) if rank == 4 or (rank == 3 and not is_batched) else False
    return DatasetSplit(split, dataset, image_sel, label_sel, is_batched, scale, count, first)


def _listing(
    root: str,
    parts: Sequence[DatasetSplit],
    label_names: Sequence[str] | None,
    aliases: Mapping[str, tuple[str, ...]],
) -> DatasetListing:
    seen: dict[str, str] = {}
    named: list[DatasetSplit] = []
    for part in parts:
        split = canonical_split(part.split, aliases) or part.split
        if split in seen:
            raise UsageError(f"{root}: {seen[split]!r} and {part.split!r} both name the split {split!r}")
        seen[split] = part.split
        named.append(dataclasses.replace(part, split=split))
    named.sort(key=lambda part: split_order(part.split))
    return DatasetListing(root, tuple(named), tuple(label_names) if label_names is not None else None)


def read_datasets(
    datasets: Mapping[str, Any],
    *,
    image_key: str | None = None,
    label_key: str | None = None,
    batched: bool | None = None,
    label_names: Sequence[str] | None = None,
    aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    root: str = "tf.data",
) -> DatasetListing:
    """List `{"train": ds, "test": ds}`; each dataset is iterated when the samples are fingerprinted.

    Raises:
        UsageError: a value is not a tf.data.Dataset, or its elements hold no recognisable image.
    """
    parts: list[DatasetSplit] = []
    for split, ds in datasets.items():
        if not is_tf_dataset(ds):
            raise UsageError(f"split {split!r}: expected a tf.data.Dataset, got {type(ds).__name__}")
        parts.append(dataset_split(split, ds, image_key=image_key, label_key=label_key, batched=batched))
    if not parts:
        raise UsageError("no datasets given", hint='pass {"train": train_ds, "test": test_ds}')
    return _listing(root, parts, label_names, aliases)


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
) -> DatasetListing:
    """List the samples of a TFDS dataset (`NAME`, `NAME/CONFIG` or `NAME:VERSION`) prepared on disk.

    Raises:
        UsageError: TFDS is not installed, or the dataset has no image feature.
        DataNotFoundError: unknown name, or the dataset is not prepared in `data_dir`.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:  # optional: the `tf` extra
        raise UsageError("reading TFDS datasets needs tensorflow-datasets", hint=_INSTALL_HINT) from None
    dir_text = os.path.expanduser(os.fspath(data_dir)) if data_dir is not None else None
    if isinstance(splits, str):
        splits = [splits]
    try:
        builder = tfds.builder(name, data_dir=dir_text)
    except tfds.core.registered.DatasetNotFoundError:
        raise DataNotFoundError(
            f"tfds:{name}: no such TFDS dataset", hint="see 'tfds build --help' or the TFDS catalog for names"
        ) from None
    except (ValueError, AssertionError) as exc:  # an unknown config or version (TFDS asserts on some)
        raise DataNotFoundError(f"tfds:{name}: {str(exc).strip() or 'unknown config or version'}") from None
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
        count = info.splits[split].num_examples if split in known else None
        parts.append(dataset_split(split, ds, image_key=image_key, label_key=label_key, batched=False, count=count))
    return _listing(f"tfds:{name}", parts, names, aliases)


def _tfds_keys(info: Any, name: str) -> tuple[str, str | None]:
    """The image and label features: the supervised keys when declared, else the only Image feature."""
    import tensorflow_datasets as tfds

    features = info.features
    if info.supervised_keys and len(info.supervised_keys) >= 2:
        image, label = info.supervised_keys[0], info.supervised_keys[1]
        if isinstance(image, str) and isinstance(label, str) and isinstance(features[image], tfds.features.Image):
            return image, label
    images = [k for k in features if isinstance(features[k], tfds.features.Image)]
    if len(images) > 1 and "image" in images:  # (an image and its mask, say: the one named image)
        images = ["image"]
    if len(images) != 1:
        raise UsageError(
            f"tfds:{name}: cannot tell which feature is the image (has {', '.join(features)})",
            hint="load it with tfds.load(...) and pass the split datasets to leakcheck.scan_dataset with image_key=",
        )
    labels = [k for k in features if isinstance(features[k], tfds.features.ClassLabel)]
    return images[0], ("label" if "label" in labels else (labels[0] if labels else None))
