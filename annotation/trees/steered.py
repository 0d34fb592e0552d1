"""Long thoughts the model steers itself (O1-Journey attempts 2 and 3): starting the
proposal-critique and policy-critic jobs, saving each problem's transcript between turns, and
writing each finished loop as a tree of the job (a round the tree view shows), its long thought
(and, when solved, the shortcut to the answer) and, for the dialogue, the critic's grades.

The loops themselves are pure (algorithms.proposal_critique, algorithms.policy_critic); the
runner (workers/runners/steered.py) drives them batched across a shard's problems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from algorithms import policy_critic, proposal_critique
from algorithms.steering import SteeredResult, Turn
from annotation.core.models import Project
from annotation.grading.models import GradeSource
from annotation.grading.services import Score, run_scores_write
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import (
    ModelSnapshot,
    PolicyCriticParams,
    ProposalCritiqueParams,
)
from annotation.jobs.services import job_create
from annotation.jobs.typed_json import ParamsError, from_json
from annotation.llm.models import ModelConfig
from annotation.llm.services import check_job_model, job_sampling
from annotation.problems.models import Problem, Trace
from annotation.problems.services import NewTrace, traces_write
from annotation.trees.models import SteeredLoop
from annotation.trees.services import shortcut_trace, step_node_ids, thought_trace, trees_write

# The prompt versions each kind may run with.
VERSIONS: dict[str, Mapping[str, Any]] = {
    JobKind.PROPOSAL_CRITIQUE: proposal_critique.PROMPT_SETS,
    JobKind.POLICY_CRITIC: policy_critic.PROMPT_SETS,
}


def loop_key(job: Job, problem_id: int, kind: str) -> str:
    """The external id of a loop's long thought (``kind`` the job's kind) or its shortcut."""
    return f"lt{job.pk}:p{problem_id}:{kind}"


# Transcripts, saved after every turn -----------------------------------------------------------


def steered_transcripts(job: Job, problem_ids: Sequence[int]) -> dict[int, list[Turn]]:
    """The stored transcript of each problem's loop that has one; a turn that does not read
    back raises ValueError naming the problem, the turn and the field."""
    transcripts = {}
    for problem_id, turns in SteeredLoop.objects.filter(
        job=job, problem_id__in=problem_ids
    ).values_list("problem_id", "turns"):
        try:
            transcripts[problem_id] = [
                from_json(Turn, turn, f"turns[{number}].") for number, turn in enumerate(turns)
            ]
        except ParamsError as error:
            raise ValueError(f"the transcript of problem {problem_id}: {error}") from None
    return transcripts


def steered_turns_save(
    *, job: Job, transcripts: Mapping[int, tuple[Sequence[Turn], str | None]]
) -> None:
    """Save (turns, stop) of each problem's loop after a turn, in one statement."""
    SteeredLoop.objects.bulk_create(
        [
            SteeredLoop(
                job=job,
                problem_id=problem_id,
                turns=[asdict(turn) for turn in turns],
                stop=stop or "",
            )
            for problem_id, (turns, stop) in transcripts.items()
        ],
        update_conflicts=True,
        unique_fields=["job", "problem"],
        update_fields=["turns", "stop", "updated_at"],
    )


def steered_done(job: Job, problem_ids: Sequence[int]) -> set[int]:
    """The problems whose loop is written (its long thought exists)."""
    keys = [loop_key(job, pid, job.kind) for pid in problem_ids]
    return set(
        Trace.objects.filter(job=job, external_id__in=keys).values_list("problem_id", flat=True)
    )


# Finished loops ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SteeredOutcome:
    """A problem's finished loop, ready to be written."""

    problem: Problem
    result: SteeredResult


@transaction.atomic
def steered_results_write(
    *, job: Job, outcomes: Sequence[SteeredOutcome], source: GradeSource | None = None
) -> list[Trace]:
    """Write each finished loop once (a problem whose long thought exists is skipped):

    - its tree as the job's TreeNode rows (node kinds step, reflection, backtrack, conclusion;
      the critic's verdicts as score, judged_correct and reason);
    - its long thought, ``Trace(origin="long_thought", metadata={"kind": job.kind, ...})``, the
      nodes in the order written with a reflection after each wrong one, linked node by node
      (``tree_nodes``) like a tree-derived draft, ``tree_job`` being this job;
    - when solved, the shortcut (origin tree), the path to the correct answer;
    - with ``source`` (the critic's), one judge grade per verdict, given in no trace: an
      opinion under its own source, a label only for an export that asks for that source.

    The long thought's answer is the correct one when solved; an ungradable one (no ground
    truth) has ``is_correct`` None; a loop that ended otherwise is not correct (False, or None
    when the problem has no ground truth)."""
    done = steered_done(job, [o.problem.pk for o in outcomes])
    fresh = [o for o in outcomes if o.problem.pk not in done]
    trees_write(job=job, trees=[(o.problem.pk, o.result.tree) for o in fresh])
    plans: list[NewTrace] = []
    grades: list[Score] = []
    for outcome in fresh:
        problem, result = outcome.problem, outcome.result
        ids = step_node_ids(problem.pk, result.tree)
        answered = result.stop in ("solved", "unverified")
        end = result.tree.node(result.thought.path[-1])
        meta: dict[str, Any] = {
            "method": job.kind,
            "tree_job": job.pk,
            "version": result.version,
            "stop": result.stop,
            "counts": result.counts,
            "turns": len(result.turns),
            "generated_tokens": sum(turn.tokens for turn in result.turns),
        }
        if answered:
            meta["leaf"] = end.id
        common: dict[str, Any] = {
            "problem_id": problem.pk,
            "job_id": job.pk,
            "final_answer": end.final_answer if answered else None,
            "is_correct": _correctness(result, problem),
        }
        # Given in no trace: a critic's verdicts label steps only when an export asks for the
        # critic's source (grades="run"), never as the long thought's own grades.
        grades += [
            Score(nid, None, grade.score, grade.reason or "")
            for grade in result.grades
            if grade.score is not None and (nid := ids[grade.node_id]) is not None
        ]
        plans.append(
            thought_trace(
                result.tree,
                result.thought,
                result.paragraphs,
                ids,
                external_id=loop_key(job, problem.pk, job.kind),
                metadata={**meta, "kind": job.kind},
                **common,
            )
        )
        if result.solved:
            plans.append(
                shortcut_trace(
                    result.tree,
                    result.thought.path,
                    ids,
                    external_id=loop_key(job, problem.pk, "shortcut"),
                    metadata=meta,
                    **common,
                )
            )
    rows = traces_write(plans)
    if source is not None:
        run_scores_write(source=source, scores=grades)
    _loops_finished(job, fresh)
    return rows


def _correctness(result: SteeredResult, problem: Problem) -> bool | None:
    if result.stop == "solved":
        return True
    if result.stop == "unverified" or not problem.answer:
        return None
    return False


def _loops_finished(job: Job, outcomes: Sequence[SteeredOutcome]) -> None:
    SteeredLoop.objects.bulk_create(
        [
            SteeredLoop(
                job=job,
                problem=o.problem,
                turns=[asdict(turn) for turn in o.result.turns],
                stop=o.result.stop or "",
                counts=o.result.counts,
            )
            for o in outcomes
        ],
        update_conflicts=True,
        unique_fields=["job", "problem"],
        update_fields=["turns", "stop", "counts", "updated_at"],
    )


# Jobs ----------------------------------------------------------------------------------------


def _prompts(kind: str, version: str) -> dict[str, str]:
    """The texts of the algorithm's prompt version ``version``, as the job stores them."""
    versions = VERSIONS[kind]
    if version not in versions:
        known = ", ".join(sorted(versions))
        raise ValidationError({"prompt_version": f"unknown version {version!r}; use {known}"})
    return asdict(versions[version])


@transaction.atomic
def proposal_critique_job_start(
    *,
    project: Project,
    user: Any,
    model: ModelConfig,
    problem_ids: list[int],
    max_steps: int = 16,
    max_backtracks: int = 4,
    max_tokens: int = 8192,
    prompt_version: str = proposal_critique.VERSION,
    sampling: dict[str, Any] | None = None,
    chunk_size: int = 8,
    retries: int = 1,
) -> Job:
    """One proposal-critique loop per problem: ``model`` writes a step and chooses the next
    action itself, within the limits per problem (policy turns per attempt, backtracks,
    generated tokens); an attempt that runs out of steps without an answer is followed by up
    to ``retries`` more, each told so; ``sampling`` is one step's, over the model's
    defaults."""
    check_job_model(model, scorer=False)
    params = ProposalCritiqueParams(
        problem_ids=tuple(problem_ids),
        model=ModelSnapshot.of(model),
        max_steps=max_steps,
        max_backtracks=max_backtracks,
        max_tokens=max_tokens,
        prompts=_prompts(JobKind.PROPOSAL_CRITIQUE, prompt_version),
        sampling=job_sampling(model, sampling or {}),
        chunk_size=chunk_size,
        retries=retries,
    )
    return job_create(
        project=project,
        kind=JobKind.PROPOSAL_CRITIQUE,
        params=params,
        created_by=user,
    )


@transaction.atomic
def policy_critic_job_start(
    *,
    project: Project,
    user: Any,
    model: ModelConfig,
    problem_ids: list[int],
    critic: ModelConfig | None = None,
    max_steps: int = 16,
    max_backtracks: int = 4,
    max_tokens: int = 8192,
    prompt_version: str = policy_critic.VERSION,
    sampling: dict[str, Any] | None = None,
    critic_sampling: dict[str, Any] | None = None,
    chunk_size: int = 8,
) -> Job:
    """One policy-critic dialogue per problem: ``model`` writes each step, ``critic`` (default:
    the same model, under the critic prompt) judges it; each has its sampling over its own
    model's defaults."""
    check_job_model(model, scorer=False)
    if critic is not None:
        check_job_model(critic, scorer=False, field="critic")
    judge = critic or model
    params = PolicyCriticParams(
        problem_ids=tuple(problem_ids),
        model=ModelSnapshot.of(model),
        critic=ModelSnapshot.of(critic) if critic is not None else None,
        max_steps=max_steps,
        max_backtracks=max_backtracks,
        max_tokens=max_tokens,
        prompts=_prompts(JobKind.POLICY_CRITIC, prompt_version),
        sampling=job_sampling(model, sampling or {}),
        critic_sampling=job_sampling(judge, critic_sampling or {}, field="critic_sampling"),
        chunk_size=chunk_size,
    )
    return job_create(
        project=project,
        kind=JobKind.POLICY_CRITIC,
        params=params,
        created_by=user,
    )
