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

    `key` is the stable, relative POSIX path (or `train[412]` for arrays) used in every output.
    """

    key: str
    split: str
    label: str | None
    path: Path | None = None


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
        """A stable id: the check plus the samples (relative keys), independent of where the root lives."""
        payload = "\0".join((self.check, *sorted(self.samples))) if self.samples else self.check + self.message
        return hashlib.sha1(payload.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]

    def sort_key(self) -> tuple[int, str, tuple[str, ...], str]:
        return (-int(self.severity), self.check, self.samples, self.message)

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
