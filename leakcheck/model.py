"""The frozen values that flow through a scan: Record -> Fingerprint -> Finding."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from leakcheck.near.descriptor import NearDescriptor
from leakcheck.splits import split_order


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that `>=` compares strictness."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.upper()]
        except KeyError:
            choices = ", ".join(str(s) for s in cls)
            raise ValueError(f"unknown severity {value!r}; expected one of {choices}") from None


@dataclass(frozen=True, slots=True)
class Record:
    """One sample as a source sees it: where it is and what it is labelled; never its pixels.

    `key` is the stable, relative POSIX path (or `train[412]` for arrays) used in every output. `path` is
    None for in-memory samples (arrays, TFDS, tf.data), whose pixels go to `fingerprint_array` instead.
    `group` is what ties samples together beyond their pixels (a patient, subject, video or session).
    """

    key: str
    split: str
    label: str | None
    path: Path | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Per-channel statistics of the decoded pixels, in the image's own value range (0-255 for 8-bit)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    min: tuple[float, ...]
    max: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Everything later stages need from one sample, computed in one decode.

    `error` is set (and the image fields are empty) when the file could not be decoded; such samples
    take part in no duplicate search but are reported by the properties check.

    The hashes and the pixel digest are taken on a canonical 8-bit view (a float image in [0, 1] is
    scaled to 0-255 first), so that one image stored at two scales still matches. The fields after
    `error` describe the native pixels (`dtype`, `scale`, `nonfinite`) and simple properties of the
    8-bit view that the pixel and drift checks compare across splits.
    """

    record: Record
    file_size: int
    file_digest: str
    pixel_digest: str = ""
    phash: int = 0
    dhash: int = 0
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    stats: ChannelStats | None = None
    flat: bool = False
    error: str | None = None
    dtype: str = ""  # numpy dtype of the native pixels: "uint8", "float32", ...
    scale: str = ""  # native value range: one of pixels.SCALES ("0-255", "0-1", "-1-1", "0-65535", "other")
    nonfinite: int = 0  # NaN or infinite values (set to 0 in the 8-bit view)
    mean8: tuple[float, ...] = ()  # per-channel mean of the 8-bit view
    brightness: float = 0.0  # mean of the 8-bit grayscale view
    contrast: float = 0.0  # standard deviation of the 8-bit grayscale view
    sharpness: float = 0.0  # mean absolute Laplacian of the grayscale view at most 128 pixels a side
    clipped: float = 0.0  # fraction of 8-bit values (all colour channels) at 0 or 255
    jpeg_quality: int | None = None  # libjpeg quality estimated from the quantization tables (JPEG files)
    # The near-duplicate detector's compact view of the pixels (leakcheck.near); None for failed decodes.
    near: NearDescriptor | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file the source saw but did not treat as a sample (hidden, not an image, a link loop)."""

    path: str
    reason: str


def _freeze(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(metrics))


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of evidence: which check, how bad, one human sentence, the samples involved."""

    check: str
    severity: Severity
    message: str
    samples: tuple[str, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    hint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _freeze(self.metrics))

    @property
    def id(self) -> str:
        """A stable id: the check, the splits it is about and the samples (relative keys), independent
        of where the root lives (test's copies of train and test's copies of val, the same images, are
        two findings)."""
        scope = [f"{k}={self.metrics[k]}" for k in ("split", "other") if k in self.metrics]
        body = sorted(self.samples) if self.samples else [self.message]
        payload = "\0".join((self.check, *scope, *body))
        return hashlib.sha1(payload.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]

    def sort_key(self) -> tuple[int, str, tuple[int, str], tuple[str, ...], str]:
        """Most severe first, then by check, then in split order (train, val, test, others)."""
        return (
            -int(self.severity),
            self.check,
            split_order(str(self.metrics.get("split", ""))),
            self.samples,
            self.message,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "check": self.check,
            "severity": str(self.severity),
            "message": self.message,
            "samples": list(self.samples),
            "metrics": dict(self.metrics),
        }
        if self.hint:
            out["hint"] = self.hint
        return out
