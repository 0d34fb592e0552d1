"""Which function runs each kind of job. Runners take a claimed Job and do its work.

Heavy runners import their model code inside the function, so importing this module
(the web process does) never imports torch.
"""

from collections.abc import Callable
from importlib import import_module

from annotation.jobs.models import Job

RunnerPath = str
RUNNERS: dict[str, RunnerPath] = {
    "import": "annotation.datasets.jobs.run_import",
    "export": "annotation.datasets.export.jobs.run_export",
    "sample": "workers.runners.sample.run_sample",
    "expand": "workers.runners.expand.run_expand",
    "score": "workers.runners.score.run_score",
    "tree": "workers.runners.tree.run_tree",
    "long_thought": "workers.runners.long_thought.run_long_thought",
    "monte_carlo": "workers.runners.monte_carlo.run_monte_carlo",
    "train_sft": "workers.runners.train.run_train",
    "train_dpo": "workers.runners.train.run_train",
    "train_prm": "workers.runners.train.run_train",
    "evaluate": "workers.runners.evaluate.run_evaluate",
}


def runner_for(kind: str) -> Callable[[Job], dict[str, object] | None]:
    try:
        module_name, _, function = RUNNERS[kind].rpartition(".")
    except KeyError:
        raise LookupError(f"no runner for jobs of kind {kind!r}") from None
    runner: Callable[[Job], dict[str, object] | None] = getattr(
        import_module(module_name), function
    )
    return runner
