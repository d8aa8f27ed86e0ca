"""Ignore globs: which relative sample paths a scan leaves out, with .gitignore-like rules.

A pattern without a slash (`*.tmp.png`, `_rejected`) matches any single path component, so it ignores a
file of that name anywhere, or a whole folder. A pattern with a slash is anchored at the data root
(`train/cats/*.png`, `test/**/draft-*`); `*` stays within one component and `**` spans any number of
them. A match on a folder ignores everything below it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from leakcheck.sources.folder import FolderListing


def check_pattern(pattern: str) -> str | None:
    """Why `pattern` is not a usable ignore glob, or None when it is."""
    if not pattern.strip():
        return "an empty pattern would match nothing"
    if pattern.startswith("/") or (len(pattern) > 1 and pattern[1] == ":"):
        return "patterns are relative to the data root; drop the leading '/'"
    if "\\" in pattern:
        return "use '/' to separate folders"
    if ".." in pattern.split("/"):
        return "'..' cannot name a path inside the data root"
    return None


@lru_cache(maxsize=4096)
def _segments_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pattern:
        return True  # the pattern named an ancestor folder of the path: everything below it is ignored
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_segments_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _segments_match(rest, parts[1:])


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """A set of ignore globs, checked against relative POSIX sample paths (`train/cat/001.jpg`)."""

    patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            problem = check_pattern(pattern)
            if problem:
                raise ValueError(f"ignore pattern {pattern!r}: {problem}")

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, key: str) -> bool:
        parts = tuple(key.split("/"))
        for raw in self.patterns:
            pattern = raw.removeprefix("./").rstrip("/")
            if "/" not in pattern:
                if any(fnmatchcase(part, pattern) for part in parts):
                    return True
            elif _segments_match(tuple(pattern.split("/")), parts):
                return True
        return False


def ignore_paths(listing: FolderListing, rules: IgnoreRules) -> FolderListing:
    """The listing without the samples and passed-over entries that `rules` ignore."""
    return dataclasses.replace(
        listing,
        records=tuple(r for r in listing.records if not rules.matches(r.key)),
        skipped=tuple(s for s in listing.skipped if not rules.matches(s.path)),
    )
