"""Near-duplicate quality benchmark: leakcheck's detector against imagehash pHash/dHash, offline.

Ground truth comes from real photos (the Food-101 sample under ../shared/data, read in place, and the
sample images that ship inside the scikit-image wheel) with known edits applied at several strengths
(see near_transforms.py), mixed with hard negatives: other photos of the same class, near-uniform
images (blank, black, grey, sky) and shots of different objects on one backdrop. Every image is written
to a temporary folder and goes through leakcheck's real fingerprint pass.

The images are split in two halves that share no source photo: calibration (Food-101 classes apple_pie
and beignets, even-numbered scikit-image samples) and report (the other three classes, odd-numbered
samples). Thresholds and the score calibration were fitted with `--half calibration --calibrate`;
the figures to quote come from `--half report` (the default).

Run from the repository root:
    PYTHONPATH=. .venv/bin/python benchmarks/near_quality.py [--data ../shared/data] [--sizes 32,256]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from near_transforms import FAMILIES, TRANSFORMS, near_uniform_images, same_background_shots

from leakcheck.engine import fingerprint_all
from leakcheck.fingerprint import FingerprintOptions
from leakcheck.index import Index, MatchOptions
from leakcheck.model import Record
from leakcheck.near import NearItem, candidates, describe, score_candidates, settings_for
from leakcheck.near.decision import features as decision_features
from leakcheck.search import hamming_pairs

CALIBRATION_CLASSES = ("apple_pie", "beignets")
# Images that are copies of nothing else in the set.
NEGATIVES = ("near-uniform", "same-background", "tile")
SKIMAGE_FILES = (
    "astronaut.png", "camera.png", "coffee.png", "chelsea.png", "coins.png", "moon.png", "page.png",
    "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png",
    "clock_motion.png", "motorcycle_left.png", "ihc.png", "cell.png", "text.png", "microaneurysms.png",
    "color.png",
)  # fmt: skip
# Food-101 itself holds copies: these photos were checked by eye to be one shot (a recoloured re-upload),
# so the benchmark counts them as one source rather than charge every method with false pairs.
SAME_PHOTO: dict[str, str] = {"bibimbap/train-2399561": "bibimbap/train-2247933"}
# Each source gets every third transform (rotating), which keeps every family and strength well covered.
_STRIDE = 3


@dataclass(frozen=True)
class Item:
    key: str
    source: str  # images with the same source are duplicates of each other
    family: str  # "original", a transform family, or a negative kind
    image: Image.Image
    jpeg_quality: int | None
    parent: str = ""  # a copy's original (its key)


def _sources(data: Path, half: str) -> list[tuple[str, str, Image.Image]]:
    """(class, name, RGB image) of the half's source photos."""
    out: list[tuple[str, str, Image.Image]] = []
    food = data / "food101-sample"
    if not food.is_dir():
        raise SystemExit(f"{food}: not found; pass --data pointing at the folder holding food101-sample/")
    for path in sorted(food.glob("*/*/*.jpg")):
        cls = path.parent.name
        if (cls in CALIBRATION_CLASSES) == (half == "calibration"):
            with Image.open(path) as im:
                out.append((cls, f"{path.parent.parent.name}-{path.stem}", im.convert("RGB")))
    try:
        import skimage.data
    except ImportError:
        print("scikit-image not installed: benchmarking on Food-101 photos only", file=sys.stderr)
        return out
    folder = Path(os.path.dirname(skimage.data.__file__))
    for n, name in enumerate(SKIMAGE_FILES):
        if (n % 2 == 0) == (half == "calibration") and (folder / name).is_file():
            with Image.open(folder / name) as im:
                out.append(("skimage", Path(name).stem, im.convert("RGB")))
    return out


def _at_size(im: Image.Image, size: int | None) -> Image.Image:
    if size is None:
        return im
    scale = size / max(im.size)
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)


def build(data: Path, half: str, size: int | None, seed: int) -> list[Item]:
    """The benchmark images for one size (None: the photos' own size, 256-512 px)."""
    rng = np.random.default_rng(seed)
    sources = _sources(data, half)
    items: list[Item] = []
    for s, (cls, name, im) in enumerate(sources):
        src = SAME_PHOTO.get(f"{cls}/{name}", f"{cls}/{name}")
        items.append(Item(f"train/{cls}/{name}.png", src, "original", _at_size(im, size), None))
        for t, transform in enumerate(TRANSFORMS):
            if (s + t) % _STRIDE:
                continue
            edited = transform.edit(im, rng)
            if size is not None:
                factor = float(transform.strength[1:]) if transform.family == "resize" else 1.0
                edited = _at_size(edited, max(8, round(size * factor)))
            key = f"test/{cls}/{name}__{transform.family}__{transform.strength}.png"
            items.append(
                Item(key, src, transform.family, edited, transform.jpeg_quality, parent=f"train/{cls}/{name}.png")
            )
    side = size or 384
    for name, im in near_uniform_images(rng, (side, side * 3 // 4)):
        items.append(Item(f"test/uniform/{name}.png", f"uniform/{name}", "near-uniform", im, None))
    objects = [im for _, _, im in sources[: 2 * 8 : 2]]
    backdrops = [("gradient", Image.linear_gradient("L").convert("RGB").resize((side, side * 3 // 4)))]
    if sources:
        backdrops.append(("photo", _at_size(sources[-1][2], side)))
    for bname, backdrop in backdrops:
        for k, shot in enumerate(same_background_shots(backdrop, objects, rng)):
            items.append(Item(f"test/studio/{bname}{k}.png", f"studio/{bname}{k}", "same-background", shot, None))
    # Tiles: a 3x3 grid cut from every other Food-101 photo, each stored as its own image. Neighbouring
    # tiles and the corners of different photos (a plate rim, a table edge) look alike, especially
    # small; none is a copy of another. (A tile is part of its own photo: those pairs are not scored.)
    for s, (cls, name, im) in enumerate(sources):
        if cls == "skimage" or s % 2:
            continue
        tw, th = im.width // 3, im.height // 3
        for r in range(3):
            for c in range(3):
                tile = _at_size(im.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th)), size)
                src = SAME_PHOTO.get(f"{cls}/{name}", f"{cls}/{name}")
                key = f"test/tiles/{cls}-{name}-{r}{c}.jpg"
                items.append(Item(key, f"tile:{src}:{r}{c}", "tile", tile, 92, parent=src))
    return items


def _write(items: list[Item], root: Path) -> list[Record]:
    records: list[Record] = []
    for it in items:
        path = root / it.key
        path.parent.mkdir(parents=True, exist_ok=True)
        if it.jpeg_quality is not None:
            path = path.with_suffix(".jpg")
            it.image.convert("RGB").save(path, "JPEG", quality=it.jpeg_quality)
        else:
            it.image.save(path)
        split, label = it.key.split("/")[:2]
        records.append(Record(key=it.key, split=split, label=label, path=path))
    return records


@dataclass
class Tally:
    positives: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


def evaluate(items: list[Item], pairs: set[tuple[int, int]]) -> dict[str, Tally]:
    """Recall over (original, copy) pairs and precision over all predicted pairs, per family and overall."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    original = {it.key: k for k, it in enumerate(items) if it.family == "original"}
    for k, it in enumerate(items):
        if it.family not in ("original", *NEGATIVES):
            for name in (it.family, "overall"):
                tallies[name].positives += 1
                o = original[it.parent]
                if (min(o, k), max(o, k)) in pairs:
                    tallies[name].found += 1
    for i, j in pairs:
        if _tile_of(items[i], items[j]) or _tile_of(items[j], items[i]):
            continue
        ok = items[i].source == items[j].source
        fams = {items[i].family, items[j].family} - {"original"}
        for name in fams | {"overall"}:
            tallies[name].predicted += 1
            tallies[name].correct += ok
    return tallies


def _tile_of(tile: Item, other: Item) -> bool:
    """A tile and an image of the photo it was cut from (the photo or an edit of it): not scored."""
    return tile.family == "tile" and other.source == tile.parent


def _hash_pairs(codes: list[int], threshold: int) -> set[tuple[int, int]]:
    ii, jj, _ = hamming_pairs(np.array(codes, dtype=np.uint64), threshold)
    return set(zip(ii.tolist(), jj.tolist(), strict=True))


def _imagehash_int(h: imagehash.ImageHash) -> int:
    return int(str(h), 16)


def run_size(args: argparse.Namespace, size: int | None) -> tuple[dict[str, dict[str, Tally]], dict[str, float]]:
    items = build(Path(args.data), args.half, size, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        records = _write(items, Path(tmp))
        t0 = time.perf_counter()
        fps = fingerprint_all(records, FingerprintOptions(), jobs=args.jobs)
        t_fingerprint = time.perf_counter() - t0
        # The descriptor's share of the fingerprint pass, timed on the same decoded images.
        decoded = []
        for r in records:
            with Image.open(r.path) as im:  # type: ignore[arg-type]
                im.load()
                decoded.append(im.copy())
        t0 = time.perf_counter()
        for im in decoded:
            describe(im)
        t_describe = time.perf_counter() - t0
        t0 = time.perf_counter()
        ph = [_imagehash_int(imagehash.phash(im)) for im in decoded]
        dh = [_imagehash_int(imagehash.dhash(im)) for im in decoded]
        t_imagehash = time.perf_counter() - t0
    key_pos = {it.key: k for k, it in enumerate(items)}

    def relation_pairs(options: MatchOptions) -> tuple[set[tuple[int, int]], float]:
        t = time.perf_counter()
        index = Index(fps, options, jobs=args.jobs)
        rel = index.relations()
        elapsed = time.perf_counter() - t
        out = set()
        for r in rel:
            i, j = key_pos[r.a], key_pos[r.b]
            out.add((min(i, j), max(i, j)))
        return out, elapsed

    results: dict[str, dict[str, Tally]] = {}
    timing: dict[str, float] = {}
    detector, t_detect = relation_pairs(MatchOptions(method="verified", sensitivity=args.sensitivity))
    results["leakcheck"] = evaluate(items, detector)
    hashed, t_hash_index = relation_pairs(MatchOptions(method="hash"))
    results["leakcheck-hash"] = evaluate(items, hashed)
    results["pHash<=10"] = evaluate(items, _hash_pairs(ph, 10))
    results["dHash<=10"] = evaluate(items, _hash_pairs(dh, 10))
    timing.update(
        images=len(items), fingerprint=t_fingerprint, describe=t_describe, detect=t_detect,
        hash_index=t_hash_index, imagehash=t_imagehash,
    )  # fmt: skip
    if args.calibrate:
        calibrate(items, fps)
    if args.candidates:
        candidate_recall(items, fps, args.sensitivity)
    return results, timing


def _items_for(fps: list, items: list[Item]) -> tuple[list[NearItem], list[int]]:  # type: ignore[type-arg]
    key_pos = {it.key: k for k, it in enumerate(items)}
    near_items, positions = [], []
    for fp in fps:
        if fp.ok and fp.near is not None and not fp.flat:
            near_items.append(NearItem(fp.near, (fp.width, fp.height)))
            positions.append(key_pos[fp.record.key])
    return near_items, positions


def candidate_recall(items: list[Item], fps: list, sensitivity: str) -> None:  # type: ignore[type-arg]
    near_items, pos = _items_for(fps, items)
    pairs = candidates(near_items, settings_for(sensitivity))
    cands = {(min(pos[i], pos[j]), max(pos[i], pos[j])) for i, j in pairs}
    t = evaluate(items, cands)
    print(f"  candidate stage: {len(cands)} pairs verified; recall of (original, copy) pairs "
          f"{t['overall'].recall:.3f}; per family: "
          + ", ".join(f"{f} {t[f].recall:.2f}" for f in FAMILIES))  # fmt: skip


# Features and labels pooled over the sizes run so far (the calibration is one for all sizes).
_FEATURES: tuple[list[tuple[float, ...]], list[tuple[float, ...]], list[float]] = ([], [], [])


def _logistic_fit(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """Logistic regression by Newton's method, lightly regularised (with a fixed offset per row)."""
    w = np.zeros(x.shape[1])
    off = np.zeros(len(y)) if offset is None else offset
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(off + x @ w, -50, 50)))
        grad = x.T @ (p - y) + 1e-3 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(x.shape[1])
        w -= np.linalg.solve(hess, grad)
    return w


def calibrate(items: list[Item], fps: list) -> None:  # type: ignore[type-arg]
    """Fit the verifier's score (CALIBRATION) and the final decision (DECISION) on this half's candidate
    pairs and print both (use on the calibration half). The decision is fitted on the verifier's score
    as it stands in the code, so fit CALIBRATION first, paste it, then run again for DECISION."""
    near_items, pos = _items_for(fps, items)
    scored = score_candidates(near_items, settings_for("thorough"))
    for s in scored:
        a, b = items[pos[s.i]], items[pos[s.j]]
        if s.verdict is None or _tile_of(a, b) or _tile_of(b, a):
            continue
        v = s.verdict
        free = float(abs(v.alignment.angle % 90.0) > 1e-3 and abs(v.alignment.angle % 90.0 - 90.0) > 1e-3)
        _FEATURES[0].append((v.pixel_similarity, v.edge_similarity, v.alignment.overlap, free, 1.0))
        _FEATURES[1].append(decision_features(v, near_items[s.i].descriptor, near_items[s.j].descriptor))
        _FEATURES[2].append(float(a.source == b.source))
    y = np.array(_FEATURES[2])
    w = _logistic_fit(np.array(_FEATURES[0]), y)
    dx = np.array(_FEATURES[1])
    d = _logistic_fit(dx[:, 1:], y, offset=dx[:, 0])
    print(f"  calibration on {len(y)} candidate pairs so far ({int(y.sum())} duplicates):\n"
          f"  CALIBRATION = ({w[0]:.3f}, {w[1]:.3f}, {w[2]:.3f}, {w[3]:.3f}, {w[4]:.3f})\n"
          f"  DECISION = ({d[0]:.3f}, {d[1]:.3f})")  # fmt: skip


def _print_table(size_name: str, results: dict[str, dict[str, Tally]]) -> None:
    methods = list(results)
    head = f"{'family':16s} {'pairs':>6s} " + " ".join(f"{m + ' R':>16s} {'P':>6s}" for m in methods)
    print(f"\n== {size_name} ==")
    print(head)
    for fam in (*FAMILIES, "overall"):
        base = results[methods[0]].get(fam)
        if base is None:
            continue
        cells = []
        for m in methods:
            t = results[m].get(fam, Tally())
            cells.append(f"{t.recall:16.3f} {t.precision:6.3f}")
        print(f"{fam:16s} {base.positives:6d} " + " ".join(cells))
    for neg in NEGATIVES:
        counts = " ".join(f"{m}={results[m][neg].predicted if neg in results[m] else 0}" for m in methods)
        print(f"false pairs touching {neg} images: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", help="folder holding food101-sample/")
    parser.add_argument("--sizes", default="32,full", help="comma-separated: 32 (thumbnails) and/or full")
    parser.add_argument("--half", choices=("report", "calibration"), default="report")
    parser.add_argument("--sensitivity", default="default", choices=("strict", "default", "thorough"))
    parser.add_argument("--jobs", type=int, default=1, help="processes for the fingerprint pass and for verification")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true", help="fit and print the score calibration")
    parser.add_argument("--candidates", action="store_true", help="also report the candidate stage's recall")
    args = parser.parse_args()
    print(f"half={args.half} sensitivity={args.sensitivity} seed={args.seed}")
    for token in args.sizes.split(","):
        size = None if token == "full" else int(token)
        name = "32 px" if size == 32 else ("photos, 256-512 px" if size is None else f"{size} px")
        results, timing = run_size(args, size)
        _print_table(name, results)
        hash_scan = timing["fingerprint"] - timing["describe"] + timing["hash_index"]
        detector_scan = timing["fingerprint"] + timing["detect"]
        print(
            f"time for {int(timing['images'])} images: hash-only scan {hash_scan:.1f} s "
            f"(fingerprint pass without descriptor + hash index); detector scan {detector_scan:.1f} s "
            f"(descriptor {timing['describe']:.1f} s + candidates/verification {timing['detect']:.1f} s): "
            f"x{detector_scan / hash_scan:.1f}"
        )


if __name__ == "__main__":
    main()
