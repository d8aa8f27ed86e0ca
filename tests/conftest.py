from __future__ import annotations

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
