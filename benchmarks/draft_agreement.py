"""How far reduced JPEG decodes move the perceptual hashes, on the shared Food-101 photos.

Run from the repository root:

    PYTHONPATH=. python benchmarks/draft_agreement.py

For each reduced size it decodes every photo with `Image.draft` (as the fingerprint does with
`DRAFT_SIZE`, taking dHash from the pHash thumbnail) and compares pHash and dHash with imagehash's on the
full decode: the share of identical hashes, the mean and largest distance in bits, the share of agreeing
bits, the largest change of a channel mean, and the CPU time per photo of decode plus both hashes.
"""

from __future__ import annotations

import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from leakcheck.hashing import dhash, dhash_of_thumbnail, pack_bits, phash_bits, phash_thumbnail

PHOTOS = "shared/data/food101-sample"


def main() -> None:
    root = next((p / PHOTOS for p in Path(__file__).resolve().parents if (p / PHOTOS).is_dir()), None)
    if root is None:
        raise SystemExit(f"needs the shared photos ({PHOTOS}) beside the repository or above it")
    paths = sorted(root.rglob("*.jpg"))
    reference = []
    for path in paths:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            ref_p, ref_d = int(str(imagehash.phash(im)), 16), int(str(imagehash.dhash(im)), 16)
        reference.append((ref_p, ref_d, np.asarray(rgb, dtype=np.float64).reshape(-1, 3).mean(axis=0)))
    print(f"{len(paths)} photos; distances in bits against imagehash on the full decode")
    print(f"{'size':>5} {'pHash same':>10} {'mean':>5} {'max':>4} {'dHash same':>10} {'mean':>5} {'max':>4} "
          f"{'bits agree':>10} {'mean shift':>10} {'ms/photo':>9}")  # fmt: skip
    for size in (None, 256, 128, 64, 32):
        pd, dd, shift = [], [], []
        cpu = time.process_time()
        for path, (ref_p, ref_d, ref_mean) in zip(paths, reference, strict=True):
            with Image.open(path) as im:
                if size:
                    im.draft("RGB", (size, size))
                im.load()
                gray = im.convert("L")
                thumb = phash_thumbnail(gray)
                pd.append((pack_bits(phash_bits(thumb)) ^ ref_p).bit_count())
                # (As the fingerprint does: a reduced decode's dHash comes from its pHash thumbnail.)
                dd.append(((dhash_of_thumbnail(thumb) if size else dhash(gray)) ^ ref_d).bit_count())
                shift.append(
                    float(np.abs(np.asarray(im, dtype=np.float64).reshape(-1, 3).mean(axis=0) - ref_mean).max())
                )
        cpu = (time.process_time() - cpu) / len(paths) * 1e3
        p, d = np.array(pd), np.array(dd)
        agree = 1 - (p.mean() + d.mean()) / 128
        print(f"{size or 'full':>5} {np.mean(p == 0):>10.1%} {p.mean():>5.2f} {p.max():>4} {np.mean(d == 0):>10.1%} "
              f"{d.mean():>5.2f} {d.max():>4} {agree:>10.2%} {max(shift):>10.2f} {cpu:>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
