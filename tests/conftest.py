from pathlib import Path

import pytest

from tests.factories import ProjectFactory

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRM800K_DIR = SHARED_DATA / "prm800k"


@pytest.fixture
def project(db):
    return ProjectFactory(name="test project")
