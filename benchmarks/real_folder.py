"""A real-photo folder of a few thousand images with planted and natural duplicates, scanned end to end.

The shared Food-101 sample has 275 photos; each is cut into a 3x3 grid of tiles, giving ~2,475 distinct
real-photo images (train tiles from train photos, test tiles from test photos). Then copies of training
tiles are planted into val and test: byte copies, PNG re-saves (exact pixels), JPEG re-encodes at quality 50
and 85% resizes (near). The sample's own natural duplicate (one bibimbap shot twice in train) stays in.

Prints the recall of each planted kind, what else was flagged, wall time and peak RSS.

    .venv/bin/python benchmarks/real_folder.py [--photos DIR] [--plant 300] [--near-method hash]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from PIL import Image

import leakcheck

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "food101-sample"


def build(photos: Path, out: Path, plant: int, seed: int) -> dict[str, str]:
    """Write the tiled folder under `out`; return {planted copy: kind}."""
    for src in sorted(photos.rglob("*.jpg")):
        rel = src.relative_to(photos)
        with Image.open(src) as im:
            rgb = im.convert("RGB")
        tw, th = rgb.width // 3, rgb.height // 3
        for r in range(3):
            for c in range(3):
                dest = out / rel.parent / f"{src.stem}_{r}{c}.jpg"
                dest.parent.mkdir(parents=True, exist_ok=True)
                rgb.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th)).save(dest, quality=92)
    rng = random.Random(seed)
    train = sorted((out / "train").rglob("*.jpg"))
    planted: dict[str, str] = {}
    kinds = ["exact-bytes", "exact-pixels", "near-reencode", "near-resize"]
    for k, src in enumerate(rng.sample(train, plant)):
        split = "val" if k % 2 == 0 else "test"
        kind = kinds[k % 4]
        dest = out / split / src.parent.name / f"planted_{k}_{src.stem}{'.png' if kind == 'exact-pixels' else '.jpg'}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if kind == "exact-bytes":
            shutil.copyfile(src, dest)
        else:
            with Image.open(src) as im:
                if kind == "exact-pixels":
                    im.save(dest)
                elif kind == "near-reencode":
                    im.save(dest, quality=50)
                else:
                    im.resize((im.width * 85 // 100, im.height * 85 // 100), Image.Resampling.LANCZOS).save(dest)
        planted[dest.relative_to(out).as_posix()] = kind
    return planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--plant", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--near-method", default="verified", choices=("verified", "hash"))
    args = parser.parse_args()
    if not args.photos.is_dir():
        raise SystemExit(f"{args.photos}: not found; pass --photos DIR (a <split>/<class>/<image> folder)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tiles"
        planted = build(args.photos, root, args.plant, args.seed)
        images = sum(1 for _ in root.rglob("*.*"))
        start = time.perf_counter()
        report = leakcheck.scan(root, jobs=args.jobs, near_method=args.near_method)
        elapsed = time.perf_counter() - start
    found = {s for f in report.findings if f.check == "cross-split-duplicates" for s in f.samples}
    print(f"{images:,} images ({len(planted)} planted copies), scan {elapsed:.1f} s, {images / elapsed:,.0f} images/s")
    by_kind = Counter(planted.values())
    hit = Counter(kind for key, kind in planted.items() if key in found)
    for kind in sorted(by_kind):
        print(f"  {kind:14s} recall {hit[kind]}/{by_kind[kind]} = {hit[kind] / by_kind[kind]:.3f}")
    unplanted = sorted(found - set(planted))
    print(f"  flagged cross-split but not planted: {len(unplanted)} {unplanted[:10]}")
    for line in report.headline():
        print("  " + line.message)
    for f in report.findings:
        if f.check == "within-split-duplicates":
            print(f"  {f.message}: {list(f.samples)[:6]}")
    print(f"  exit code {report.exit_code()}; peak RSS of this process {_peak_rss_mb():.0f} MB (incl. pool children)")


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


if __name__ == "__main__":
    main()
