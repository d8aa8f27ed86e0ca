"""Files that cannot be read, files passed over, mixed colour modes and image sizes per split."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from leakcheck.checks.base import fmt_count, plural
from leakcheck.index import Index
from leakcheck.model import Finding, Severity
from leakcheck.sources.folder import UNREADABLE_FOLDER

# Channel layout families: mixing them within or across splits means the model sees different inputs.
_FAMILY = {"1": "grayscale", "L": "grayscale", "LA": "grayscale+alpha", "I": "grayscale 32-bit",
           "I;16": "grayscale 16-bit", "I;16B": "grayscale 16-bit", "F": "grayscale float",
           "RGBA": "RGBA", "PA": "palette+alpha", "CMYK": "CMYK"}  # fmt: skip
_QUIET_SKIPS = ("hidden", "not an image file", "not in a split folder")


def mode_family(mode: str) -> str:
    return _FAMILY.get(mode, "RGB")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageProperties:
    """Unreadable images (error, one finding per file), folders and links passed over, mixed channel
    layouts (warning), empty splits (warning) and the size range of each split (info)."""

    id: ClassVar[str] = "image-properties"

    def params(self) -> Mapping[str, Any]:
        return {}

    def run(self, index: Index) -> Iterator[Finding]:
        for fp in index.failed:
            yield Finding(
                check=self.id,
                severity=Severity.ERROR,
                message=f"{fp.record.key}: {fp.error}",
                samples=(fp.record.key,),
                metrics={"split": fp.record.split, "problem": "unreadable"},
            )
        quiet: Counter[str] = Counter()
        for skip in index.skipped:
            if skip.reason in _QUIET_SKIPS:
                quiet[skip.reason] += 1
                continue
            # A folder that cannot be listed is like an unreadable file, and worse: none of its images
            # were checked for leaks.
            unreadable = skip.reason.startswith(UNREADABLE_FOLDER)
            yield Finding(
                check=self.id,
                severity=Severity.ERROR if unreadable else Severity.WARNING,
                message=f"{skip.path}: skipped, {skip.reason}",
                samples=(skip.path,),
                metrics={"problem": "skipped", "reason": skip.reason},
                hint="make the folder readable (or --ignore it): none of its images were scanned"
                if unreadable
                else "fix or remove the entry; its images (if any) were not scanned",
            )
        if quiet:
            parts = ", ".join(f"{fmt_count(n)} {reason}" for reason, n in sorted(quiet.items()))
            yield Finding(
                check=self.id,
                severity=Severity.INFO,
                message=f"skipped files: {parts}",
                metrics={"problem": "skipped", "counts": dict(sorted(quiet.items()))},
            )
        yield from self._per_split(index)

    def _per_split(self, index: Index) -> Iterator[Finding]:
        by_split: dict[str, list[int]] = defaultdict(list)
        for i, fp in enumerate(index.samples):
            by_split[fp.record.split].append(i)
        failed_splits = {fp.record.split for fp in index.failed}
        overall: Counter[str] = Counter(mode_family(fp.mode) for fp in index.samples)
        dominant = overall.most_common(1)[0][0] if overall else "RGB"
        for split in index.splits:
            members = by_split.get(split, [])
            if not members:
                if split not in failed_splits:
                    yield Finding(
                        check=self.id,
                        severity=Severity.WARNING,
                        message=f"{split}: no images",
                        metrics={"split": split, "problem": "empty"},
                        hint="add its images, or leave the split out (an empty folder, a pipeline that yields nothing)",
                    )
                continue
            families = Counter(mode_family(index.samples[i].mode) for i in members)
            odd = sorted(i for i in members if mode_family(index.samples[i].mode) != dominant)
            if odd:
                desc = ", ".join(f"{fmt_count(n)} {fam}" for fam, n in sorted(families.items()) if fam != dominant)
                yield Finding(
                    check=self.id,
                    severity=Severity.WARNING,
                    message=f"{split}: {desc} among {fmt_count(len(members))} images; most of the data is {dominant}",
                    samples=tuple(index.samples[i].record.key for i in odd),
                    metrics={
                        "split": split,
                        "problem": "mixed-modes",
                        "families": dict(sorted(families.items())),
                    },
                    hint=f"convert every image to {dominant} in the input pipeline so that all splits match",
                )
            widths = [index.samples[i].width for i in members]
            heights = [index.samples[i].height for i in members]
            med_w, med_h = statistics.median_low(widths), statistics.median_low(heights)
            yield Finding(
                check=self.id,
                severity=Severity.INFO,
                message=(
                    f"{split}: {plural(len(members), 'image')}, {min(widths)}x{min(heights)} to "
                    f"{max(widths)}x{max(heights)} (median {med_w}x{med_h})"
                ),
                metrics={
                    "split": split,
                    "problem": "sizes",
                    "width": {
                        "min": min(widths),
                        "median": statistics.median_low(widths),
                        "max": max(widths),
                    },
                    "height": {
                        "min": min(heights),
                        "median": statistics.median_low(heights),
                        "max": max(heights),
                    },
                },
            )
