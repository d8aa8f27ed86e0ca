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


def test_the_readme_quick_start_shows_what_the_scan_prints(tmp_path: Path) -> None:
    import re

    out = tmp_path / "mini-food"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_mini_food.py"), str(out)], check=True, timeout=300)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") :]
    promised = re.findall(r"^LEAK  .*$", quick_start.split("## In a notebook")[0], flags=re.MULTILINE)
    assert len(promised) == 3
    done = subprocess.run(
        [sys.executable, "-m", "leakcheck", "scan", str(out), "--no-cache", "--no-config", "-j", "2"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 1
    shown = [line for line in done.stdout.splitlines() if line.startswith("LEAK  ") and "also appear in" in line]
    assert shown == promised
