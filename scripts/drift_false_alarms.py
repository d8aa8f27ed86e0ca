"""How often the split-drift check fires on random splits of one folder data set (its false-alarm rate).

    PYTHONPATH=. python scripts/drift_false_alarms.py /work/shared/data/food101-sample --splits 1000

Every image is fingerprinted once; then the images are dealt into train and test at random, keeping the
folder's own split sizes, and the check runs on each deal.
"""

from __future__ import annotations

import argparse
import dataclasses
import random

from leakcheck.checks import SplitDrift
from leakcheck.engine import fingerprint_all
from leakcheck.fingerprint import FingerprintOptions
from leakcheck.index import Index, MatchOptions
from leakcheck.sources.folder import list_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a folder data set with train/ and test/")
    parser.add_argument("--splits", type=int, default=1000, help="random splits to try (default 1000)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first split (default 0)")
    args = parser.parse_args()
    fps = fingerprint_all(list(list_folder(args.data).records), FingerprintOptions())
    n_test = sum(1 for fp in fps if fp.record.split != "train")
    check = SplitDrift()
    fired = 0
    for seed in range(args.first_seed, args.first_seed + args.splits):
        order = list(range(len(fps)))
        random.Random(seed).shuffle(order)
        test = set(order[:n_test])
        dealt = [
            dataclasses.replace(fp, record=dataclasses.replace(fp.record, split="test" if i in test else "train"))
            for i, fp in enumerate(fps)
        ]
        # (No near-duplicate links: the drift check does not use them, and the detector would run per deal.)
        fired += any(True for _ in check.run(Index(dealt, MatchOptions(near=False))))
    print(f"{fired} of {args.splits} random {len(fps) - n_test}/{n_test} splits raised a split-drift finding")


if __name__ == "__main__":
    main()
