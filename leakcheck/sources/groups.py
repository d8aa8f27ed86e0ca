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
    """The group id `pattern` finds in the file name `name`, or None when it does not match."""
    m = pattern.search(name)
    if m is None:
        return None
    if "group" in pattern.groupindex:
        return m.group("group")
    return m.group(1) if pattern.groups else m.group(0)


def assign_groups(records: Sequence[Record], pattern: str) -> tuple[Record, ...]:
    """Records with `group` set from the last part of their key (the file name).

    Records that already carry a group (a manifest's group column) keep it.

    Raises:
        UsageError: a bad pattern, or one that matches none of the file names.
    """
    compiled = compile_group_pattern(pattern)
    out: list[Record] = []
    matched = 0
    for r in records:
        if r.group is not None:
            out.append(r)
            continue
        group = group_of(r.key.rsplit("/", 1)[-1], compiled)
        matched += group is not None
        out.append(dataclasses.replace(r, group=group) if group is not None else r)
    if records and not matched and all(r.group is None for r in out):
        example = records[0].key.rsplit("/", 1)[-1]
        raise UsageError(
            f"--group-pattern {pattern!r} matches none of the {len(records):,} file names (e.g. {example!r})",
            hint="the pattern is searched in each file name; use a capture group for the id, e.g. '^(P\\d+)_'",
        )
    return tuple(out)
