"""Named sensitivities: the one knob most users need, each a fixed set of detector settings.

Every setting moves the same way from strict to thorough (more neighbours searched, a lower score
accepted, plainer images admitted), so strict's pairs are a subset of default's, and default's of
thorough's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Sensitivity = Literal["strict", "default", "thorough"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NearSettings:
    """Expert settings of the near-duplicate detector.

    min_score: the lowest calibrated verification score (0-1) reported as a near-duplicate.
    neighbours: how many nearest neighbours each image keeps per candidate view.
    candidate_floor: the lowest view similarity (cosine, -1 to 1) for a neighbour to be a candidate.
    phash_distance: pairs whose pHashes are within this distance under some dihedral transform are
        candidates too (verification still decides).
    min_detail: images with less fine detail than this (RMS, 0-255) are too plain to compare (blank,
        all-black, sky): they only take part in exact matching.
    """

    min_score: float
    neighbours: int
    candidate_floor: float
    phash_distance: int
    min_detail: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {self.min_score}")
        if self.neighbours < 0:
            raise ValueError(f"neighbours must be >= 0, got {self.neighbours}")
        if not -1.0 <= self.candidate_floor <= 1.0:
            raise ValueError(f"candidate_floor must be between -1 and 1, got {self.candidate_floor}")
        if not 0 <= self.phash_distance <= 64:
            raise ValueError(f"phash_distance must be between 0 and 64, got {self.phash_distance}")
        if self.min_detail < 0:
            raise ValueError(f"min_detail must be >= 0, got {self.min_detail}")


SENSITIVITIES: dict[Sensitivity, NearSettings] = {
    "strict": NearSettings(min_score=0.9, neighbours=3, candidate_floor=0.5, phash_distance=6, min_detail=2.0),
    "default": NearSettings(min_score=0.7, neighbours=5, candidate_floor=0.35, phash_distance=10, min_detail=1.5),
    "thorough": NearSettings(min_score=0.2, neighbours=10, candidate_floor=0.2, phash_distance=14, min_detail=1.0),
}


def settings_for(sensitivity: str) -> NearSettings:
    try:
        return SENSITIVITIES[sensitivity]  # type: ignore[index]  # checked right here
    except KeyError:
        choices = ", ".join(SENSITIVITIES)
        raise ValueError(f"unknown sensitivity {sensitivity!r}; expected one of {choices}") from None
