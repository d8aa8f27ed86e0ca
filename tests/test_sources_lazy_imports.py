"""Scanning a folder, a manifest or an npz file never imports TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.synthetic import smooth_images, write_folder

_PROBE = """
import sys
import leakcheck
for target in sys.argv[1:]:
    leakcheck.scan(target, jobs=1)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_datasets", "keras"))
print("heavy:", heavy)
"""


def test_scanning_files_does_not_import_tensorflow(tmp_path: Path) -> None:
    x = smooth_images(8, seed=61)
    write_folder(tmp_path / "folder", {"train": (x[:6], ["a"] * 6), "test": (x[6:], ["a"] * 2)})
    (tmp_path / "folder" / "m.csv").write_text("path,label,split\ntrain/a/0000.png,a,train\ntest/a/0000.png,a,test\n")
    np.savez(tmp_path / "d.npz", x_train=x[:6], x_test=x[6:])
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    targets = [str(tmp_path / "folder"), str(tmp_path / "folder" / "m.csv"), str(tmp_path / "d.npz")]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *targets], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    assert done.stdout.strip() == "heavy: []"
