from __future__ import annotations

from pathlib import Path

import pytest

from tests.factory import DatasetFactory

SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "food101-sample"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans cache fingerprints in the user cache folder by default; tests keep theirs private."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def factory(tmp_path: Path) -> DatasetFactory:
    return DatasetFactory(tmp_path / "data")


@pytest.fixture
def shared_photos() -> Path:
    if not SHARED_PHOTOS.is_dir():
        pytest.skip(f"the shared Food-101 sample is not beside the repository ({SHARED_PHOTOS})")
    return SHARED_PHOTOS
