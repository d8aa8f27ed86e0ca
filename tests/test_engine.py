"""The process pool gives the same report as the in-process engine; the scan path never loads TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import leakcheck
from tests.factory import DatasetFactory


def test_pool_and_in_process_reports_are_identical(factory: DatasetFactory) -> None:
    train = factory.add_many("train", ["a", "b", "c"], 30, seed0=0)
    for k, src in enumerate(train[::9]):
        factory.copy_bytes(src, "test", src.parent.name, f"copy{k}.jpg")
    factory.add_many("test", ["a", "b", "c"], 5, seed0=50_000)
    factory.path("train", "a", "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    progress: list[int] = []

    def start(total: int) -> object:
        progress.append(total)
        return lambda n: progress.append(n)

    pooled = leakcheck.scan(factory.root, jobs=2, progress=start)  # type: ignore[arg-type]  # a lambda suffices
    serial = leakcheck.scan(factory.root, jobs=1)
    assert pooled.to_json() == serial.to_json()
    assert progress[0] == 116
    assert sum(progress[1:]) == 116


def test_scanning_a_folder_never_imports_tensorflow(factory: DatasetFactory, tmp_path: Path) -> None:
    factory.add_many("train", ["a"], 2, seed0=0)
    factory.add_many("test", ["a"], 1, seed0=9)
    code = (
        "import sys, leakcheck\n"
        f"r = leakcheck.scan({str(factory.root)!r}, jobs=1)\n"
        "r.to_json(); r.pairs(); r.to_frame(); r._repr_html_()\n"
        "heavy = {'tensorflow', 'keras', 'tensorflow_datasets', 'torch'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_a_script_without_a_main_guard_can_use_the_pool(factory: DatasetFactory, tmp_path: Path) -> None:
    # spawn/forkserver would re-run this script in every worker; the pool must not.
    factory.add_many("train", ["a", "b"], 40, seed0=0)
    factory.add_many("test", ["a"], 2, seed0=9000)
    script = tmp_path / "audit.py"
    script.write_text(
        "import leakcheck\n"
        f"report = leakcheck.scan({str(factory.root)!r}, jobs=2)\n"
        "print('images', sum(s.images for s in report.splits))\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    assert result.stdout == "images 82\n"
