"""Scan speed on large synthetic sets built from the shared Food-101 photos, against the limits.

Run from the repository root (the sets are generated in a temporary folder and deleted afterwards):

    PYTHONPATH=. python benchmarks/scan_speed.py                     # 60,000 x 32 px and 5,000 x ~512 px
    PYTHONPATH=. python benchmarks/scan_speed.py --small 6000 --large 500 --scaling

Every image is a transformed copy of one of the 275 real photos (random crop, flip, quarter turn,
colour jitter, JPEG quality 70-95), so decode costs are those of real photos. For each set it prints,
in one run: images/s for decode-only (`Image.open(f).load()` of every file in the same process pool:
the limit), for the cold scan (empty cache), the warm scan (unchanged files: the stored report), the
same with the stored report deleted (fingerprints from the cache; the index and checks run), the scan
after touching 1% of the files (new mtime, same content), after touching all of them (a fresh
checkout) and after changing 1% (mirrored and re-encoded); peak RSS; and the ratio against imagehash's
phash + dhash of every file plus a brute-force search, done in this process with the same number of
workers. `--scaling` adds cold scans of a quarter and a half of the small set (is hashing linear?);
`--speedup` a cold scan with one process. Wall times on a shared machine are noisy: CPU seconds (this
process plus its workers) are printed beside them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageEnhance

import leakcheck
from leakcheck.cache import cache_file
from leakcheck.engine import chunk_size, default_jobs
from leakcheck.index import NearMethod
from leakcheck.search import SearchPlan, iter_hamming_pairs

PHOTOS = "shared/data/food101-sample"


def find_photos() -> Path:
    for folder in Path(__file__).resolve().parents:
        if (folder / PHOTOS).is_dir():
            return folder / PHOTOS
    sys.exit(f"benchmark needs the shared photos ({PHOTOS}) beside the repository or above it")


# --- generation --------------------------------------------------------------------------------------

_SOURCES: list[tuple[str, Image.Image]] = []


def _load_sources(photos: Path) -> None:
    for path in sorted(photos.rglob("*.jpg")):
        with Image.open(path) as im:
            _SOURCES.append((path.parent.name, im.convert("RGB")))


def _make(task: tuple[Path, int, int, bool]) -> None:
    root, index, side, square = task
    rng = random.Random(index)
    label, photo = _SOURCES[index % len(_SOURCES)]
    w, h = photo.size
    scale = rng.uniform(0.3, 0.7) if square else rng.uniform(0.55, 0.95)
    cw, ch = int(w * scale), int(h * scale * rng.uniform(0.8, 1.2))
    ch = min(ch, h)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    im = photo.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = im.rotate(90 * rng.randint(0, 3), expand=True)
    im = ImageEnhance.Color(im).enhance(rng.uniform(0.6, 1.4))
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.75, 1.25))
    if square:
        im = im.resize((side, side), Image.Resampling.BILINEAR)
    else:
        im.thumbnail((side, side), Image.Resampling.BILINEAR)
        if max(im.size) < side:
            f = side / max(im.size)
            im = im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.BILINEAR)
    split = "test" if index % 6 == 0 else "train"
    path = root / split / label / f"{index:06d}.jpg"
    im.save(path, "JPEG", quality=rng.randint(70, 95))


def generate(root: Path, photos: Path, count: int, side: int, square: bool, jobs: int) -> list[Path]:
    labels = sorted({path.parent.name for path in photos.rglob("*.jpg")})
    for split in ("train", "test"):
        for label in labels:
            (root / split / label).mkdir(parents=True, exist_ok=True)
    tasks = [(root, i, side, square) for i in range(count)]
    # The decoded photos live in the workers only, so that this process's peak RSS is the scans'.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_load_sources, initargs=(photos,)) as pool:
        list(pool.map(_make, tasks, chunksize=256))
    return sorted(root.rglob("*.jpg"))


# --- measurement -------------------------------------------------------------------------------------


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    t = Timing()
    start = time.perf_counter()
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    yield t
    own2, kids2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t.wall = time.perf_counter() - start
    t.cpu = sum((b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime) for a, b in ((own, own2), (kids, kids2)))


def _decode_chunk(paths: Sequence[Path]) -> int:
    for path in paths:
        with Image.open(path) as im:
            im.load()
    return len(paths)


def _imagehash_chunk(paths: Sequence[Path]) -> list[tuple[int, int]]:
    out = []
    for path in paths:
        with Image.open(path) as im:
            out.append((int(str(imagehash.phash(im)), 16), int(str(imagehash.dhash(im)), 16)))
    return out


def in_pool(work: Callable[[Sequence[Path]], object], paths: list[Path], jobs: int) -> list[object]:
    size = chunk_size(len(paths), jobs)
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(work, chunks))


def baseline(paths: list[Path], jobs: int) -> int:
    """imagehash pHash + dHash of every file, then every pair compared (blocked brute force)."""
    hashes = [h for chunk in in_pool(_imagehash_chunk, paths, jobs) for h in chunk]  # type: ignore[union-attr]
    phashes = np.array([p for p, _ in hashes], dtype=np.uint64)
    dhashes = np.array([d for _, d in hashes], dtype=np.uint64)
    pairs = 0
    for i, j, _ in iter_hamming_pairs(phashes, 10, plan=SearchPlan((), 0.0)):
        pairs += int((np.bitwise_count(dhashes[i] ^ dhashes[j]) <= 14).sum())
    return pairs


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def row(name: str, n: int, t: Timing, note: str = "") -> None:
    print(f"  {name:<28} {t.wall:>7.2f} s wall {n / t.wall:>9,.0f} img/s   {t.cpu:>7.2f} s cpu {note}")


def bench_set(name: str, paths: list[Path], root: Path, cache_dir: Path, jobs: int, near_method: NearMethod) -> None:
    n = len(paths)
    print(f"\n{name}: {n:,} images, {sum(p.stat().st_size for p in paths) / 1e6:,.0f} MB, {jobs} jobs")
    with timed() as decode:
        in_pool(_decode_chunk, paths, jobs)
    row("decode only (the limit)", n, decode)
    with timed() as cold:
        report = leakcheck.scan(root, jobs=jobs, cache_dir=cache_dir, near_method=near_method)
    row("cold scan", n, cold, f"x{cold.wall / decode.wall:.2f} decode-only; {len(report.relations):,} relations")
    with timed() as warm:
        again = leakcheck.scan(root, jobs=jobs, cache_dir=cache_dir, near_method=near_method)
    row("warm scan", n, warm, f"x{cold.wall / warm.wall:.1f} faster than cold (the stored report)")
    assert again.to_json() == report.to_json(), "warm scan differs from cold scan"
    # The same without the stored report: every fingerprint from the cache, the index and the checks.
    with sqlite3.connect(cache_file(root, cache_dir)) as conn:
        conn.execute("DELETE FROM reports")
    with timed() as rebuilt:
        again = leakcheck.scan(root, jobs=jobs, cache_dir=cache_dir, near_method=near_method)
    row("warm scan, report rebuilt", n, rebuilt, f"x{cold.wall / rebuilt.wall:.1f} faster than cold")
    assert again.to_json() == report.to_json(), "warm scan differs from cold scan"
    touched = paths[:: max(1, n // max(1, n // 100))][: max(1, n // 100)]
    now = time.time_ns()
    for path in touched:
        os.utime(path, ns=(now, now))
    with timed() as partial:
        leakcheck.scan(root, jobs=jobs, cache_dir=cache_dir, near_method=near_method)
    # Proportional: the warm scan plus the touched share of the cold one. Touched files (same bytes) keep
    # the stored report once they are read and digested; changed ones rebuild it, for which the rebuilt
    # warm scan is the fairer base. Both are printed.
    share = cold.wall * len(touched) / n
    expected = f"(proportional estimate {warm.wall + share:.2f} s, {rebuilt.wall + share:.2f} s from the rebuilt one)"
    row(f"after touching {len(touched):,} files", n, partial, expected)
    # Every file with new times and the same bytes: what a fresh checkout or copy of the data looks like.
    later = now + 1_000_000_000
    for path in paths:
        os.utime(path, ns=(later, later))
    with timed() as checkout:
        again = leakcheck.scan(root, jobs=jobs, cache_dir=cache_dir, near_method=near_method)
    row("after touching every file", n, checkout, f"x{cold.wall / checkout.wall:.1f} faster than cold")
    assert again.to_json() == report.to_json(), "the re-scan of touched files differs from the cold scan"
    # The same files with new content (mirrored and re-encoded): their fingerprints change, so the
    # detector's whole-result memo misses and only the candidate pairs that involve them are verified.
    for path in touched:
        with Image.open(path) as im:
            edited = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        edited.save(path, "JPEG", quality=90)
    with timed() as changed:
        leakcheck.scan(root, jobs=jobs, cache_dir=cache_dir, near_method=near_method)
    row(f"after changing {len(touched):,} files", n, changed, expected)
    with timed() as base:
        pairs = baseline(paths, jobs)
    row("imagehash + brute force", n, base, f"x{base.wall / cold.wall:.1f} the cold scan's time; {pairs:,} pairs")
    own, kids = peak_rss_mb()
    print(f"  peak RSS so far: {own:,.0f} MB this process, {kids:,.0f} MB largest child (generators included)")


def bench_speedup(root: Path, n: int, jobs: int, near_method: NearMethod) -> None:
    """Cold scans (no cache) with one process and with `jobs`: the pool's speed-up and its CPU overhead."""
    print(f"\npool speed-up on the small set ({jobs} jobs against 1):")
    with timed() as one:
        leakcheck.scan(root, jobs=1, cache=False, near_method=near_method)
    row("1 job", n, one)
    with timed() as many:
        leakcheck.scan(root, jobs=jobs, cache=False, near_method=near_method)
    row(f"{jobs} jobs", n, many, f"speed-up x{one.wall / many.wall:.2f}, CPU x{many.cpu / one.cpu:.2f} of 1 job's")


def bench_scaling(paths: list[Path], base: Path, jobs: int, near_method: NearMethod) -> None:
    print("\nscaling of the cold scan (no cache) on the small set:")
    n = len(paths)
    for part in (4, 2, 1):
        subset = paths[: n // part]
        root = base / f"subset-{part}"
        for path in subset:
            target = root / path.relative_to(base / "small")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
        with timed() as t:
            leakcheck.scan(root, jobs=jobs, cache=False, near_method=near_method)
        row(f"{len(subset):,} images", len(subset), t)
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=60_000, help="32 px JPEGs (0 to skip)")
    parser.add_argument("--large", type=int, default=5_000, help="~512 px JPEGs (0 to skip)")
    parser.add_argument("-j", "--jobs", type=int, default=default_jobs())
    parser.add_argument("--scaling", action="store_true", help="also time cold scans of 1/4 and 1/2 the small set")
    parser.add_argument("--speedup", action="store_true", help="also time a cold scan of the small set with 1 job")
    parser.add_argument(
        "--near-method",
        choices=("hash", "verified"),
        default="hash",
        help="near-duplicate method of every scan (default hash: measures the pipeline, not the detector)",
    )
    args = parser.parse_args()
    photos = find_photos()
    method = typing.cast(NearMethod, args.near_method)
    print(f"leakcheck {leakcheck.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, {args.jobs} jobs; "
          f"near_method={args.near_method}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="leakcheck-bench-") as tmp:
        base = Path(tmp)
        for name, count, side, square in (("small", args.small, 32, True), ("large", args.large, 512, False)):
            if not count:
                continue
            with timed() as gen:
                paths = generate(base / name, photos, count, side, square, args.jobs)
            print(f"\n(generated {count:,} {side} px images in {gen.wall:.0f} s)")
            bench_set(f"{name} set ({side} px)", paths, base / name, base / f"cache-{name}", args.jobs, method)
            if name == "small" and args.speedup:
                bench_speedup(base / name, len(paths), args.jobs, method)
            if name == "small" and args.scaling:
                bench_scaling(paths, base, args.jobs, method)
            shutil.rmtree(base / name)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} (other work on this machine inflates wall times)")


if __name__ == "__main__":
    main()
