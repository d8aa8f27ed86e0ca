"""Group ids taken from file names with a regular expression (`--group-pattern`), e.g. a patient id."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from leakcheck.errors import UsageError
from leakcheck.model import Record


def compile_group_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a group pattern: its named group `group`, else its first capture group, else the match.

    Raises:
        UsageError: not a valid regular expression.
    """
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--group-pattern {pattern!r}: not a valid regular expression ({exc})") from None


def group_of(name: str, pattern: re.Pattern[str]) -> str | None:
    """The group id `pattern` finds in the file name `name`, or None when it does not match (or matches
    only an empty id: `^([a-z]*)` on `101.jpg` names no group)."""
    m = pattern.search(name)
    if m is None:
        return None
    found = m.group("group") if "group" in pattern.groupindex else m.group(1) if pattern.groups else m.group(0)
    return str(found) if found else None


class GroupNamer:
    """Sets `group` on records from their file name (the last part of the key), counting the matches.

    Records that already carry a group (a manifest's group column) keep it.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled = compile_group_pattern(pattern)
        self.seen = 0
        self.matched = 0
        self.example: str | None = None

    def __call__(self, record: Record) -> Record:
        self.seen += 1
        if record.group is not None:
            self.matched += 1
            return record
        name = record.key.rsplit("/", 1)[-1]
        self.example = self.example or name
        group = group_of(name, self._compiled)
        if group is None:
            return record
        self.matched += 1
        return dataclasses.replace(record, group=group)

    def check(self) -> None:
        """Raises UsageError when the pattern matched none of the file names it saw."""
        if self.seen and not self.matched:
            raise UsageError(
                f"--group-pattern {self.pattern!r} matches none of the {self.seen:,} file names "
                f"(e.g. {self.example!r})",
                hint="the pattern is searched in each file name; use a capture group for the id, e.g. '^(P\\d+)_'",
            )


def assign_groups(records: Sequence[Record], pattern: str) -> tuple[Record, ...]:
    """Records with `group` set from their file names by `pattern` (see GroupNamer).

    Raises:
        UsageError: a bad pattern, or one that matches none of the file names.
    """
    namer = GroupNamer(pattern)
    out = tuple(namer(r) for r in records)
    namer.check()
    return out
