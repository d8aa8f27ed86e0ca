"""What the near-duplicate detector costs on a set of images that are all different (the common case).

Run from the repository root (the images are written to a temporary folder and deleted afterwards):

    PYTHONPATH=. python benchmarks/near_cost.py                 # 4,400 images, one process
    PYTHONPATH=. python benchmarks/near_cost.py --images 2000 --jobs 2 --sensitivity strict

The images are non-overlapping 32 x 32 tiles of the shared Food-101 photos (each photo resized to
128 x 128, 16 tiles), saved as PNG in train/ and test/: no two show the same picture, so every
candidate pair the detector verifies is a negative, as almost all are in a real data set. It scans the
folder twice in this process, with `near_method="hash"` and with the detector (no cache, the same
jobs), and prints: candidate pairs per image, the detector's CPU per candidate pair and per image, its
ratio against the hash-only scan, and what that means for 60,000 images. CPU seconds (this process
plus its workers) are printed beside wall times, which are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from scan_speed import find_photos, timed  # (this folder: run as a script)

import leakcheck
from leakcheck.index import NearMethod
from leakcheck.near import NearItem, candidates, describe, settings_for

TILE = 32
PER_SIDE = 4


def tiles(limit: int) -> list[Image.Image]:
    """Up to `limit` distinct tiles, photo by photo in sorted order."""
    out: list[Image.Image] = []
    for path in sorted(p for p in find_photos().rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        with Image.open(path) as im:
            big = im.convert("RGB").resize((TILE * PER_SIDE, TILE * PER_SIDE), Image.Resampling.BICUBIC)
        for y in range(PER_SIDE):
            for x in range(PER_SIDE):
                out.append(big.crop((x * TILE, y * TILE, (x + 1) * TILE, (y + 1) * TILE)))
                if len(out) == limit:
                    return out
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4400, help="how many tiles (at most 16 per photo)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for both scans")
    parser.add_argument("--sensitivity", default="default", choices=("strict", "default", "thorough"))
    args = parser.parse_args()
    images = tiles(args.images)
    n = len(images)
    settings = settings_for(args.sensitivity)
    pairs = candidates([NearItem(describe(im), im.size) for im in images], settings)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for k, im in enumerate(images):
            folder = root / ("train" if k % 5 else "test") / "tiles"
            folder.mkdir(parents=True, exist_ok=True)
            im.save(folder / f"{k:05d}.png")

        def scan(method: NearMethod) -> leakcheck.Report:
            return leakcheck.scan(root, near_method=method, sensitivity=args.sensitivity, cache=False, jobs=args.jobs)

        with timed() as hashed:
            scan("hash")
        with timed() as detected:
            report = scan("verified")
    wall_h, cpu_h, wall_d, cpu_d = hashed.wall, hashed.cpu, detected.wall, detected.cpu
    found = sum(1 for r in report.relations if r.kind == "near")
    per_pair = (cpu_d - cpu_h) / max(len(pairs), 1)
    print(f"{n} distinct {TILE} px images, jobs={args.jobs}, sensitivity={args.sensitivity}")
    print(f"candidate pairs: {len(pairs)} ({len(pairs) / n:.1f} per image)")
    print(f"hash-only scan: {wall_h:.1f} s wall, {cpu_h:.1f} s CPU")
    print(f"detector scan:  {wall_d:.1f} s wall, {cpu_d:.1f} s CPU: "
          f"x{wall_d / wall_h:.1f} wall, x{cpu_d / cpu_h:.1f} CPU")  # fmt: skip
    print(f"detector CPU beyond the hash-only scan: {per_pair * 1e3:.2f} ms per candidate pair, "
          f"{(cpu_d - cpu_h) / n * 1e3:.1f} ms per image")  # fmt: skip
    print(f"near pairs reported: {found} (every tile is a different picture; plain ones, such as two tiles of"
          " one tablecloth, can look alike)")  # fmt: skip
    minutes = (cpu_d - cpu_h) / n * 60000 / 60
    print(f"at this rate, 60,000 such images: about {minutes:.0f} CPU minutes for the detector")


if __name__ == "__main__":
    main()
