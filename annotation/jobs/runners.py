"""Which function runs each kind of job. Runners take a claimed Job and do its work.

Model jobs are sharded: for them the table names a function that returns the job's `Work`
(workers/runners/common.py): its items, and how to process a chunk of them and sum the job up,
so that any worker can take any chunk (workers/shards.py). The other jobs (imports, exports,
training and evaluation) run whole on one worker.

Heavy runners import their model code inside the function, so importing this module
(the web process does) never imports torch.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from annotation.jobs.models import Job

RunnerPath = str
RUNNERS: dict[str, RunnerPath] = {
    "import": "annotation.datasets.jobs.run_import",
    "export": "annotation.datasets.export.jobs.run_export",
    "continue": "workers.runners.continuation.run_continue",  # one generation: not sharded
    # Training runs in one process (a retaken job resumes from its last checkpoint); an
    # evaluation samples model by model, each model loaded once, so neither is sharded.
    "train_sft": "workers.runners.train.run_train",
    "train_dpo": "workers.runners.train.run_train",
    "train_prm": "workers.runners.train.run_train",
    "train_grpo": "workers.runners.train.run_train",
    "evaluate": "workers.runners.evaluate.run_evaluate",
}
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


SHARDED: dict[str, RunnerPath] = {
    "sample": "workers.runners.sample.sample_work",
    "expand": "workers.runners.expand.expand_work",
    "score": "workers.runners.score.score_work",
    "tree": "workers.runners.tree.tree_work",
    "long_thought": "workers.runners.long_thought.long_thought_work",
    "monte_carlo": "workers.runners.monte_carlo.monte_carlo_work",
    # One loop per problem, independent of the others: a shard runs its problems' loops
    # batched turn by turn (one generator call per turn for all of them).
    "proposal_critique": "workers.runners.steered.proposal_critique_work",
    "policy_critic": "workers.runners.steered.policy_critic_work",
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


def work_for(kind: str) -> Callable[[Job], Work]:
    """The function that returns a sharded job's Work."""
    work: Callable[[Job], Work] = _load(SHARDED, kind)
    return work
