"""Generate `mini-food`: the Food-101 leak in miniature, as synthetic photos you may use freely (CC0).

The real case: a Food-101 subset of 4 classes (train 4,000 / val 2,217 / test 2,128) where every val and
test image was also in train, so every split scored 100%. This script draws procedural "plates of food"
(a table, a plate, a class-coloured dish with random toppings), writes a train split, and builds val and
test entirely from copies of training images: byte copies, JPEG re-encodes at a lower quality, PNG re-saves
and slightly smaller resizes, as happens when a data set is assembled from several downloads.

    python examples/make_mini_food.py                 # examples/mini-food: 100 train, 56 val, 52 test
    python examples/make_mini_food.py --clean         # val/test are new photos: no leak
    python examples/make_mini_food.py /tmp/big --train-per-class 5000   # ~42,000 images (20,000 in train)
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = {
    # class: (dish colour, topping colours)
    "apple_pie": ((196, 140, 70), ((230, 190, 120), (150, 90, 40))),
    "bibimbap": ((200, 60, 40), ((250, 240, 220), (60, 140, 60), (240, 160, 40))),
    "beignets": ((235, 215, 170), ((250, 250, 250), (200, 160, 100))),
    "bread_pudding": ((170, 110, 60), ((120, 60, 30), (230, 200, 150))),
}
RATIO_VAL, RATIO_TEST = 0.5543, 0.532  # 2,217 and 2,128 per 4,000, as in the original case


def draw_photo(label: str, rng: np.random.Generator) -> Image.Image:
    """One synthetic food photo: its layout comes from `rng`, its colours from the class."""
    w, h = int(rng.integers(200, 320)), int(rng.integers(180, 300))
    dish, toppings = CLASSES[label]
    # A table cloth of random low-frequency colour: it gives every photo its own global structure.
    cloth = rng.integers(20, 236, size=(int(rng.integers(6, 10)), int(rng.integers(6, 10)), 3), dtype=np.uint8)
    img = Image.fromarray(cloth, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(img)
    cx, cy = w * rng.uniform(0.25, 0.75), h * rng.uniform(0.25, 0.75)
    r = min(w, h) * rng.uniform(0.22, 0.4)
    d.ellipse((cx - r, cy - r * 0.9, cx + r, cy + r * 0.9), fill=(245, 245, 240), outline=(200, 200, 200), width=3)
    jitter = rng.integers(-25, 25, size=3)
    food = tuple(int(v) for v in np.clip(np.array(dish) + jitter, 0, 255))
    d.ellipse((cx - r * 0.7, cy - r * 0.6, cx + r * 0.7, cy + r * 0.6), fill=food)
    for _ in range(int(rng.integers(8, 30))):
        colour = toppings[int(rng.integers(len(toppings)))]
        tx, ty = cx + rng.normal(0, r * 0.35), cy + rng.normal(0, r * 0.3)
        s = rng.uniform(3, r * 0.18)
        d.ellipse((tx - s, ty - s * rng.uniform(0.5, 1.5), tx + s, ty + s), fill=colour)
    noise = rng.normal(0, 7, size=(h, w, 3))
    arr = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB").filter(ImageFilter.GaussianBlur(0.6))


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _copy(src: Path, dest_dir: Path, kind: int) -> None:
    """Byte copy, re-encode, PNG re-save or resize, in turn."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if kind == 0:
        shutil.copyfile(src, dest_dir / src.name)
        return
    with Image.open(src) as im:
        if kind == 1:
            (dest_dir / f"{src.stem}_q70.jpg").write_bytes(_jpeg(im, 70))
        elif kind == 2:
            im.save(dest_dir / f"{src.stem}.png")
        else:
            small = im.resize((im.width * 4 // 5, im.height * 4 // 5), Image.Resampling.LANCZOS)
            (dest_dir / f"{src.stem}_small.jpg").write_bytes(_jpeg(small, 90))


def generate(out: Path, *, train_per_class: int, clean: bool, seed: int) -> dict[str, int]:
    if out.exists():
        raise SystemExit(f"{out} exists; remove it first or choose another folder")
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0, "test": 0}
    for label in CLASSES:
        train_paths = []
        for k in range(train_per_class):
            path = out / "train" / label / f"{label}_{k:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_jpeg(draw_photo(label, rng), 90))
            train_paths.append(path)
        counts["train"] += train_per_class
        for split, ratio in (("val", RATIO_VAL), ("test", RATIO_TEST)):
            n = round(train_per_class * ratio)
            if clean:
                for k in range(n):
                    path = out / split / label / f"{label}_{split}_{k:05d}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(_jpeg(draw_photo(label, rng), 90))
            else:
                picks = rng.choice(len(train_paths), size=n, replace=False)
                for j, idx in enumerate(sorted(picks)):
                    _copy(train_paths[idx], out / split / label, j % 4)
            counts[split] += n
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).parent / "mini-food")
    parser.add_argument("--train-per-class", type=int, default=25)
    parser.add_argument("--clean", action="store_true", help="val and test are new photos (no leak)")
    parser.add_argument("--seed", type=int, default=101)
    args = parser.parse_args()
    counts = generate(args.out, train_per_class=args.train_per_class, clean=args.clean, seed=args.seed)
    print(f"wrote {args.out}: " + ", ".join(f"{split} {n:,}" for split, n in counts.items()))


if __name__ == "__main__":
    main()
