"""Split drift: simple image properties whose distribution differs between train and an evaluation split.

Each property is compared with the two-sample Kolmogorov-Smirnov test (`leakcheck.ks`: scipy's
`ks_2samp` without importing scipy). A finding needs both a small
p-value (the difference is not chance: random splits give p-values spread evenly over 0..1), corrected
for the number of properties compared (Bonferroni: p times the number of tests), and a large statistic D
(the largest gap between the two cumulative distributions, 0..1), because with thousands of images a
trivial difference is already "significant". With the defaults, a random split of one data set raises a
finding in about one scan in a thousand.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from leakcheck.index import Index
from leakcheck.ks import ks_pvalue, ks_rounded, ks_statistic
from leakcheck.model import Finding, Fingerprint, Severity
from leakcheck.splits import TRAIN


@dataclass(frozen=True, slots=True)
class Property:
    """One measured property: its name, how to read it, the words for lower/higher, and what to do."""

    name: str
    value: Callable[[Fingerprint], float | None]
    lower: str
    higher: str
    hint: str


PROPERTIES: tuple[Property, ...] = (
    Property("brightness", lambda fp: fp.brightness, "darker", "brighter",
             "check that every split went through the same capture and preprocessing (exposure, colour "
             "correction, normalisation); otherwise collect evaluation data like the training data"),
    Property("contrast", lambda fp: fp.contrast, "lower in contrast", "higher in contrast",
             "look for a contrast or histogram step applied to one split only"),
    Property("sharpness", lambda fp: fp.sharpness, "blurrier", "sharper",
             "look for a resize, blur or heavy compression applied to one split only"),
    Property("size", lambda fp: math.sqrt(fp.width * fp.height), "smaller", "larger",
             "resize every split the same way, and check that one split was not downscaled before export"),
    Property("aspect ratio", lambda fp: fp.width / fp.height if fp.height else None, "narrower", "wider",
             "crop or pad every split the same way"),
    Property("JPEG quality", lambda fp: fp.jpeg_quality, "more compressed", "less compressed",
             "re-encode the splits at one quality, or train with JPEG-quality augmentation"),
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitDrift:
    """Brightness, contrast, sharpness, size, aspect ratio and JPEG quality: train vs each other split.

    Args:
        max_p: the largest KS p-value, multiplied by the number of properties compared, that counts as a
            real difference.
        min_statistic: the smallest KS statistic D that counts as a material difference.
        min_samples: both splits need this many measured images before they are compared.
    """

    id: ClassVar[str] = "split-drift"
    max_p: float = 1e-3
    min_statistic: float = 0.25
    min_samples: int = 20

    def __post_init__(self) -> None:
        if not 0.0 < self.max_p < 1.0:
            raise ValueError(f"max_p must be between 0 and 1, got {self.max_p}")
        if not 0.0 < self.min_statistic <= 1.0:
            raise ValueError(f"min_statistic must be in (0, 1], got {self.min_statistic}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be at least 2, got {self.min_samples}")

    def params(self) -> Mapping[str, Any]:
        return {"max_p": self.max_p, "min_statistic": self.min_statistic, "min_samples": self.min_samples}

    def run(self, index: Index) -> Iterator[Finding]:
        by_split: dict[str, list[Fingerprint]] = defaultdict(list)
        for fp in index.samples:
            by_split[fp.record.split].append(fp)
        splits = [s for s in index.splits if by_split.get(s)]
        if len(splits) < 2:
            return
        reference = TRAIN if TRAIN in by_split else splits[0]
        for split in splits:
            if split == reference:
                continue
            compared: list[tuple[Property, list[float], list[float], float, float]] = []
            for prop in PROPERTIES:
                ref_values = _values(by_split[reference], prop)
                values = _values(by_split[split], prop)
                if min(len(ref_values), len(values)) < self.min_samples:
                    continue
                raw = ks_statistic(values, ref_values)
                d = ks_rounded(raw, len(values), len(ref_values))
                # The p-value (exact: costly for large splits) only matters where D is large enough.
                p = ks_pvalue(raw, len(values), len(ref_values))[1] if d >= self.min_statistic else 1.0
                compared.append((prop, values, ref_values, d, p))
            for prop, values, ref_values, d, p in compared:
                p_adjusted = min(1.0, p * len(compared))
                if d < self.min_statistic or p_adjusted > self.max_p:
                    continue
                med, ref_med = statistics.median(values), statistics.median(ref_values)
                direction = prop.lower if med < ref_med else prop.higher
                yield Finding(
                    check=self.id,
                    severity=Severity.WARNING,
                    message=(
                        f"{split}: images are {direction} than {reference} ({prop.name} median {med:.4g} vs "
                        f"{ref_med:.4g}; KS D={d:.2f}, p={p:.1g})"
                    ),
                    metrics={
                        "split": split,
                        "other": reference,
                        "property": prop.name,
                        "statistic": round(d, 4),
                        "p_value": float(f"{p:.3g}"),
                        "p_adjusted": float(f"{p_adjusted:.3g}"),
                        "median": round(med, 4),
                        "other_median": round(ref_med, 4),
                        "n": len(values),
                        "other_n": len(ref_values),
                    },
                    hint=prop.hint,
                )


def _values(fps: list[Fingerprint], prop: Property) -> list[float]:
    out = []
    for fp in fps:
        v = prop.value(fp)
        if v is not None:
            out.append(float(v))
    return out
