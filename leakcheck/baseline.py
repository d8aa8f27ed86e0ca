"""Baselines: today's findings recorded as accepted, so that a CI gate fails only on what is new.

A finding about many samples (`test: 40 of 900 images also appear in train`) is split into one entry per
sample, so that one newly leaked image is one new entry and the accepted forty stay accepted. An entry is
(check, scope, sample): the scope is the split pair or split the finding is about (`test:train`), the
sample its relative path. Findings about no sample (class balance) are one entry each, named by their
non-numeric metrics so that changed counts do not make them new.

Entries also carry the content digest of their file: a leaked file that was renamed or moved within the
data set still matches its entry. Relative paths make entries independent of where the data root lives.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakcheck.errors import BaselineError
from leakcheck.model import Finding, Severity
from leakcheck.report import FailOn, Report

BASELINE_FORMAT = "leakcheck-baseline"
BASELINE_VERSION = 1
# Metrics that say what a finding is about (rather than how much); they form an entry's scope.
_SCOPE_KEYS = ("split", "other", "problem", "match")
# Textual metrics that grade a finding rather than say what it is about: a colour-order warning whose
# confidence rises as the split grows is still the accepted warning.
_GRADING_KEYS = ("confidence",)


@dataclass(frozen=True, slots=True)
class Entry:
    """One accepted (or current) problem: a check about one sample, in one scope."""

    check: str
    scope: str
    sample: str
    digest: str = ""
    severity: Severity = field(default=Severity.WARNING, compare=False)

    @property
    def id(self) -> str:
        payload = "\0".join((self.check, self.scope, self.sample))
        return hashlib.sha1(payload.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]

    def sort_key(self) -> tuple[str, str, str]:
        return (self.check, self.scope, self.sample)

    def describe(self) -> str:
        return f"{self.check} [{self.scope}] {self.sample}" if self.scope else f"{self.check} {self.sample}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "check": self.check, "scope": self.scope, "sample": self.sample}
        if self.digest:
            out["digest"] = self.digest
        out["severity"] = str(self.severity)
        return out


def _scope(finding: Finding) -> str:
    return ":".join(str(finding.metrics[k]) for k in _SCOPE_KEYS if k in finding.metrics)


def _subject(finding: Finding) -> str:
    """What a finding about no sample is about: its textual metrics (class names), not its numbers."""
    parts: list[str] = []
    for key, value in sorted(finding.metrics.items()):
        if key in _SCOPE_KEYS or key in _GRADING_KEYS:
            continue
        if isinstance(value, str):
            parts.append(f"{key}={value}")
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            parts.append(f"{key}={','.join(value)}")
    if parts:
        return "; ".join(parts)
    # A finding whose scope says all it is about (a colour-order warning between two splits): its grading
    # and figures may change while it stays the same problem.
    return "-" if _scope(finding) and any(key in finding.metrics for key in ("problem", "other")) else finding.message


def entries_from(report: Report, digests: Mapping[str, str] | None = None) -> tuple[Entry, ...]:
    """The report's warnings and errors as baseline entries (informational findings never fail a gate).

    `digests` maps sample keys to content digests (see `file_digests`); missing keys get none.
    """
    digests = digests or {}
    by_id: dict[str, Entry] = {}
    for finding in report.findings:
        for entry in _entries_of(finding, digests):
            known = by_id.get(entry.id)
            if known is None or entry.severity > known.severity:
                by_id[entry.id] = entry
    return tuple(sorted(by_id.values(), key=Entry.sort_key))


def _entries_of(finding: Finding, digests: Mapping[str, str]) -> list[Entry]:
    """A warning's or error's entries: one per sample (or one for a finding about no sample)."""
    if finding.severity < Severity.WARNING:
        return []
    scope = _scope(finding)
    if finding.samples:
        return [Entry(finding.check, scope, key, digests.get(key, ""), finding.severity) for key in finding.samples]
    return [Entry(finding.check, scope, _subject(finding), "", finding.severity)]


def file_digests(root: str | Path, keys: Iterable[str]) -> dict[str, str]:
    """Content digests (BLAKE2b-128 of the bytes, as in fingerprints) of the files `root/key`; files that
    cannot be read are left out."""
    out: dict[str, str] = {}
    for key in keys:
        try:
            data = (Path(root) / key).read_bytes()
        except OSError:
            continue
        out[key] = hashlib.blake2b(data, digest_size=16).hexdigest()
    return out


def report_digests(report: Report, root: str | Path) -> dict[str, str]:
    """Digests of the files the report's warnings and errors name."""
    keys = {key for f in report.findings if f.severity >= Severity.WARNING for key in f.samples}
    return file_digests(root, sorted(keys))


def render_baseline_json(entries: Iterable[Entry]) -> str:
    """The baseline file: versioned, sorted, no timestamps or absolute paths, so that it diffs cleanly."""
    payload = {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "entries": [e.to_dict() for e in sorted(entries, key=Entry.sort_key)],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def parse_baseline(text: str, *, source: str = "baseline") -> tuple[Entry, ...]:
    """Entries from a baseline file's text.

    Raises:
        BaselineError: not JSON, not a leakcheck baseline, a newer version, or malformed entries.
    """
    redo = "re-create it with 'leakcheck baseline DATA -o FILE'"
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})", hint=redo) from None
    except RecursionError:  # (json parses nested arrays and objects recursively)
        raise BaselineError(f"{source}: not valid JSON (arrays or objects nested too deeply)", hint=redo) from None
    if not isinstance(payload, dict) or payload.get("format") != BASELINE_FORMAT:
        raise BaselineError(f"{source}: not a leakcheck baseline file", hint=redo)
    version = payload.get("version")
    # (type(): JSON's true equals 1 in Python.)
    if type(version) is not int or version != BASELINE_VERSION:
        raise BaselineError(
            f"{source}: baseline version {version!r} is not supported (this leakcheck reads {BASELINE_VERSION})",
            hint=redo,
        )
    raw_entries = payload.get("entries")
    if not isinstance(raw_entries, list):
        raise BaselineError(f"{source}: 'entries' must be a list", hint=redo)
    entries: list[Entry] = []
    for n, raw in enumerate(raw_entries):
        try:
            if not isinstance(raw, dict):
                raise ValueError(f"expected an object, got {type(raw).__name__}")
            if not all(isinstance(raw.get(k), str) for k in ("check", "scope", "sample")):
                raise ValueError("check, scope and sample must be strings")
            entries.append(
                Entry(
                    raw["check"],
                    raw["scope"],
                    raw["sample"],
                    str(raw.get("digest", "")),
                    Severity.parse(str(raw.get("severity", "warning"))),
                )
            )
        except (AttributeError, ValueError) as exc:
            raise BaselineError(f"{source}: entry {n} is malformed ({exc})", hint=redo) from None
    return tuple(entries)


def read_baseline(path: str | Path) -> tuple[Entry, ...]:
    """Entries from a baseline file.

    Raises:
        BaselineError: the file is missing or unreadable, or `parse_baseline` rejects it.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "create it with 'leakcheck baseline DATA -o FILE'"
        raise BaselineError(f"{path}: no such baseline file", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read ({exc})") from None
    return parse_baseline(text, source=str(path))


@dataclass(frozen=True, slots=True)
class Comparison:
    """Current entries against a baseline: which are new, which accepted, which no longer occur."""

    new: tuple[Entry, ...]
    accepted: tuple[Entry, ...]
    stale: tuple[Entry, ...]
    # (baseline entry, current entry) pairs matched by content digest: the file was renamed or moved.
    moved: tuple[tuple[Entry, Entry], ...] = ()
    # Baseline entries of checks that did not judge this run (skipped, or set to severity info): neither
    # confirmed nor gone.
    unchecked: tuple[Entry, ...] = ()
    # The ids of `new`, for `accepts` (asked once per finding).
    _new_ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_new_ids", frozenset(e.id for e in self.new))

    def exit_code(self, fail_on: FailOn = "error") -> int:
        """1 when a new entry reaches `fail_on`: accepted problems and stale entries never fail."""
        if fail_on == "never":
            return 0
        threshold = Severity.parse(fail_on)
        return 1 if any(e.severity >= threshold for e in self.new) else 0

    def accepts(self, finding: Finding) -> bool:
        """Whether the baseline accepts the whole finding: none of its entries is new."""
        return not any(e.id in self._new_ids for e in _entries_of(finding, {}))

    def new_samples(self, finding: Finding) -> list[str]:
        """The finding's samples whose entries are new (a finding can hold accepted and new samples)."""
        if not finding.samples:  # (its one entry names the finding's subject, not a sample)
            return []
        return [e.sample for e in _entries_of(finding, {}) if e.id in self._new_ids]

    def to_dict(self) -> dict[str, Any]:
        return {
            "new": [e.to_dict() for e in self.new],
            "accepted": len(self.accepted),
            "moved": [{"from": old.sample, "to": cur.sample, "check": cur.check} for old, cur in self.moved],
            "stale": [e.to_dict() for e in self.stale],
            "not_checked": [e.to_dict() for e in self.unchecked],
        }


def compare(current: Iterable[Entry], baseline: Iterable[Entry], *, unjudged: Collection[str] = ()) -> Comparison:
    """Match current entries to baseline ones: by id (same check, scope, sample), then the rest by content
    digest within the same check and scope (a renamed file), one to one.

    Baseline entries of the checks in `unjudged` (skipped in this run, or set to severity info, so that
    they produce no entries) are neither matched nor stale: they are `unchecked`."""
    every = list(baseline)
    unchecked = tuple(sorted((e for e in every if e.check in unjudged), key=Entry.sort_key))
    remaining = {e.id: e for e in every if e.check not in unjudged}
    accepted: list[Entry] = []
    unmatched: list[Entry] = []
    for entry in sorted(current, key=Entry.sort_key):
        if remaining.pop(entry.id, None) is not None:
            accepted.append(entry)
        else:
            unmatched.append(entry)
    by_content: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    for old in sorted(remaining.values(), key=Entry.sort_key):
        if old.digest:
            by_content[(old.check, old.scope, old.digest)].append(old)
    new: list[Entry] = []
    moved: list[tuple[Entry, Entry]] = []
    for entry in unmatched:
        candidates = by_content.get((entry.check, entry.scope, entry.digest)) if entry.digest else None
        if candidates:
            old = candidates.pop(0)
            del remaining[old.id]
            accepted.append(entry)
            moved.append((old, entry))
        else:
            new.append(entry)
    return Comparison(
        new=tuple(new),
        accepted=tuple(sorted(accepted, key=Entry.sort_key)),
        stale=tuple(sorted(remaining.values(), key=Entry.sort_key)),
        moved=tuple(moved),
        unchecked=unchecked,
    )
