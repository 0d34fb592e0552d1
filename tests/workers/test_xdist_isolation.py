"""Each pytest-xdist worker has a broker and a test database of its own (tests/support/parallel.py).

Run under `pytest -n N` (as `make test` does), the last two tests check the worker they run in;
run without xdist, they check that nothing was changed.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.support import worker as worker_process
from tests.support.parallel import VLLM_MODULES, broker_url_for_worker


@pytest.mark.parametrize(
    ("url", "index", "expected"),
    [
        ("redis://127.0.0.1:6379/12", 0, "redis://127.0.0.1:6379/12"),
        ("redis://127.0.0.1:6379/12", 3, "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379", 2, "redis://127.0.0.1:6379/2"),
        (
            "rediss://:secret@cache.example:6380/4?ssl_cert_reqs=none",
            1,
            "rediss://:secret@cache.example:6380/5?ssl_cert_reqs=none",
        ),
    ],
)
def test_each_worker_takes_the_next_redis_database(url: str, index: int, expected: str) -> None:
    assert broker_url_for_worker(url, index) == expected


def test_a_worker_past_redis_s_last_database_is_refused_with_what_to_change() -> None:
    with pytest.raises(pytest.UsageError, match="needs Redis database 16: start from a lower"):
        broker_url_for_worker("redis://127.0.0.1:6379/14", 2)


def test_a_broker_other_than_redis_is_refused_under_xdist() -> None:
    with pytest.raises(pytest.UsageError, match="needs a Redis CELERY_BROKER_URL"):
        broker_url_for_worker("amqp://guest:guest@127.0.0.1:5672//", 1)


def test_the_settings_read_the_worker_s_environment() -> None:
    """It was changed before Django's settings were loaded, not after."""
    assert os.environ["CELERY_BROKER_URL"] == settings.CELERY_BROKER_URL
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        assert f"stepwise-{worker}-" in str(settings.STEPWISE_MODEL_STORE)
        assert f"stepwise-{worker}-" in str(settings.MEDIA_ROOT)


@pytest.mark.django_db
def test_the_workers_it_starts_use_its_own_test_database() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = worker_process.test_database_url().rsplit("/", 1)[1]
    assert name.startswith("test_")
    assert name.endswith(f"_{worker}") if worker else not name.endswith("_gw0")


def test_the_vllm_group_names_modules_that_exist() -> None:
    root = Path(__file__).resolve().parents[2]
    assert [module for module in sorted(VLLM_MODULES) if not (root / module).is_file()] == []
