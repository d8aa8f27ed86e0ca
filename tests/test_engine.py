"""The process pool gives the same report as the in-process engine; the scan path never loads TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited one waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_pool_worker_ends_when_the_scan_is_killed() -> None:
    """A scan killed outright (SIGKILL, a CI timeout) must not leave its workers waiting forever."""
    script = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from leakcheck.workers import die_with_parent\n"
        "parent = os.getpid()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    die_with_parent(parent)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(0.5)\n"
        "os._exit(0)  # ends without shutting its worker down, as under SIGKILL\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    worker = int(done.stdout)
    for _ in range(100):
        if not _running(worker):
            break
        time.sleep(0.1)
    assert not _running(worker)
