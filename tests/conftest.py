from pathlib import Path

import pytest

from tests.factories import ProjectFactory

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRM800K_DIR = SHARED_DATA / "prm800k"


@pytest.fixture
def project(db):
    return ProjectFactory(name="test project")


@pytest.fixture
def loopback_endpoints(settings):
    """The operator allows model endpoints on 127.0.0.1, where the tests' servers listen."""
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings
