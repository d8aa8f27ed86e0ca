"""What a check is: a small object with validated keyword-only parameters and one `run(index)`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol

from leakcheck.index import Index
from leakcheck.model import Finding


class Check(Protocol):
    """A pure function of the index, with its parameters echoed in the report."""

    id: ClassVar[str]

    def params(self) -> Mapping[str, Any]: ...

    def run(self, index: Index) -> Iterable[Finding]: ...


def fmt_count(n: int) -> str:
    return f"{n:,}"


def fmt_percent(part: int, whole: int) -> str:
    """A percentage with one decimal that never rounds a partial count up to 100.0% (or down to 0.0%)."""
    if whole == 0:
        return "0.0%"
    tenths = part * 1000 // whole
    if part and tenths == 0:
        return "<0.1%"
    if part < whole and tenths == 1000:
        tenths = 999
    return f"{tenths / 10:.1f}%"
