from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factory import DatasetFactory

SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "food101-sample"


@pytest.fixture
def factory(tmp_path: Path) -> DatasetFactory:
    return DatasetFactory(tmp_path / "data")


@pytest.fixture
def shared_photos() -> Path:
    if not SHARED_PHOTOS.is_dir():
        pytest.skip(f"the shared Food-101 sample is not beside the repository ({SHARED_PHOTOS})")
    return SHARED_PHOTOS


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under root, to prove a scan changed nothing."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out
