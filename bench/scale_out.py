"""Scale-out: one sampling job run by 1, 2, 4 and 8 worker processes on one broker.

The model is an OpenAI-compatible HTTP server of this benchmark's own
(workers/testing/fake_openai.py) that answers after a fixed latency per request plus a fixed
time per generated token: it stands in for a GPU server, so the workers wait, as they would on
a real deployment, rather than compute on this machine's two cores. The same job (ITEMS
problems, one sample each, CHUNK problems per shard) runs with each number of workers; the
figure is items per second from the job's creation to its end (database timestamps), and
`efficiency_8` = (items/s with 8 workers) / (8 x items/s with 1). Every run's outputs are
checked against the expected keys: duplicates and missing ones are counted.

A database of its own is created, migrated and dropped here; the broker is CELERY_BROKER_URL
(its queues are emptied first).
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
       CELERY_BROKER_URL=redis://127.0.0.1:6379/14 python bench/scale_out.py [items]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from annotation.jobs.models import Job
    from annotation.problems.models import Problem

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_DB = "stepwise_bench_scale_out"
ITEMS = 2000
CHUNK = 25  # problems per shard, sent in one request: 80 shards, 10 rounds of 8 workers
WORKERS = (1, 2, 4, 8)
# A request takes 1.5 s, what a GPU takes for a batch of short completions (a real sampling
# job's completions are longer, so the workers' own share of the time is smaller still).
LATENCY_S = 0.5  # per request
PER_TOKEN_S = 0.05  # per generated token (the longest completion of a request)
TOKENS = 20


def reset_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return admin_url.rsplit("/", 1)[0] + "/" + BENCH_DB


def drop_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def setup_django(database_url: str) -> None:
    from tests.support.endpoints import LOOPBACK_ENV

    os.environ["DATABASE_URL"] = database_url
    # The operator's policy here allows the fake server on 127.0.0.1 (the workers get it too).
    os.environ.update(LOOPBACK_ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()


def sample_job(workers: int, label: str, items: int, base_url: str) -> tuple[Job, list[Problem]]:
    """A sampling job on the fake server: one request per shard, TOKENS tokens per sample."""
    from annotation.core.models import Project
    from annotation.llm.services import model_config_create, sample_job_start
    from tests.support.data import make_problems, prompt

    project = Project.objects.create(name=f"scale-out with {workers} workers: {label}")
    problems = make_problems(project, items)
    model = model_config_create(
        project=project,
        name="fake GPU server",
        kind="openai",
        path_or_endpoint=base_url,
        served_name="fake",
        default_sampling={"max_tokens": TOKENS},
        use_chat_template=False,
        options={"timeout_s": 120, "prompts_per_request": CHUNK},
    )
    job = sample_job_start(
        project=project,
        user=None,  # started by the operator, as from the command line: no creator to re-check
        model=model,
        prompt=prompt(project, "sample"),
        problem_ids=[p.pk for p in problems],
        n=1,
        chunk_size=CHUNK,
    )
    return job, problems


def wait_for(job: Job) -> Job:
    from tests.support.worker import wait_until

    def ended() -> bool:
        job.refresh_from_db()
        return bool(job.is_finished)

    wait_until(ended, 3600, what=f"job {job.pk}", interval_s=0.5)
    assert job.status == "succeeded", job.error
    return job


def run(workers: int, items: int, base_url: str, log_dir: Path) -> dict[str, Any]:
    """One job with `workers` worker processes; items/s, duplicates and missing outputs.

    A warm-up job of two shards per worker goes first, so that the workers have loaded the
    model's client (a GPU worker loads its model once and keeps it)."""
    from annotation.jobs.models import JobShard
    from annotation.problems.models import Trace
    from tests.support.endpoints import LOOPBACK_ENV
    from tests.support.worker import WorkerProcess, purge_broker

    purge_broker()
    # Database connections kept between tasks, as in production.
    processes = [
        WorkerProcess(log_dir, env={**LOOPBACK_ENV, "DB_CONN_MAX_AGE": "60"}).launch()
        for _ in range(workers)
    ]
    try:
        for process in processes:
            process.wait_ready(timeout_s=300)
        wait_for(sample_job(workers, "warm-up", 2 * workers * CHUNK, base_url)[0])
        job, problems = sample_job(workers, "measured", items, base_url)
        wait_for(job)
    finally:
        for process in processes:
            process.stop()
    assert job.finished_at is not None and job.started_at is not None
    seconds = (job.finished_at - job.created_at).total_seconds()
    keys = Counter(Trace.objects.filter(job=job).values_list("external_id", flat=True))
    expected = {f"job{job.pk}:p{p.pk}:0" for p in problems}
    shards = list(JobShard.objects.filter(job=job))
    first = min(s.started_at for s in shards if s.started_at)
    busy = [
        (s.finished_at - s.started_at).total_seconds()
        for s in shards
        if s.finished_at and s.started_at
    ]
    return {
        "seconds": round(seconds, 2),
        "items_per_s": round(items / seconds, 2),
        "until_first_shard_s": round((first - job.created_at).total_seconds(), 2),
        "seconds_per_shard": round(sum(busy) / len(busy), 3),
        "shards_per_worker": sorted(Counter(s.worker for s in shards).values()),
        "duplicates": sum(count - 1 for count in keys.values()),
        "missing": len(expected - set(keys)),
    }


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else ITEMS
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    setup_django(reset_database(admin_url))
    from workers.testing.fake_openai import FakeOpenAIServer

    results: dict[int, dict[str, Any]] = {}
    try:
        with (
            FakeOpenAIServer(latency_s=LATENCY_S, per_token_s=PER_TOKEN_S, tokens=TOKENS) as server,
            tempfile.TemporaryDirectory() as logs,
        ):
            per_request = LATENCY_S + PER_TOKEN_S * TOKENS
            print(f"{items} items, {CHUNK} per shard, {per_request:.2f} s per request")
            for workers in WORKERS:
                results[workers] = run(workers, items, server.base_url, Path(logs))
                print(f"{workers} workers: {results[workers]}", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(admin_url)

    rate = {n: float(r["items_per_s"]) for n, r in results.items()}
    efficiency = {n: round(rate[n] / (n * rate[1]), 3) for n in WORKERS}
    print(f"efficiency (items/s at N) / (N x items/s at 1): {efficiency}")
    print(
        json.dumps(
            {
                "items": items,
                "items_per_shard": CHUNK,
                "seconds_per_request": round(LATENCY_S + PER_TOKEN_S * TOKENS, 3),
                "items_per_s": {str(n): rate[n] for n in WORKERS},
                "efficiency": {str(n): efficiency[n] for n in WORKERS},
                "efficiency_8": efficiency[8],
                "duplicates": sum(int(r["duplicates"]) for r in results.values()),
                "missing": sum(int(r["missing"]) for r in results.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
