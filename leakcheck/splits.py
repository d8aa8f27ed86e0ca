"""Split names: recognising the usual spellings, and the order reports list splits in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Canonical split -> spellings recognised case-insensitively (the canonical name included).
DEFAULT_ALIASES: Mapping[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation", "dev"),
    "test": ("test", "testing"),
}
TRAIN = "train"
_KNOWN_ORDER = ("train", "val", "test")


def canonical_split(name: str, aliases: Mapping[str, Iterable[str]] = DEFAULT_ALIASES) -> str | None:
    """The canonical split a folder name stands for, or None when it is not a recognised spelling."""
    folded = name.casefold()
    for canonical, spellings in aliases.items():
        if folded == canonical.casefold() or folded in (s.casefold() for s in spellings):
            return canonical
    return None


def split_order(split: str) -> tuple[int, str]:
    """Sort key: train, val, test first, then any other split alphabetically."""
    try:
        return (_KNOWN_ORDER.index(split), split)
    except ValueError:
        return (len(_KNOWN_ORDER), split)


def sorted_splits(splits: Iterable[str]) -> list[str]:
    return sorted(set(splits), key=split_order)
