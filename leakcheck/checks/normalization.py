"""Pixel values per split and across splits: dtype, range, channel statistics, NaN/Inf, blank and clipped
images; scale, channel-count and colour-order mismatches between train and the evaluation splits."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from leakcheck.checks.base import fmt_count, fmt_percent, plural
from leakcheck.index import Index
from leakcheck.model import Finding, Fingerprint, Severity
from leakcheck.pixels import infer_scale
from leakcheck.splits import TRAIN

_SCALE_WORDS = {"0-255": "0-255", "0-1": "[0, 1]", "-1-1": "[-1, 1]", "0-65535": "0-65535 (16-bit)",
                "other": "an unusual range (standardized?)"}  # fmt: skip
_CHANNEL_WORDS = {1: "grayscale (1 channel)", 2: "grayscale+alpha (2 channels)", 3: "RGB (3 channels)",
                  4: "4 channels (RGBA or CMYK)"}  # fmt: skip


def channels(mode: str) -> int:
    """How many channels a model gets from an image of this mode."""
    try:
        return Image.getmodebands(mode)
    except (KeyError, ValueError):
        return 3


@dataclass(frozen=True, slots=True)
class SplitPixels:
    """The pixel summary of one split."""

    split: str
    count: int
    dtype: str
    scale: str
    low: float
    high: float
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    mean8: tuple[float, ...]
    nonfinite: tuple[str, ...]  # the keys of the images that hold NaN or infinite values
    nonfinite_values: int
    constant: tuple[str, ...]
    saturated: tuple[str, ...]
    # Images stored in another dtype than most of the split (a 16-bit PNG among 8-bit JPEGs).
    other_dtype: tuple[str, ...] = ()


def summarize(split: str, fps: Sequence[Fingerprint], saturated_pixels: float) -> SplitPixels:
    # Fingerprints built without a dtype (by hand, or by an older cache) are 8-bit images.
    dtype = Counter(fp.dtype or "uint8" for fp in fps).most_common(1)[0][0]
    # The split's range and statistics are those of its usual dtype: one 16-bit image must not make an
    # 8-bit split look 16-bit (it is reported on its own).
    usual = [fp for fp in fps if (fp.dtype or "uint8") == dtype]
    other = tuple(sorted(fp.record.key for fp in fps if (fp.dtype or "uint8") != dtype))
    stats = [fp.stats for fp in usual if fp.stats is not None]
    low = min((min(s.min) for s in stats if s.min), default=0.0)
    high = max((max(s.max) for s in stats if s.max), default=0.0)
    n_channels = Counter(channels(fp.mode) for fp in fps).most_common(1)[0][0]
    same = [s for s in stats if len(s.mean) == n_channels]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    if same:
        means = np.array([s.mean for s in same])
        stds = np.array([s.std for s in same])
        mean = tuple(round(float(v), 4) for v in means.mean(axis=0))
        # Pooled over all pixels: the mean within-image variance plus the variance of the image means.
        std = tuple(round(float(v), 4) for v in np.sqrt((stds**2).mean(axis=0) + means.var(axis=0)))
    colour = [fp.mean8 for fp in fps if len(fp.mean8) == 3]
    mean8 = tuple(float(v) for v in np.array(colour).mean(axis=0)) if colour else ()
    return SplitPixels(
        split=split,
        count=len(fps),
        dtype=dtype,
        scale=infer_scale(np.dtype(dtype), low, high),
        low=low,
        high=high,
        channels=n_channels,
        mean=mean,
        std=std,
        mean8=mean8,
        nonfinite=tuple(fp.record.key for fp in fps if fp.nonfinite),
        nonfinite_values=sum(fp.nonfinite for fp in fps),
        constant=tuple(fp.record.key for fp in fps if fp.stats is not None and max(fp.stats.std, default=0) == 0),
        saturated=tuple(fp.record.key for fp in fps if fp.clipped >= saturated_pixels),
        other_dtype=other,
    )


def _num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PixelNormalization:
    """How each split stores its pixels, and whether the splits agree.

    Args:
        saturated_pixels: an image is saturated when at least this fraction of its pixels is 0 or 255.
        max_saturated: warn when more than this fraction of a split's images is saturated.
        max_constant: warn when more than this fraction of a split's images is one flat value.
        min_colour_gap: the red-blue mean difference (0-255 scale) both splits need before their colour
            order is compared; below it the heuristic has nothing to go on.
    """

    id: ClassVar[str] = "pixel-normalization"
    saturated_pixels: float = 0.5
    max_saturated: float = 0.05
    max_constant: float = 0.0
    min_colour_gap: float = 8.0

    def __post_init__(self) -> None:
        for name in ("saturated_pixels", "max_saturated", "max_constant"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not self.min_colour_gap > 0:
            raise ValueError(f"min_colour_gap must be positive, got {self.min_colour_gap}")

    def params(self) -> Mapping[str, Any]:
        return {
            "saturated_pixels": self.saturated_pixels,
            "max_saturated": self.max_saturated,
            "max_constant": self.max_constant,
            "min_colour_gap": self.min_colour_gap,
        }

    def run(self, index: Index) -> Iterator[Finding]:
        by_split: dict[str, list[Fingerprint]] = defaultdict(list)
        for fp in index.samples:
            by_split[fp.record.split].append(fp)
        summaries = {s: summarize(s, by_split[s], self.saturated_pixels) for s in index.splits if by_split.get(s)}
        for summary in summaries.values():
            yield from self._within(summary)
        if not summaries:
            return
        reference = summaries.get(TRAIN) or next(iter(summaries.values()))
        for summary in summaries.values():
            if summary.split != reference.split:
                yield from self._across(reference, summary)

    def _within(self, s: SplitPixels) -> Iterator[Finding]:
        stats = ", ".join(f"{m:.4g}±{d:.3g}" for m, d in zip(s.mean, s.std, strict=True))
        yield Finding(
            check=self.id,
            severity=Severity.INFO,
            message=(
                f"{s.split}: {s.dtype} pixels in {_num(s.low)}..{_num(s.high)} ({_SCALE_WORDS[s.scale]}), "
                f"channel mean±std {stats or 'n/a'}"
            ),
            metrics={
                "split": s.split, "problem": "summary", "dtype": s.dtype, "scale": s.scale, "min": s.low,
                "max": s.high, "channels": s.channels, "mean": list(s.mean), "std": list(s.std),
                "constant": len(s.constant), "saturated": len(s.saturated), "nonfinite": s.nonfinite_values,
            },
        )  # fmt: skip
        if s.nonfinite:
            yield Finding(
                check=self.id,
                severity=Severity.ERROR,
                message=(
                    f"{s.split}: {plural(len(s.nonfinite), 'image')} hold{'s' if len(s.nonfinite) == 1 else ''} "
                    f"NaN or infinite values ({plural(s.nonfinite_values, 'value')})"
                ),
                samples=s.nonfinite,
                metrics={
                    "split": s.split,
                    "problem": "nonfinite",
                    "images": len(s.nonfinite),
                    "values": s.nonfinite_values,
                },
                hint="find the step that produces them (a division by a zero std, a failed decode) and fix or "
                "drop those images; one NaN input turns the loss into NaN",
            )
        if s.other_dtype:
            yield Finding(
                check=self.id,
                severity=Severity.WARNING,
                message=(
                    f"{s.split}: {fmt_count(len(s.other_dtype))} of {fmt_count(s.count)} images are stored in "
                    f"another dtype than the split's {s.dtype} (such as 16-bit)"
                ),
                samples=s.other_dtype,
                metrics={"split": s.split, "problem": "mixed-dtype", "dtype": s.dtype, "images": len(s.other_dtype)},
                hint=f"convert them to {s.dtype} as the rest are stored; loaders scale 16-bit images differently",
            )
        if s.scale == "0-255" and np.dtype(s.dtype).kind == "f":
            yield Finding(
                check=self.id,
                severity=Severity.WARNING,
                message=f"{s.split}: float pixels are not normalised (range {_num(s.low)}..{_num(s.high)})",
                metrics={"split": s.split, "problem": "unnormalised", "dtype": s.dtype, "max": s.high},
                hint="divide by 255 (or start the model with a Rescaling(1/255) layer), the same for every split",
            )
        if s.constant and len(s.constant) / s.count > self.max_constant:
            yield Finding(
                check=self.id,
                severity=Severity.WARNING,
                message=(
                    f"{s.split}: {fmt_count(len(s.constant))} of {fmt_count(s.count)} images "
                    f"({fmt_percent(len(s.constant), s.count)}) are a single flat value"
                ),
                samples=tuple(sorted(s.constant)),
                metrics={"split": s.split, "problem": "constant", "images": len(s.constant)},
                hint="blank images are usually failed captures or decodes; remove them or fix their source",
            )
        if s.saturated and len(s.saturated) / s.count > self.max_saturated:
            yield Finding(
                check=self.id,
                severity=Severity.WARNING,
                message=(
                    f"{s.split}: {fmt_count(len(s.saturated))} of {fmt_count(s.count)} images "
                    f"({fmt_percent(len(s.saturated), s.count)}) have at least "
                    f"{self.saturated_pixels:.0%} of their pixels clipped to black or white"
                ),
                samples=tuple(sorted(s.saturated)),
                metrics={"split": s.split, "problem": "saturated", "images": len(s.saturated)},
                hint="check exposure, or a scaling step applied twice (values multiplied by 255 again)",
            )

    def _across(self, ref: SplitPixels, s: SplitPixels) -> Iterator[Finding]:
        if s.scale != ref.scale:
            yield Finding(
                check=self.id,
                severity=Severity.ERROR,
                message=(
                    f"{s.split}: pixels are {s.dtype} in {_SCALE_WORDS[s.scale]} but {ref.split} is {ref.dtype} in "
                    f"{_SCALE_WORDS[ref.scale]}"
                ),
                metrics={
                    "split": s.split,
                    "other": ref.split,
                    "problem": "scale-mismatch",
                    "scale": s.scale,
                    "other_scale": ref.scale,
                },
                hint=f"scale {s.split} exactly as {ref.split} was scaled before training and evaluating",
            )
        if s.channels != ref.channels:
            yield Finding(
                check=self.id,
                severity=Severity.ERROR,
                message=(
                    f"{s.split}: images are {_CHANNEL_WORDS.get(s.channels, f'{s.channels} channels')} but "
                    f"{ref.split} is {_CHANNEL_WORDS.get(ref.channels, f'{ref.channels} channels')}"
                ),
                metrics={
                    "split": s.split,
                    "other": ref.split,
                    "problem": "channel-mismatch",
                    "channels": s.channels,
                    "other_channels": ref.channels,
                },
                hint=f"convert {s.split} to the channel layout of {ref.split} (e.g. PIL .convert('RGB') or "
                "tf.image.grayscale_to_rgb) in the one pipeline all splits go through",
            )
        yield from self._colour_order(ref, s)

    def _colour_order(self, ref: SplitPixels, s: SplitPixels) -> Iterator[Finding]:
        """BGR vs RGB: the red-blue difference flips sign and the reversed means match far better.

        Natural photos are not symmetric in red and blue (skin, sky, food, foliage), so a split whose
        channel means look like the reference's reversed is most likely loaded in the other order.
        """
        if len(ref.mean8) != 3 or len(s.mean8) != 3:
            return
        gap_ref, gap = ref.mean8[0] - ref.mean8[2], s.mean8[0] - s.mean8[2]
        if abs(gap_ref) < self.min_colour_gap or abs(gap) < self.min_colour_gap or gap_ref * gap > 0:
            return
        direct = sum(abs(a - b) for a, b in zip(s.mean8, ref.mean8, strict=True))
        swapped = sum(abs(a - b) for a, b in zip(s.mean8[::-1], ref.mean8, strict=True))
        if swapped >= 0.5 * direct:
            return
        strong = swapped < 0.25 * direct and min(abs(gap_ref), abs(gap)) >= 2 * self.min_colour_gap
        confidence = "high" if strong and min(ref.count, s.count) >= 100 else "medium"
        yield Finding(
            check=self.id,
            severity=Severity.WARNING,
            message=(
                f"{s.split}: colour channels look reversed against {ref.split} (BGR vs RGB; red-blue mean "
                f"{gap:+.1f} vs {gap_ref:+.1f}); heuristic from channel means, confidence {confidence}"
            ),
            metrics={
                "split": s.split,
                "other": ref.split,
                "problem": "colour-order",
                "confidence": confidence,
                "mean": [round(v, 3) for v in s.mean8],
                "other_mean": [round(v, 3) for v in ref.mean8],
                "swap_ratio": round(swapped / direct, 4),
            },
            hint="if one split was read with OpenCV, convert it with cv2.cvtColor(image, cv2.COLOR_BGR2RGB) "
            "(or reverse the last axis) so that every split is RGB",
        )
