from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import ProjectFactory
from tests.support.worker import SharedWorker, WorkerProcess

# Beside the checkout (/work/main -> /work/shared), or beside a worktree's directory too
# (/work/wt/NAME -> /work/shared): the nearest one up the tree.
SHARED_DATA = next(
    (
        parent / "shared" / "data"
        for parent in Path(__file__).resolve().parents[1:]
        if (parent / "shared" / "data").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data",
)
PRM800K_DIR = SHARED_DATA / "prm800k"


@pytest.fixture
def project(db):
    return ProjectFactory(name="test project")


@pytest.fixture
def loopback_endpoints(settings):
    """The operator allows model endpoints on 127.0.0.1, where the tests' servers listen."""
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings


@pytest.fixture(scope="session")
def shared_worker_pool(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedWorker]:
    pool = SharedWorker(tmp_path_factory.mktemp("shared-worker-logs"))
    yield pool
    pool.stop()


@pytest.fixture(scope="module")
def shared_worker(shared_worker_pool: SharedWorker) -> Iterator[WorkerProcess]:
    """The session's worker (tests/support/worker.py SharedWorker), consuming for this module."""
    yield shared_worker_pool.acquire()
    shared_worker_pool.release()


@pytest.fixture(autouse=True)
def fresh_api_rates():
    """Each test starts with no API requests counted: the throttles' counts live in the cache
    (this process's memory), and tests share the client address 127.0.0.1."""
    from django.core.cache import cache

    cache.clear()
