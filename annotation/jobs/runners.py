"""Which function runs each kind of job: its runner, named in its row of the kinds table
(annotation/jobs/kinds.py). Runners take a claimed Job and do its work.

Model jobs are sharded: for them the runner returns the job's `Work` (workers/runners/
common.py): its items, and how to process a chunk of them and sum the job up, so that any
worker can take any chunk (workers/shards.py). The other jobs (imports, exports, training and
evaluation) run whole on one worker.

Runners are loaded by dotted path when a worker first runs one, so importing this module (the
web process does) never imports the workers' runners or torch.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from annotation.jobs.kinds import kind_of
from annotation.jobs.models import Job

# What a runner may report about a chunk it processed (e.g. backend calls); the job's result
# gets every chunk's report.
ChunkStats = dict[str, Any]


@dataclass(frozen=True)
class Work:
    """A model job as work any worker can do a part of (workers/shards.py cuts it into shards).

    `process` does one chunk of items, writing only what is still missing (so a chunk done twice
    writes nothing twice), and may report figures about it; `result` sums the job up from the
    database and the chunks' reports once every item is done."""

    items: Sequence[int]
    chunk_size: int
    process: Callable[[list[int]], ChunkStats | None]
    result: Callable[[list[ChunkStats]], dict[str, Any]]


def runner_for(kind: str) -> Callable[[Job], dict[str, object] | None]:
    """The function that runs a whole job."""
    row = kind_of(kind)
    if row.sharded:
        raise LookupError(f"jobs of kind {kind!r} are sharded: see work_for")
    runner: Callable[[Job], dict[str, object] | None] = import_string(row.runner)
    return runner


def work_for(kind: str) -> Callable[[Job], Work]:
    """The function that returns a sharded job's Work."""
    row = kind_of(kind)
    if not row.sharded:
        raise LookupError(f"jobs of kind {kind!r} run whole: see runner_for")
    work: Callable[[Job], Work] = import_string(row.runner)
    return work
