"""In-memory samples: numpy arrays per split (Python), `.npz` files (command line), and the shared listing
that the CIFAR, TFDS and tf.data sources also produce.

The `.npz` convention, one entry per split name::

    x_<split>        images: N x H x W, N x H x W x C (C = 1, 3 or 4) or N x C x H x W (C = 1 or 3), any dtype
    y_<split>        labels (optional): N integers or strings, N x 1, or N x K one-hot
    group_<split>    group ids (optional): N integers or strings (patient, subject, video, ...)
    label_names      class names (optional), indexed by the integer labels

`np.savez("data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)` writes it from
`keras.datasets.cifar10.load_data()`.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from leakcheck.errors import DataNotFoundError, ManifestError
from leakcheck.model import Record
from leakcheck.pixels import finite_range, infer_scale
from leakcheck.splits import DEFAULT_ALIASES, canonical_split, split_order

_NPZ_KEY = re.compile(r"^(x|y|group)_(.+)$")


# One in-memory sample: its record, its pixels, and the value range its split is stored in.
Sample = tuple[Record, NDArray[Any], str]


class SampleListing(Protocol):
    """What the in-memory sources produce: samples to fingerprint one at a time, how many (if known), and
    the splits known to hold none."""

    @property
    def root(self) -> str: ...

    @property
    def total(self) -> int | None: ...

    @property
    def empty_splits(self) -> tuple[str, ...]: ...

    def samples(self) -> Iterator[Sample]: ...


@dataclass(frozen=True, slots=True)
class ArrayListing:
    """Samples held in memory: one record per image, its pixels, and the value range of its split."""

    root: str
    records: tuple[Record, ...]
    images: tuple[NDArray[Any], ...]
    scales: tuple[str, ...]
    # Splits given with no images (reported as empty rather than left out).
    empty_splits: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return len(self.records)

    def samples(self) -> Iterator[Sample]:
        return zip(self.records, self.images, self.scales, strict=True)


@dataclass(frozen=True, slots=True)
class SplitArrays:
    """One split as a source read it, before validation: images, and optional labels and groups."""

    split: str
    images: NDArray[Any] | Sequence[NDArray[Any]]
    labels: Any = None
    groups: Any = None


def array_listing(
    root: str,
    splits: Sequence[SplitArrays],
    *,
    label_names: Sequence[str] | None = None,
    aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    where: str = "",
) -> ArrayListing:
    """Validate the arrays of every split and list them as records keyed `split[i]`.

    Raises:
        ManifestError: an array has the wrong shape, or labels or groups do not match the images.
    """
    where = where or root
    seen: dict[str, str] = {}
    empty: list[str] = []
    records: list[Record] = []
    images: list[NDArray[Any]] = []
    scales: list[str] = []
    for part in sorted(splits, key=lambda s: split_order(canonical_split(s.split, aliases) or s.split)):
        split = canonical_split(part.split, aliases) or part.split
        if split in seen:
            raise ManifestError(f"{where}: {seen[split]!r} and {part.split!r} both name the split {split!r}")
        seen[split] = part.split
        pixels, scale = _images(part.images, f"{where}: split {part.split!r}")
        n = len(pixels)
        if n == 0:
            empty.append(split)
        labels = label_strings(part.labels, n, label_names, f"{where}: split {part.split!r} labels")
        groups = _strings(part.groups, n, f"{where}: split {part.split!r} groups")
        for i in range(n):
            records.append(Record(f"{split}[{i}]", split, labels[i], None, groups[i]))
            images.append(pixels[i])
            scales.append(scale)
    if not records:
        raise ManifestError(f"{where}: no images in any split", hint="pass at least one non-empty split")
    return ArrayListing(root, tuple(records), tuple(images), tuple(scales), tuple(empty))


def _images(images: Any, where: str) -> tuple[Sequence[NDArray[Any]], str]:
    """The images one by one, and the value range of the split."""
    if isinstance(images, np.ndarray) or not isinstance(images, Sequence):
        arr = np.asarray(images)
        if arr.size == 0 and arr.ndim == 1:  # np.array([]): a split with no images, as [] is
            return [], split_scale([])
        if arr.dtype.kind not in "buif":
            raise ManifestError(f"{where}: images have dtype {arr.dtype}, not numbers")
        if arr.ndim == 4 and arr.shape[1] in (1, 3) and arr.shape[3] not in (1, 3, 4):
            arr = arr.transpose(0, 2, 3, 1)  # channels first (PyTorch's NCHW)
        if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] not in (1, 3, 4)):
            raise ManifestError(
                f"{where}: images have shape {arr.shape}; expected N x H x W, N x H x W x C (C = 1, 3 or 4) "
                "or N x C x H x W (C = 1 or 3)"
            )
        lo, hi, _ = finite_range(arr)
        return list(arr), infer_scale(arr.dtype, lo, hi)
    listed = [np.asarray(im) for im in images]
    for i, im in enumerate(listed):
        if im.dtype.kind not in "buif" or im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[2] not in (1, 3, 4)):
            raise ManifestError(
                f"{where}: image {i} is {im.dtype} of shape {im.shape}; expected numbers, H x W or H x W x C "
                "with C = 1, 3 or 4"
            )
    return listed, split_scale(listed)


def split_scale(images: Sequence[NDArray[Any]]) -> str:
    """The value range a whole split is stored in (its finite minimum and maximum decide)."""
    if not images:
        return "0-255"
    first = images[0]
    if first.dtype == np.uint8:
        return "0-255"
    ranges = [finite_range(im)[:2] for im in images]
    return infer_scale(first.dtype, min(r[0] for r in ranges), max(r[1] for r in ranges))


def label_strings(labels: Any, n: int, names: Sequence[str] | None, where: str) -> list[str | None]:
    """Labels as strings: integers (mapped through `names` when given), strings, N x 1 or one-hot rows."""
    if labels is None:
        return [None] * n
    arr = _array(labels, where)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2 and arr.dtype.kind in "buif":
        arr = arr.argmax(axis=1)  # one-hot (or per-class scores): the class is the largest column
    if arr.ndim != 1:
        raise ManifestError(f"{where}: shape {arr.shape}; expected N labels, N x 1, or N x K one-hot")
    if len(arr) != n:
        raise ManifestError(f"{where}: {len(arr)} labels for {n} images")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ManifestError(f"{where}: float labels that are not whole numbers")
        arr = arr.astype(np.int64)
    if arr.dtype.kind in "biu":
        ints = arr.astype(np.int64).tolist()
        if names is not None:
            bad = [v for v in ints if not 0 <= v < len(names)]
            if bad:
                raise ManifestError(f"{where}: label {bad[0]} has no name ({len(names)} label names given)")
            return [names[v] for v in ints]
        return [str(v) for v in ints]
    return [_text_or_none(v) for v in arr.tolist()]


def _strings(values: Any, n: int, where: str) -> list[str | None]:
    if values is None:
        return [None] * n
    arr = _array(values, where)
    if arr.ndim != 1 or len(arr) != n:
        raise ManifestError(f"{where}: shape {arr.shape}; expected {n} values, one per image")
    return [_text_or_none(v) for v in arr.tolist()]


def _text_or_none(value: Any) -> str | None:
    """A label or group as text; None or an empty one means none (unlabelled), as an empty manifest cell does."""
    if value is None:
        return None
    text = _text(value)
    return text if text else None


def _array(values: Any, where: str) -> NDArray[Any]:
    try:
        return np.asarray(values)
    except ValueError as exc:  # ragged rows
        raise ManifestError(f"{where}: not one value per image ({exc})") from None


def _text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def mapping_splits(data: Mapping[str, Any]) -> list[SplitArrays]:
    """`{"train": (x, y), "test": (x, y)}` (or `x`, `(x,)`, `(x, y, groups)`) as SplitArrays. Only a
    tuple holds (images, labels, groups); a list is the images themselves (of varying sizes, say)."""
    out: list[SplitArrays] = []
    for split, value in data.items():
        if isinstance(value, tuple):
            if not 1 <= len(value) <= 3:
                raise ManifestError(
                    f"split {split!r}: expected (images,), (images, labels) or (images, labels, groups), "
                    f"got a {type(value).__name__} of {len(value)}"
                )
            out.append(SplitArrays(str(split), *value))
        else:
            out.append(SplitArrays(str(split), value))
    return out


def _check_member_size(path: str | os.PathLike[str], archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse an array member whose header claims more bytes than the member holds, before numpy allocates
    them (a damaged header can claim terabytes, and reading it would run out of memory).

    A member that is not a .npy array, or whose header numpy cannot parse, is left to `np.load` to report.
    """
    with archive.open(info) as fp:
        try:
            version = npy_format.read_magic(fp)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(fp)
            else:
                return
        except ValueError:
            return
        if dtype.hasobject:  # (refused by np.load as a pickle)
            return
        claimed = math.prod(int(n) for n in shape) * dtype.itemsize
        held = info.file_size - fp.tell()
    if claimed > held:
        raise ManifestError(
            f"{path}: not a readable .npz file ({info.filename} is corrupt or truncated: its header claims "
            f"{claimed:,} bytes, the file holds {max(held, 0):,})",
            hint="write it again with numpy.savez",
        )


def read_npz(
    path: str | os.PathLike[str],
    *,
    aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    label_names: Sequence[str] | None = None,
) -> ArrayListing:
    """Read an `.npz` file written with the `x_<split>`/`y_<split>` convention (module docstring).
    `label_names`, when given, names the integer labels instead of the file's own `label_names` array.

    Raises:
        DataNotFoundError: no such file.
        ManifestError: not an npz file, or arrays that do not follow the convention.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"{path}: no such file", hint="check the path")
    if not zipfile.is_zipfile(p):
        # (np.load would take any other file for a pickle and refuse it as one.)
        raise ManifestError(f"{path}: not a readable .npz file (not a zip archive)", hint="write it with numpy.savez")
    try:
        with zipfile.ZipFile(p) as archive:
            for info in archive.infolist():
                _check_member_size(path, archive, info)
        with np.load(p, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "pickle" not in str(exc):  # a damaged member: truncated, or not array data
            raise ManifestError(f"{path}: not a readable .npz file ({exc})", hint="write it with numpy.savez") from None
        raise ManifestError(
            f"{path}: holds Python objects ({exc})",
            hint="save plain numeric or string arrays; leakcheck never unpickles npz contents",
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ManifestError(f"{path}: not a readable .npz file ({exc})", hint="write it with numpy.savez") from None
    except RuntimeError as exc:  # zipfile: an encrypted member ("password required"), an unsupported method
        raise ManifestError(f"{path}: not a readable .npz file ({exc})", hint="write it with numpy.savez") from None
    names_array = arrays.pop("label_names", None)
    if label_names is None and names_array is not None:
        label_names = [_text(v) for v in names_array.tolist()]
    parts: dict[str, dict[str, NDArray[Any]]] = {}
    for key, value in sorted(arrays.items()):
        m = _NPZ_KEY.match(key)
        if m is None:
            raise ManifestError(
                f"{path}: unexpected array {key!r}",
                hint="name arrays x_<split>, y_<split>, group_<split> and label_names (see docs/sources.md)",
            )
        parts.setdefault(m.group(2), {})[m.group(1)] = value
    missing = sorted(split for split, arrs in parts.items() if "x" not in arrs)
    if missing:
        raise ManifestError(f"{path}: labels or groups for split {missing[0]!r} but no x_{missing[0]} images")
    if not parts:
        raise ManifestError(f"{path}: no x_<split> arrays", hint="save e.g. x_train, y_train, x_test, y_test")
    splits = [SplitArrays(s, a["x"], a.get("y"), a.get("group")) for s, a in parts.items()]
    return array_listing(p.name, splits, label_names=label_names, aliases=aliases, where=str(path))
