"""Text from the data (file names, class names) made safe to show on one line, for every renderer."""

from __future__ import annotations


def printable(text: str) -> str:
    """File names may hold control characters (newlines included); show them escaped so that one name
    stays on one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
