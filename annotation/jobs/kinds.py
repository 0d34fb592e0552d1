"""The table of job kinds: one row per kind, and everything that lists kinds reads it.

A row says what a job of its kind is: its label, its parameters class, its runner, whether
the runner's work is cut into shards, the queue it runs on, the ability starting it needs and
the page that shows it. The model field's choices, the queues, the runners' table, the access
rule and the pages all come from here, so a new kind is a row here, a parameters class and a
runner (plus a name in JobKind, for code that names the kind).

Parameters classes and runners are named by dotted path, loaded when first used: the classes
live in apps above this one (exports, training) and the runners in the workers, which the web
process never imports (annotation/jobs/params.py `params_class`, annotation/jobs/runners.py).

Modules named in settings.STEPWISE_EXTRA_JOB_KINDS add rows of their own: each holds a list
`KINDS` of `Kind`. The web process and every worker must name the same modules.
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import import_module
from typing import Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from annotation.core.access import Ability

# Model jobs run on `gpu` (one worker process per GPU, the model kept loaded); imports,
# exports and light work on `default`.
Queue = Literal["default", "gpu"]
QUEUES: tuple[Queue, ...] = ("default", "gpu")


@dataclass(frozen=True)
class Kind:
    name: str  # what Job.kind stores
    label: str
    params: str  # dotted path of the parameters class (annotation/jobs/params.py)
    # Dotted path of the runner: whole, a function Job -> result dict; sharded, a function
    # Job -> Work whose chunks any worker may do (annotation/jobs/runners.py).
    runner: str
    queue: Queue
    sharded: bool = False
    # Starting (and running) a job of this kind needs this ability in its project.
    ability: Ability = Ability.RESEARCH
    page: str = "job"  # URL name of the kind's page, taking the job's id
    # POST /api/jobs/ may start it from its parameters as sent. Only for a kind whose
    # parameters hold ids (the project boundary checks them) and plain values: never a copy
    # of a row (a model snapshot) that a caller could forge; those kinds have start services.
    api_start: bool = False


class JobKind(StrEnum):
    """The names of the built-in kinds, for code that names one (`JobKind.SAMPLE`)."""

    IMPORT = "import"
    EXPORT = "export"
    SAMPLE = "sample"
    EXPAND = "expand"
    SCORE = "score"
    TREE = "tree"
    LONG_THOUGHT = "long_thought"
    MONTE_CARLO = "monte_carlo"
    CONTINUE = "continue"
    TRAIN_SFT = "train_sft"
    TRAIN_DPO = "train_dpo"
    TRAIN_PRM = "train_prm"
    TRAIN_GRPO = "train_grpo"
    EVALUATE = "evaluate"
    PROPOSAL_CRITIQUE = "proposal_critique"
    POLICY_CRITIC = "policy_critic"
    SCORER_COMPARISON = "scorer_comparison"
    BEST_OF_N = "best_of_n"
    DISAGREEMENT_QUEUE = "disagreement_queue"
    AGREEMENT = "agreement"
    ROUND_COMPARISON = "round_comparison"


PARAMS = "annotation.jobs.params"
RUNNERS = "workers.runners"
ANALYSES = "annotation.evaluation.analyses"

BUILT_IN: tuple[Kind, ...] = (
    Kind(
        JobKind.IMPORT,
        "Import",
        params=f"{PARAMS}.ImportParams",
        runner="annotation.datasets.jobs.run_import",
        queue="default",
        ability=Ability.MANAGE,
    ),
    Kind(
        JobKind.EXPORT,
        "Export",
        params="annotation.datasets.export.options.ExportOptions",
        runner="annotation.datasets.export.jobs.run_export",
        queue="default",
        ability=Ability.MANAGE,
        page="export-job",
    ),
    Kind(
        JobKind.SAMPLE,
        "Sample solutions",
        params=f"{PARAMS}.SampleParams",
        runner=f"{RUNNERS}.sample.sample_work",
        queue="gpu",
        sharded=True,
        page="llm-job",
    ),
    Kind(
        JobKind.EXPAND,
        "Expand records",
        params=f"{PARAMS}.ExpandParams",
        runner=f"{RUNNERS}.expand.expand_work",
        queue="gpu",
        sharded=True,
        page="llm-job",
    ),
    Kind(
        JobKind.SCORE,
        "Score steps",
        params=f"{PARAMS}.ScoreParams",
        runner=f"{RUNNERS}.score.score_work",
        queue="gpu",
        sharded=True,
        page="llm-job",
    ),
    Kind(
        JobKind.TREE,
        "Build trees",
        params=f"{PARAMS}.TreeParams",
        runner=f"{RUNNERS}.tree.tree_work",
        queue="gpu",
        sharded=True,
        page="trees-job",
    ),
    Kind(
        JobKind.LONG_THOUGHT,
        "Derive long thoughts",
        params=f"{PARAMS}.LongThoughtParams",
        runner=f"{RUNNERS}.long_thought.long_thought_work",
        queue="gpu",
        sharded=True,
        page="trees-job",
    ),
    Kind(
        JobKind.MONTE_CARLO,
        "Monte-Carlo labels",
        params=f"{PARAMS}.MonteCarloParams",
        runner=f"{RUNNERS}.monte_carlo.monte_carlo_work",
        queue="gpu",
        sharded=True,
        page="evaluation-rollouts",
    ),
    # One generation: not sharded.
    Kind(
        JobKind.CONTINUE,
        "Continue an annotator's path",
        params=f"{PARAMS}.ContinueParams",
        runner=f"{RUNNERS}.continuation.run_continue",
        queue="gpu",
        ability=Ability.ANNOTATE,
    ),
    # Training runs in one process (a retaken job resumes from its last checkpoint); an
    # evaluation samples model by model, each model loaded once: neither is sharded.
    Kind(
        JobKind.TRAIN_SFT,
        "SFT training",
        params="annotation.training.params.TrainingParams",
        runner=f"{RUNNERS}.train.run_train",
        queue="gpu",
    ),
    Kind(
        JobKind.TRAIN_DPO,
        "DPO training",
        params="annotation.training.params.TrainingParams",
        runner=f"{RUNNERS}.train.run_train",
        queue="gpu",
    ),
    Kind(
        JobKind.TRAIN_PRM,
        "PRM training",
        params="annotation.training.params.TrainingParams",
        runner=f"{RUNNERS}.train.run_train",
        queue="gpu",
    ),
    Kind(
        JobKind.TRAIN_GRPO,
        "GRPO training (+RL)",
        params="annotation.training.params.GRPOParams",
        runner=f"{RUNNERS}.train.run_train",
        queue="gpu",
    ),
    Kind(
        JobKind.EVALUATE,
        "Evaluate models",
        params="annotation.training.params.EvaluationParams",
        runner=f"{RUNNERS}.evaluate.run_evaluate",
        queue="gpu",
    ),
    # One loop per problem, independent of the others: a shard runs its problems' loops
    # batched turn by turn (one generator call per turn for all of them).
    Kind(
        JobKind.PROPOSAL_CRITIQUE,
        "Proposal-critique loop",
        params=f"{PARAMS}.ProposalCritiqueParams",
        runner=f"{RUNNERS}.steered.proposal_critique_work",
        queue="gpu",
        sharded=True,
        page="trees-job",  # its trees and long thoughts
    ),
    Kind(
        JobKind.POLICY_CRITIC,
        "Policy-critic dialogue",
        params=f"{PARAMS}.PolicyCriticParams",
        runner=f"{RUNNERS}.steered.policy_critic_work",
        queue="gpu",
        sharded=True,
        page="trees-job",  # its trees and long thoughts
    ),
    # Whole-project analyses (annotation/evaluation/analyses.py): each reads every grade of
    # its project once and stores the result the evaluation pages show.
    Kind(
        JobKind.SCORER_COMPARISON,
        "Scorers against people",
        params=f"{ANALYSES}.AnalysisParams",
        runner=f"{ANALYSES}.run_scorer_comparison",
        queue="default",
        api_start=True,
    ),
    Kind(
        JobKind.BEST_OF_N,
        "Best-of-N curves",
        params=f"{ANALYSES}.BestOfNParams",
        runner=f"{ANALYSES}.run_best_of_n",
        queue="default",
        api_start=True,
    ),
    Kind(
        JobKind.DISAGREEMENT_QUEUE,
        "Disagreement queue",
        params=f"{ANALYSES}.AnalysisParams",
        runner=f"{ANALYSES}.run_disagreement_queue",
        queue="default",
        api_start=True,
    ),
    # Agreement between annotators (annotation/workspace/agreement_job.py): the dashboard's.
    Kind(
        JobKind.AGREEMENT,
        "Agreement between annotators",
        params=f"{ANALYSES}.AnalysisParams",
        runner="annotation.workspace.agreement_job.run_agreement",
        queue="default",
        ability=Ability.REVIEW,
        api_start=True,
    ),
    # Two tree rounds side by side (annotation/trees/comparison_job.py): every tree of both.
    Kind(
        JobKind.ROUND_COMPARISON,
        "Round comparison",
        params=f"{ANALYSES}.RoundComparisonParams",
        runner="annotation.trees.comparison_job.run_round_comparison",
        queue="default",
        api_start=True,
    ),
)


def kinds() -> dict[str, Kind]:
    """Every kind by name: the built-in ones, then those of settings.STEPWISE_EXTRA_JOB_KINDS."""
    return _table(tuple(settings.STEPWISE_EXTRA_JOB_KINDS))


@cache
def _table(extra_modules: tuple[str, ...]) -> dict[str, Kind]:
    rows = [*BUILT_IN, *(row for name in extra_modules for row in import_module(name).KINDS)]
    table: dict[str, Kind] = {}
    for row in rows:
        if row.name in table:
            raise ImproperlyConfigured(f"the job kind {row.name!r} is declared twice")
        if row.queue not in QUEUES:
            raise ImproperlyConfigured(f"the job kind {row.name!r} names no queue: {row.queue!r}")
        table[row.name] = row
    return table


def kind_of(name: str) -> Kind:
    try:
        return kinds()[name]
    except KeyError:
        raise LookupError(f"no job kind {name!r}") from None


def kind_choices() -> list[tuple[str, str]]:
    """Job.kind's choices (a callable, so that a new kind needs no migration)."""
    return [(row.name, row.label) for row in kinds().values()]


def queue_for(kind: str) -> Queue:
    return kind_of(kind).queue
