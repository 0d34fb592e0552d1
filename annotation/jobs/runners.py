"""Which function runs each kind of job. Runners take a claimed Job and do its work.

Model jobs are sharded: for them the table names a function that returns the job's `Work`
(workers/runners/common.py): its items, and how to process a chunk of them and sum the job up,
so that any worker can take any chunk (workers/shards.py). The other jobs run whole on one
worker.

Heavy runners import their model code inside the function, so importing this module
(the web process does) never imports torch.
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any

from annotation.jobs.models import Job

RunnerPath = str
RUNNERS: dict[str, RunnerPath] = {
    "import": "annotation.datasets.jobs.run_import",
    "export": "annotation.datasets.export.jobs.run_export",
}
SHARDED: dict[str, RunnerPath] = {
    "sample": "workers.runners.sample.sample_work",
    "expand": "workers.runners.expand.expand_work",
    "score": "workers.runners.score.score_work",
    "tree": "workers.runners.tree.tree_work",
    "long_thought": "workers.runners.long_thought.long_thought_work",
    "monte_carlo": "workers.runners.monte_carlo.monte_carlo_work",
}


def _load(table: dict[str, RunnerPath], kind: str) -> Any:
    try:
        module_name, _, function = table[kind].rpartition(".")
    except KeyError:
        raise LookupError(f"no runner for jobs of kind {kind!r}") from None
    return getattr(import_module(module_name), function)


def runner_for(kind: str) -> Callable[[Job], dict[str, object] | None]:
    runner: Callable[[Job], dict[str, object] | None] = _load(RUNNERS, kind)
    return runner


def work_for(kind: str) -> Callable[[Job], Any]:
    """The function that returns a sharded job's Work."""
    work: Callable[[Job], Any] = _load(SHARDED, kind)
    return work
