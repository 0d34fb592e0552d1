from pathlib import Path

import pytest


@pytest.fixture
def store(settings, tmp_path: Path) -> Path:
    """Exports in a temporary media root, training runs in a temporary model store."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STEPWISE_MODEL_STORE = tmp_path / "models"
    return settings.STEPWISE_MODEL_STORE
