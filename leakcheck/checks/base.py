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
    """A percentage with one decimal that never shows a partial count as 100.0% (or a non-zero one as 0.0%)."""
    if whole == 0:
        return "0.0%"
    text = f"{100 * part / whole:.1f}%"
    if part < whole and text == "100.0%":
        return "99.9%"
    if part and text == "0.0%":
        return "<0.1%"
    return text


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
