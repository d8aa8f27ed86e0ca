"""The checks leakcheck runs, each a pure function of the index. The default set is an explicit tuple."""

from leakcheck.checks.balance import ClassBalance
from leakcheck.checks.base import Check
from leakcheck.checks.drift import SplitDrift
from leakcheck.checks.duplicates import CrossSplitDuplicates, WithinSplitDuplicates
from leakcheck.checks.groups import GroupLeakage
from leakcheck.checks.labels import LabelConflicts
from leakcheck.checks.normalization import PixelNormalization
from leakcheck.checks.properties import ImageProperties

DEFAULT_CHECKS: tuple[Check, ...] = (
    CrossSplitDuplicates(),
    WithinSplitDuplicates(),
    LabelConflicts(),
    ClassBalance(),
    ImageProperties(),
    GroupLeakage(),
    PixelNormalization(),
    SplitDrift(),
)

__all__ = [
    "DEFAULT_CHECKS",
    "Check",
    "ClassBalance",
    "CrossSplitDuplicates",
    "GroupLeakage",
    "ImageProperties",
    "LabelConflicts",
    "PixelNormalization",
    "SplitDrift",
    "WithinSplitDuplicates",
]
