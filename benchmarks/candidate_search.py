"""How the detector's candidate search grows with the number of images (it is exact, so O(n^2)).

Run from the repository root:

    PYTHONPATH=. python benchmarks/candidate_search.py                     # 7,500, 15,000 and 30,000
    PYTHONPATH=. python benchmarks/candidate_search.py --sizes 2000,4000 --check 800

The images are 32 px crops of the shared Food-101 photos (random region, scale, mirror, quarter turn and
brightness), described in memory as a scan would (`near.describe`); nothing is written to disk. For each
size it times `candidate_pairs` (the four view searches, the clustering and the pair lists, not the
pHash pairs or verification) and prints wall and CPU seconds (numpy's BLAS may use every core), the
pairs per image and the fitted exponent of time against n. `--check N` first compares `top_k` with the
brute-force oracle (the full similarity matrix) on N images for every view: the same neighbours, but
for near-equal similarities that the two sum in different orders.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image, ImageEnhance
from scan_speed import _SOURCES, _load_sources, find_photos, timed  # (this folder: run as a script)

from leakcheck.near import NearDescriptor, describe
from leakcheck.near.candidates import candidate_pairs, top_k, top_k_brute_force, views


def _describe(index: int) -> NearDescriptor:
    # (The photos are loaded into each worker by scan_speed's generator's initializer.)
    rng = random.Random(index)
    _, photo = _SOURCES[index % len(_SOURCES)]
    w, h = photo.size
    side = int(min(w, h) * rng.uniform(0.3, 0.9))
    x, y = rng.randint(0, w - side), rng.randint(0, h - side)
    im = photo.crop((x, y, x + side, y + side))
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = im.rotate(90 * rng.randint(0, 3)).resize((32, 32), Image.Resampling.BILINEAR)
    return describe(ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="7500,15000,30000", help="comma-separated numbers of images")
    parser.add_argument("--check", type=int, default=0, help="compare top_k with brute force on this many")
    parser.add_argument("--neighbours", type=int, default=5)
    parser.add_argument("--floor", type=float, default=0.35)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    count = max(sizes[-1], args.check)
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(2, mp_context=context, initializer=_load_sources, initargs=(find_photos(),))
    with timed() as made, pool:
        descriptors = list(pool.map(_describe, range(count), chunksize=500))
    print(f"described {count:,} images in {made.wall:.0f} s")
    if args.check:
        v = views(descriptors[: args.check])
        for name, q, d in (
            ("whole", v.grid[:, :1], v.grid),
            ("window", v.grid[:, :1], v.window),
            ("disk", v.disk, v.disk[:, :1]),
            ("polar", v.polar, v.polar),
        ):
            idx, sim = top_k(q, d, args.neighbours)
            oracle, oracle_sim = top_k_brute_force(q, d, args.neighbours)
            # (The oracle sums in another order: near-equal similarities may swap places.)
            print(f"  top_k against brute force, {name} view, {args.check} images: "
                  f"{np.mean(idx == oracle):.4%} of indices equal, similarities within "
                  f"{np.abs(sim - oracle_sim).max():.1e}")  # fmt: skip
    points = []
    for n in sizes:
        v = views(descriptors[:n])
        with timed() as t:
            pairs = candidate_pairs(v, args.neighbours, args.floor)
        points.append((n, t.wall))
        print(f"{n:>8,} images: {t.wall:7.1f} s wall, {t.cpu:7.1f} s CPU, {len(pairs) / n:5.1f} pairs per image")
    if len(points) > 1:
        slope = np.polyfit([math.log(n) for n, _ in points], [math.log(t) for _, t in points], 1)[0]
        print(f"time ~ n^{slope:.2f}")


if __name__ == "__main__":
    main()
