"""The arrays example runs offline, start to finish, and reports the bugs it plants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_arrays_example_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "arrays_example.py")],
        capture_output=True, text=True, env=env, check=True, timeout=300,
    )  # fmt: skip
    assert "error: test: 25 of 100 images (25.0%) also appear in train" in done.stdout
    assert "error: test: pixels are uint8 in 0-255 but train is float32 in [0, 1]" in done.stdout
    assert "groups (100.0%, 100 images) also appear in train" in done.stdout
