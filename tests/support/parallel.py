"""What each pytest-xdist worker (`pytest -n N`) needs of its own, set before Django loads.

Loaded with `-p tests.support.parallel` (pyproject.toml's addopts), so it runs before
pytest-django imports the settings. In a worker (PYTEST_XDIST_WORKER=gw0, gw1, ...):

- the Celery broker: CELERY_BROKER_URL's Redis database number plus the worker's index
  (redis://127.0.0.1:6379/12 -> /12 for gw0, /13 for gw1, ...), so that one worker's purged
  queues and jobs enqueued for nobody never reach another worker's Celery processes (kombu's
  fanout channels, Celery's control commands, carry the database number too);
- the files jobs write (MEDIA_ROOT, STEPWISE_MODEL_STORE): a temporary directory per worker,
  removed at the end, since each worker's database numbers its jobs from 1 (a training run
  lives in STEPWISE_MODEL_STORE/job-<id>/) and the Celery workers it starts inherit the
  environment;
- the test database: pytest-django already names it per worker (test_stepwise_gw0, ...), and
  tests/support/worker.py passes that name on to the Celery workers it starts.

Without xdist (plain `pytest`, or `-n 0`) nothing changes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

# Redis's default `databases` setting: numbers 0 to 15.
REDIS_DATABASES = 16


def worker_index() -> int | None:
    """0 for gw0, 1 for gw1, ...; None outside an xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def broker_url_for_worker(url: str, index: int) -> str:
    """The Redis broker URL with its database number moved up by the worker's index."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise pytest.UsageError(
            f"pytest -n needs a Redis CELERY_BROKER_URL (each worker takes a database of its "
            f"own), not {parts.scheme or url!r}"
        )
    base = int(parts.path.strip("/") or 0)
    database = base + index
    if database >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"xdist worker gw{index} needs Redis database {database}: start from a lower "
            f"database in CELERY_BROKER_URL (redis://host:port/N, N + workers <= "
            f"{REDIS_DATABASES})"
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


_files: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    """Before pytest-django's own implementation of this hook, which loads the settings."""
    global _files
    index = worker_index()
    if index is None:
        return
    if "CELERY_BROKER_URL" in os.environ:
        os.environ["CELERY_BROKER_URL"] = broker_url_for_worker(
            os.environ["CELERY_BROKER_URL"], index
        )
    _files = Path(tempfile.mkdtemp(prefix=f"stepwise-gw{index}-"))
    os.environ["MEDIA_ROOT"] = str(_files / "media")
    os.environ["STEPWISE_MODEL_STORE"] = str(_files / "models")


def pytest_unconfigure() -> None:
    if _files is not None:
        shutil.rmtree(_files, ignore_errors=True)


# Test modules that start vLLM engines (in the test process, an api_server, or through the
# shared Celery worker's jobs): run by one xdist worker, since each engine takes several GiB
# and tens of seconds to start, so that one process pays for them, once.
VLLM_MODULES = frozenset(
    {
        "tests/workers/backends/test_openai_generator.py",
        "tests/workers/backends/test_vllm_generator.py",
        "tests/workers/backends/test_vllm_pooling_scorer.py",
        "tests/workers/test_jobs_end_to_end.py",
        "tests/trees/test_steered_jobs_worker.py",
        "tests/trees/test_tree_jobs_worker.py",
    }
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` with VLLM_MODULES as one group and every other test on its own.

    xdist's own loadgroup reads `xdist_group` marks by renaming the tests, which pytest 9.2
    no longer allows (the marks are silently ignored): the modules are named here instead.
    The group has the most tests, so it is handed out first.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class VLLMGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "vllm" if nodeid.split("::", 1)[0] in VLLM_MODULES else nodeid

    return VLLMGroupScheduling(config, log)
