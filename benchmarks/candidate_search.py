"""How the detector's candidate search grows with the number of images (it is exact, so O(n^2)).

Run from the repository root:

    PYTHONPATH=. python benchmarks/candidate_search.py                     # 7,500, 15,000 and 30,000
    PYTHONPATH=. python benchmarks/candidate_search.py --sizes 2000,4000 --check 800

The images are 32 px crops of the shared Food-101 photos (random region, scale, mirror, quarter turn and
brightness), described in memory as a scan would (`near.describe`); nothing is written to disk. For each
size it times `candidate_pairs` (the four view searches, the clustering and the pair lists, not the
pHash pairs or verification) and prints wall and CPU seconds (numpy's BLAS may use every core), the
pairs per image and the fitted exponent of time against n. `--check N` first compares `top_k` with the
brute-force oracle (the full similarity matrix) on N images for every view: the same neighbours and
similarities (the views lie on a grain on which every similarity is exact, whatever the order of the
sums).

Then, at the largest size, a re-scan after a change: `--changed` of the images (default 1%) are
replaced by new ones, scattered through the set, and the search that reuses the earlier one's
neighbour lists (`search(..., earlier=)`, what a scan with the cache does) is timed against a fresh
search of the same images in the same process; the two must be equal, bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image, ImageEnhance
from scan_speed import _SOURCES, _load_sources, find_photos, timed  # (this folder: run as a script)

from leakcheck.near import NearDescriptor, describe
from leakcheck.near.candidates import candidate_pairs, search, top_k, top_k_brute_force, views


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
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of images changed before a re-scan")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    extra = round(sizes[-1] * args.changed)
    count = max(sizes[-1] + extra, args.check)
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
            # (The oracle sums in another order: exact all the same, on the views' grain.)
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
    if extra:
        rescan(descriptors[: sizes[-1]], descriptors[sizes[-1] : sizes[-1] + extra], args.neighbours)


def rescan(before: list[NearDescriptor], new: list[NearDescriptor], k: int) -> None:
    """The search after replacing len(new) images of `before` with `new` (scattered through the set),
    reusing the search of `before` and afresh."""
    rng = random.Random(0)
    n = len(before)
    gone = set(rng.sample(range(n), len(new)))
    # Each new image takes the place of a random one of the others (its position in the set).
    placed = sorted([(float(i), d) for i, d in enumerate(before) if i not in gone]
                    + [(rng.uniform(0, n), d) for d in new], key=lambda x: x[0])  # fmt: skip
    after = [d for _, d in placed]

    def keyed(ds: list[NearDescriptor]) -> list[bytes]:
        return [hashlib.blake2b(d.thumb, digest_size=20).digest() for d in ds]

    earlier = search(views(before), k, keys=keyed(before))
    with timed() as fresh_time:
        fresh = search(views(after), k, keys=keyed(after))
    with timed() as reused_time:
        reused = search(views(after), k, keys=keyed(after), earlier=earlier)
    same = all(np.array_equal(a, b) for a, b in zip(fresh.idx + fresh.sim, reused.idx + reused.sim, strict=True))
    print(f"re-scan of {n:,} images after {len(new):,} changed ({len(new) / n:.1%}): search reusing the earlier one "
          f"{reused_time.wall:.2f} s wall ({reused_time.cpu:.2f} s CPU), afresh {fresh_time.wall:.1f} s "
          f"({fresh_time.cpu:.1f} s CPU): x{fresh_time.wall / reused_time.wall:.1f}; "
          f"{'the same neighbours' if same else 'DIFFERENT neighbours'}")  # fmt: skip


if __name__ == "__main__":
    main()
