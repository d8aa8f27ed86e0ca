"""The Report: findings, per-split statistics, duplicate relations and the parameters used."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from leakcheck.checks.base import plural
from leakcheck.errors import UsageError
from leakcheck.index import Index, Relation
from leakcheck.model import Finding, Severity, Skipped
from leakcheck.splits import TRAIN, split_order

if TYPE_CHECKING:
    import pandas as pd

    from leakcheck.render.notebook import PairsView

SCHEMA_VERSION = 1
FailOn = Literal["error", "warning", "never"]
PAIR_COLUMNS = ("a_path", "a_split", "a_label", "b_path", "b_split", "b_label", "kind", "distance", "score",
                "explanation")  # fmt: skip
LEAK_CHECK = "cross-split-duplicates"


@dataclass(frozen=True, slots=True)
class SplitStats:
    """What one split holds."""

    split: str
    images: int
    unreadable: int
    classes: Mapping[str, int]
    modes: Mapping[str, int]
    formats: Mapping[str, int]
    channel_mean: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "unreadable": self.unreadable,
            "classes": dict(self.classes),
            "modes": dict(self.modes),
            "formats": dict(self.formats),
            "channel_mean": list(self.channel_mean),
        }


@dataclass(frozen=True, slots=True)
class LeakLine:
    """One line of the headline: how much of an evaluation split also appears in an earlier split."""

    split: str
    other: str | None
    leaked: int
    total: int
    message: str
    # False when the cross-split check did not run (skipped): the line says so instead of "no images".
    checked: bool = True

    @property
    def status(self) -> Literal["leak", "ok", "skipped"]:
        return "leak" if self.leaked else ("ok" if self.checked else "skipped")

    @property
    def tag(self) -> str:
        return {"leak": "LEAK", "ok": "ok", "skipped": "skip"}[self.status]


def exit_code(report: Report, *, fail_on: FailOn = "error") -> int:
    """The one place that turns evidence into a CI verdict: 1 when a finding reaches `fail_on`, else 0.

    Raises:
        UsageError: `fail_on` is not "error", "warning" or "never".
    """
    if fail_on not in ("error", "warning", "never"):
        raise UsageError(f"fail_on must be 'error', 'warning' or 'never', got {fail_on!r}")
    if fail_on == "never":
        return 0
    threshold = Severity.parse(fail_on)
    return 1 if any(f.severity >= threshold for f in report.findings) else 0


@dataclass(frozen=True, slots=True, repr=False)
class Report:
    """The result of a scan. Deterministic: findings, splits and relations are sorted."""

    root: str
    findings: tuple[Finding, ...]
    splits: tuple[SplitStats, ...]
    relations: tuple[Relation, ...]
    skipped: tuple[Skipped, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""
    # Where the scanned folder is, for image previews in notebooks; never serialized (outputs stay
    # independent of where the data lives) and not part of equality.
    root_path: Path | None = field(default=None, compare=False, repr=False)
    # True when this is the report an earlier scan of the same, unchanged folder stored (leakcheck.memo);
    # never serialized and not part of equality.
    reused: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "findings", tuple(sorted(self.findings, key=Finding.sort_key)))
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    # --- verdict -------------------------------------------------------------------------------------
    def exit_code(self, fail_on: FailOn = "error") -> int:
        return exit_code(self, fail_on=fail_on)

    def counts(self) -> dict[str, int]:
        c = Counter(str(f.severity) for f in self.findings)
        return {s: c[s] for s in ("error", "warning", "info")}

    @property
    def leaking(self) -> bool:
        return any(f.check == LEAK_CHECK for f in self.findings)

    def ran(self, check: str) -> bool:
        """Whether `check` ran in the scan (a report built without the scan's parameters: assumed so)."""
        checks = self.parameters.get("checks")
        return not isinstance(checks, Mapping) or check in checks

    def leaked_per_split(self) -> dict[str, int]:
        """How many distinct images of each split also appear in some earlier split."""
        leaked: dict[str, set[str]] = {}
        for f in self.findings:
            if f.check == LEAK_CHECK:
                leaked.setdefault(str(f.metrics["split"]), set()).update(f.samples)
        return {split: len(keys) for split, keys in leaked.items()}

    def headline(self) -> list[LeakLine]:
        """One line per evaluation split: its leaks into earlier splits, that it has none, or (when the
        cross-split check was skipped) that nobody looked."""
        lines: list[LeakLine] = []
        checked = self.ran(LEAK_CHECK)
        # (An empty split has nothing to leak, nor anything to leak into: the properties check warns of it.)
        names = [s.split for s in self.splits if s.images or s.unreadable]
        for split in names:
            leaks = [f for f in self.findings if f.check == LEAK_CHECK and f.metrics.get("split") == split]
            for f in sorted(leaks, key=lambda f: split_order(str(f.metrics["other"]))):
                lines.append(
                    LeakLine(
                        split,
                        str(f.metrics["other"]),
                        int(f.metrics["leaked"]),
                        int(f.metrics["total"]),
                        f.message,
                    )
                )
            if not leaks and split != TRAIN and len(names) > 1:
                earlier = ", ".join(n for n in names if split_order(n) < split_order(split))
                if earlier and not checked:
                    message = f"{split}: not checked against {earlier} ({LEAK_CHECK} was skipped)"
                    lines.append(LeakLine(split, None, 0, 0, message, checked=False))
                elif earlier:
                    lines.append(LeakLine(split, None, 0, 0, f"{split}: no images also appear in {earlier}"))
        return lines

    # --- data views ----------------------------------------------------------------------------------
    def pairs(self) -> pd.DataFrame:
        """Every duplicate relation as a DataFrame with the pairs-CSV columns."""
        import pandas as pd

        # (No rows: the dtypes a row of each column's type gives, so that an empty frame has them too.)
        rows: list[tuple[object, ...]] = [r.row() for r in self.relations] or [("",) * 7 + (0, 0.0, "")]
        frame = pd.DataFrame(rows, columns=list(PAIR_COLUMNS)).iloc[: len(self.relations)]
        return frame.astype({"distance": "int64", "score": "float64"})

    def to_frame(self) -> pd.DataFrame:
        """One row per finding."""
        import pandas as pd

        rows = [
            {"id": f.id, "check": f.check, "severity": str(f.severity), "message": f.message,
             "samples": len(f.samples), "hint": f.hint or ""}
            for f in self.findings
        ] or [{"id": "", "check": "", "severity": "", "message": "", "samples": 0, "hint": ""}]  # fmt: skip
        columns = ["id", "check", "severity", "message", "samples", "hint"]
        frame = pd.DataFrame(rows, columns=columns).iloc[: len(self.findings)]  # (as in pairs(): typed when empty)
        return frame.astype({"samples": "int64"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "leakcheck", "version": self.version},
            "root": self.root,
            "verdict": "leak" if self.leaking else ("errors" if self.counts()["error"] else "clean"),
            "parameters": plain(self.parameters),
            "summary": {
                "images": sum(s.images for s in self.splits),
                "unreadable": sum(s.unreadable for s in self.splits),
                "skipped": len(self.skipped),
                "findings": self.counts(),
            },
            "headline": [line.message for line in self.headline()],
            "splits": {s.split: s.to_dict() for s in self.splits},
            "findings": [plain(f.to_dict()) for f in self.findings],
            "pairs": [dict(zip(PAIR_COLUMNS, r.row(), strict=True)) for r in self.relations],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False) + "\n"

    def __repr__(self) -> str:
        """A one-line summary (a plain Python shell shows this; the whole report is in `findings`,
        `relations`, `to_frame()` and `to_json()`)."""
        c = self.counts()
        images = sum(s.images for s in self.splits)
        verdict = "LEAK" if self.leaking else ("FAIL" if c["error"] else "PASS")
        return (
            f"<Report {self.root!r}: {verdict}, {plural(len(self.splits), 'split')}, {plural(images, 'image')}; "
            f"{plural(c['error'], 'error')}, {plural(c['warning'], 'warning')}, {plural(c['info'], 'note')}; "
            f"{plural(len(self.relations), 'duplicate pair')}>"
        )

    def _repr_html_(self) -> str:
        from leakcheck.render.notebook import render_notebook_html, report_thumbnailer

        return render_notebook_html(self, thumbnail=report_thumbnailer(self))

    def show_pairs(self, n: int = 20) -> PairsView:
        """The first `n` duplicate pairs side by side with previews, for display in a notebook."""
        from leakcheck.render.notebook import PairsView

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UsageError(f"show_pairs(n): n must be a whole number of at least 1, not {n!r}")
        return PairsView(self, n)


def plain(value: Any) -> Any:
    """Mappings and tuples as JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def split_stats(index: Index) -> tuple[SplitStats, ...]:
    out: list[SplitStats] = []
    for split in index.splits:
        fps = [fp for fp in index.samples if fp.record.split == split]
        failed = sum(1 for fp in index.failed if fp.record.split == split)
        classes = Counter(fp.record.label for fp in (*fps, *(f for f in index.failed if f.record.split == split)))
        labelled = {k: v for k, v in classes.items() if k is not None}
        means: tuple[float, ...] = ()
        rgb = [fp.stats.mean for fp in fps if fp.stats is not None and len(fp.stats.mean) == 3]
        if rgb:
            means = tuple(round(sum(m[c] for m in rgb) / len(rgb), 3) for c in range(3))
        out.append(
            SplitStats(
                split=split,
                images=len(fps),
                unreadable=failed,
                classes=dict(sorted(labelled.items())),
                modes=dict(sorted(Counter(fp.mode for fp in fps).items())),
                formats=dict(sorted(Counter(fp.format for fp in fps).items())),
                channel_mean=means,
            )
        )
    return tuple(out)
