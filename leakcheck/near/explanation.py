"""What most likely separates two near-duplicates, in a few words, from the alignment and the pixels."""

from __future__ import annotations

import numpy as np

from leakcheck.near.descriptor import NearDescriptor
from leakcheck.near.verify import Verdict


def _signed_angle(angle: float) -> float:
    """Degrees in (-180, 180]."""
    a = angle % 360.0
    return a - 360.0 if a > 180.0 else a


def explain(
    a: NearDescriptor, a_size: tuple[int, int], b: NearDescriptor, b_size: tuple[int, int], verdict: Verdict
) -> str:
    """A short, '; '-separated account of how B differs from A (`re-encoded` when nothing else shows)."""
    al = verdict.alignment
    parts: list[str] = []
    if al.mirrored:
        parts.append("mirrored")
    # The alignment turns B by `angle` to match A, so B is A turned the other way.
    turn = _signed_angle(-al.angle if not al.mirrored else al.angle)
    quarter = round(turn / 90.0) * 90.0
    if abs(turn - quarter) <= 2.5 and quarter != 0:
        parts.append(f"rotated {int(quarter) % 360} deg")
    elif abs(turn) > 2.5:
        parts.append(f"rotated ~{round(turn):d} deg")
    trimmed_a = _trimmed(a)
    trimmed_b = _trimmed(b)
    if trimmed_a != trimmed_b:
        parts.append("padded/letterboxed")
    moved = al.overlap < 0.97 or abs(al.dx) > 0.03 or abs(al.dy) > 0.03 or abs(al.scale - 1.0) > 0.06
    # A free rotation always loses its corners: that alone is not a crop.
    cropped = moved and not (abs(turn - quarter) > 2.5 and al.overlap >= 0.8)
    if cropped:
        parts.append("cropped/translated")
    # A quarter turn swaps width and height: a 384x512 photo turned is 512x384 and not resized.
    turned_size = (b_size[1], b_size[0]) if abs(turn - quarter) <= 2.5 and quarter % 180 else b_size
    # A crop saved as it was cut changes the file's size but not the scale of what it shows.
    same_scale = abs(_pixel_scale(a, a_size, b, b_size, al.scale) - 1.0) <= 0.06
    if al.squashed and a_size == b_size:
        # The pictures inside the frames (borders trimmed) differ in shape, not the files.
        parts.append(f"stretched to another aspect ratio within the same {a_size[0]}x{a_size[1]} frame")
    elif al.squashed:
        parts.append(f"stretched to another aspect ratio {a_size[0]}x{a_size[1]} -> {b_size[0]}x{b_size[1]}")
    elif a_size != turned_size and not (same_scale and (cropped or trimmed_a != trimmed_b)):
        parts.append(f"resized {a_size[0]}x{a_size[1]} -> {b_size[0]}x{b_size[1]}")
    if a.grayscale != b.grayscale:
        parts.append("grayscale")
    elif al.overlap >= 0.9 and abs(turn - quarter) <= 2.5 and not cropped:
        # (With a free rotation, a partial overlap or a crop, the two colour grids cover different
        # regions, and corners and borders would skew these statistics.)
        photometric = _photometric(a, b)
        if photometric:
            parts.append(photometric)
    if verdict.edge_similarity < 0.85 and not any(p.startswith(("rotated ~", "cropped")) for p in parts):
        parts.append("blurred, noisy or overlaid")
    return "; ".join(parts) if parts else "re-encoded"


def _pixel_scale(
    a: NearDescriptor, a_size: tuple[int, int], b: NearDescriptor, b_size: tuple[int, int], scale: float
) -> float:
    """How many of A's pixels one of B's pixels spans once aligned: 1 when B shows its part of the
    picture at A's resolution (a crop saved as cut), 0.5 when B was halved. The alignment's `scale`
    relates the two thumbnails; each thumbnail's own reduction (its area against the trimmed region's,
    so the same for either orientation) turns that into pixels."""

    def thumb_per_pixel(d: NearDescriptor, size: tuple[int, int]) -> float:
        left, top, right, bottom = d.box
        region = max((right - left) * size[0] * (bottom - top) * size[1], 1.0)
        h, w = d.pixels().shape
        return float(np.sqrt(h * w / region))

    return scale * thumb_per_pixel(b, b_size) / thumb_per_pixel(a, a_size)


def _trimmed(d: NearDescriptor) -> bool:
    left, top, right, bottom = d.box
    return left > 0.02 or top > 0.02 or right < 0.98 or bottom < 0.98


def _photometric(a: NearDescriptor, b: NearDescriptor) -> str:
    ca, cb = a.colours(), b.colours()
    ga, gb = ca.mean(axis=2), cb.mean(axis=2)
    changes: list[str] = []
    if abs(float(ga.mean()) - float(gb.mean())) > 12.0 or abs(float(ga.std()) - float(gb.std())) > 0.15 * max(
        float(ga.std()), 1.0
    ):
        changes.append("brightness/contrast")
    # Chroma: each cell's colour minus its gray level; global so that it holds whatever the geometry.
    xa = (ca - ga[..., None]).reshape(-1, 3)
    xb = (cb - gb[..., None]).reshape(-1, 3)
    saturation = abs(float(np.abs(xa).mean()) - float(np.abs(xb).mean()))
    cast = float(np.linalg.norm(xa.mean(axis=0) - xb.mean(axis=0)))
    hue = float(np.abs(np.sort(xa, axis=0) - np.sort(xb, axis=0)).mean())
    if saturation > 4.0 or cast > 6.0 or hue > 8.0:
        changes.append("colour")
    return " and ".join(changes) + " changed" if changes else ""
