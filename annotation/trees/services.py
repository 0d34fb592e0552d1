"""Writes for reasoning trees and long thoughts: tree rows, their grades, derived traces, jobs.

Trees are built in memory by algorithms.tree_search and written here in bulk, one
transaction per chunk of problems; a problem whose tree the job has already written is skipped,
so a chunk delivered twice writes nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from algorithms.long_thought import LongThought, Paragraph, correct_paths, draft_paragraphs
from algorithms.steps import split_steps
from algorithms.tree_search import ROOT_ID, Tree
from annotation.core.models import Project
from annotation.grading.models import GradeSource
from annotation.grading.services import Score, run_scores_write
from annotation.jobs.boundary import check_in_project
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import (
    JOB,
    PROMPT_VERSION,
    LongThoughtParams,
    ModelSnapshot,
    PromptSnapshot,
    TreeParams,
)
from annotation.jobs.services import job_create
from annotation.llm.models import ModelConfig, PromptPurpose, PromptVersion
from annotation.llm.services import (
    check_job_model,
    default_prompt_version,
    job_prompt,
    job_sampling,
)
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.services import (
    NewNode,
    NewStep,
    NewTrace,
    nodes_write,
    path_steps,
    traces_write,
)
from annotation.problems.tree import node_id
from annotation.trees.models import TreeNode

# Trees ---------------------------------------------------------------------------------------


def step_node_ids(problem_id: int, tree: Tree) -> list[uuid.UUID | None]:
    """The content-addressed StepNode id of every tree node (None for the root); a node's kind
    (step, reflection, backtrack, conclusion) is part of its identity."""
    ids: list[uuid.UUID | None] = []
    for node in tree.nodes:
        if node.parent is None:
            ids.append(None)
        else:
            ids.append(node_id(problem_id, ids[node.parent], node.kind, node.text))
    return ids


def problems_with_trees(job: Job, problem_ids: Sequence[int]) -> set[int]:
    return set(
        TreeNode.objects.filter(job=job, problem_id__in=problem_ids, index=ROOT_ID).values_list(
            "problem_id", flat=True
        )
    )


@transaction.atomic
def trees_write(
    *, job: Job, trees: Sequence[tuple[int, Tree]], source: GradeSource | None = None
) -> int:
    """Write (problem id, built and graded tree) pairs of one chunk; returns nodes written.

    Scores become Grade rows of ``source`` (a node graded by the source already keeps its
    grade). Nodes on a path from the root to a correct leaf are marked ``on_correct_path``;
    each node's wrong verdict (``tree_search.Verdict``) is kept as ``wrong_source`` and
    ``wrong_value``."""
    done = problems_with_trees(job, [pid for pid, _ in trees])
    steps: dict[uuid.UUID, NewNode] = {}
    rows: list[TreeNode] = []
    scores: list[Score] = []
    for problem_id, tree in trees:
        if problem_id in done:
            continue
        done.add(problem_id)
        ids = step_node_ids(problem_id, tree)
        on_path = {i for path in correct_paths(tree) for i in path}
        parents = {node.parent for node in tree.nodes}
        for node, nid in zip(tree.nodes, ids, strict=True):
            if nid is not None and node.parent is not None:
                steps.setdefault(
                    nid,
                    NewNode(nid, problem_id, ids[node.parent], node.depth, node.text, node.kind),
                )
                if node.score is not None:
                    scores.append(Score(nid, None, node.score, node.reason or ""))
            rows.append(
                TreeNode(
                    job=job,
                    problem_id=problem_id,
                    index=node.id,
                    parent_index=node.parent,
                    node_id=nid,
                    depth=node.depth,
                    score=node.score,
                    judged_correct=node.judged_correct,
                    reason=node.reason or "",
                    pruned=node.pruned,
                    is_leaf=node.id not in parents,
                    final_answer=node.final_answer,
                    is_correct=node.is_correct,
                    on_correct_path=node.id in on_path,
                    copies=node.copies,
                    wrong_source=node.wrong.source if node.wrong else "",
                    wrong_value=node.wrong.value if node.wrong else None,
                )
            )
    nodes_write(steps.values(), batch_size=2000)
    TreeNode.objects.bulk_create(rows, batch_size=2000)
    if source is not None and scores:
        run_scores_write(source=source, scores=scores, batch_size=2000)
    return len(rows)


@transaction.atomic
def tree_round_record(
    *,
    project: Project,
    user: Any,
    trees: Sequence[tuple[int, Tree]],
    label: str,
    params: dict[str, Any] | None = None,
) -> Job:
    """Store trees built elsewhere (a script, another tool) as a finished tree job: a round
    that the pages show and compare like any other. Nothing is enqueued."""
    problem_ids = [pid for pid, _ in trees]
    known = set(
        Problem.objects.filter(project=project, pk__in=problem_ids).values_list("pk", flat=True)
    )
    if missing := [pid for pid in problem_ids if pid not in known]:
        raise ValidationError({"trees": f"problems {missing[:5]} are not in {project.name}"})
    now = timezone.now()
    job = Job.objects.create(
        project=project,
        kind=JobKind.TREE,
        status=JobStatus.SUCCEEDED,
        params={**(params or {}), "problem_ids": problem_ids, "recorded": True},
        created_by=user,
        done=len(trees),
        total=len(trees),
        model_version=label,
        started_at=now,
        finished_at=now,
    )
    nodes = trees_write(job=job, trees=trees)
    job.result = {"problems": len(trees), "nodes": nodes}
    job.save(update_fields=["result"])
    return job


# Long thoughts -------------------------------------------------------------------------------

LONG_THOUGHT_KINDS = ("shortcut", "draft", "rewrite")


@dataclass(frozen=True)
class DerivedThought:
    """A long thought of one correct path of one problem's tree, ready to be written."""

    problem_id: int
    tree_job_id: int
    tree: Tree
    thought: LongThought
    seed: int
    k: int
    k_meaning: str = "trials"

    @property
    def leaf(self) -> int:
        return self.thought.path[-1]


def thought_keys(job: Job, problem_id: int, leaf: int) -> dict[str, str]:
    """The external ids of the shortcut, draft and rewrite of the path ending at ``leaf``."""
    base = f"lt{job.pk}:p{problem_id}:l{leaf}"
    return {kind: f"{base}:{kind}" for kind in LONG_THOUGHT_KINDS}


def rewrite_key(draft_key: str) -> str:
    """The external id of the rewrite of the draft keyed ``draft_key``."""
    return draft_key.removesuffix("draft") + "rewrite"


@transaction.atomic
def long_thoughts_write(*, job: Job, thoughts: Sequence[DerivedThought]) -> list[Trace]:
    """For each thought: the shortcut (origin tree: its correct path) and the draft (origin
    long_thought), each a trace whose metadata names the tree node indexes it walks. Existing
    keys are skipped.

    The draft's path is the walked tree nodes themselves, with a reflection node (its text
    the reflection and the backtrack sentence) after each wrong leaf, so the path's texts
    joined by blank lines are the draft."""
    keys = [thought_keys(job, t.problem_id, t.leaf) for t in thoughts]
    existing = set(
        Trace.objects.filter(
            job=job, external_id__in=[k[kind] for k in keys for kind in ("shortcut", "draft")]
        ).values_list("external_id", flat=True)
    )
    plans: list[NewTrace] = []
    for thought, key in zip(thoughts, keys, strict=True):
        if key["draft"] in existing:
            continue
        ids = step_node_ids(thought.problem_id, thought.tree)
        leaf = thought.tree.node(thought.leaf)
        common: dict[str, Any] = {
            "problem_id": thought.problem_id,
            "job_id": job.pk,
            "final_answer": leaf.final_answer,
            "is_correct": True,
        }
        meta = {
            "tree_job": thought.tree_job_id,
            "seed": thought.seed,
            "k": thought.k,
            "k_meaning": thought.k_meaning,
            "leaf": thought.leaf,
        }
        plans.append(
            shortcut_trace(
                thought.tree,
                thought.thought.path,
                ids,
                external_id=key["shortcut"],
                metadata=meta,
                **common,
            )
        )
        paragraphs = draft_paragraphs(thought.tree, thought.thought)
        plans.append(
            thought_trace(
                thought.tree,
                thought.thought,
                paragraphs,
                ids,
                external_id=key["draft"],
                metadata={**meta, "kind": "draft"},
                **common,
            )
        )
    return traces_write(plans)


def shortcut_trace(
    tree: Tree,
    path: Sequence[int],
    ids: Sequence[uuid.UUID | None],
    *,
    metadata: dict[str, Any],
    **fields: Any,
) -> NewTrace:
    """The correct path ``path`` (root first) as a trace of origin tree whose steps are the
    tree's own nodes."""
    walked = list(path[1:])
    return NewTrace(
        origin=Origin.TREE,
        metadata={**metadata, "kind": "shortcut", "walked": walked},
        steps=[NewStep(p, tree.node(i).text, tree.node(i).kind) for p, i in enumerate(walked)],
        existing_nodes={p: nid for p, i in enumerate(walked) if (nid := ids[i]) is not None},
        **fields,
    )


def thought_trace(
    tree: Tree,
    thought: LongThought,
    paragraphs: Sequence[Paragraph],
    ids: Sequence[uuid.UUID | None],
    *,
    metadata: dict[str, Any],
    **fields: Any,
) -> NewTrace:
    """A long thought as a trace of origin long_thought: its path is the walked tree nodes
    themselves (each of its own kind), with a reflection node after each wrong node, so the
    path's texts joined by blank lines are the long thought. ``metadata`` gets the walk and,
    per path position, the tree node index it shows (or reflects on)."""
    return NewTrace(
        origin=Origin.LONG_THOUGHT,
        metadata={
            **metadata,
            "walked": thought.walked,
            "tree_nodes": [p.node_id for p in paragraphs],
            "wrong_leaves": sum(1 for p in paragraphs if p.kind == "reflection"),
            # trials: wrong nodes reflected on, and backtracks the model chose itself
            "trials": sum(1 for p in paragraphs if p.kind in ("reflection", "backtrack")),
        },
        steps=[
            NewStep(position, p.text, tree.node(p.node_id).kind if p.kind == "step" else p.kind)
            for position, p in enumerate(paragraphs)
        ],
        existing_nodes={
            position: nid
            for position, p in enumerate(paragraphs)
            if p.kind == "step" and (nid := ids[p.node_id]) is not None
        },
        **fields,
    )


@dataclass(frozen=True)
class Rewrite:
    """A model's fluent rewrite of a draft, with what the fidelity check found."""

    draft: Trace
    text: str
    final_answer: str | None
    is_correct: bool | None
    fidelity: dict[str, Any]
    finish: str = "stop"
    tokens: int = 0


@transaction.atomic
def rewrites_write(*, job: Job, rewrites: Sequence[Rewrite]) -> list[Trace]:
    """Rewrite traces (origin long_thought, metadata kind rewrite, the draft's walk), steps split
    from the text. Each records its fidelity check (``fidelity.passed``): a rewrite that lost a
    wrong answer, a reflection or the final answer, or was cut at max_tokens, is kept but
    flagged, and sft-journey leaves it out unless asked."""
    keys = {r.draft.pk: rewrite_key(r.draft.external_id or "") for r in rewrites}
    existing = set(
        Trace.objects.filter(job=job, external_id__in=keys.values()).values_list(
            "external_id", flat=True
        )
    )
    return traces_write(
        [
            NewTrace(
                problem_id=r.draft.problem_id,
                origin=Origin.LONG_THOUGHT,
                external_id=keys[r.draft.pk],
                job_id=job.pk,
                source_trace_id=r.draft.pk,
                final_answer=r.final_answer,
                is_correct=r.is_correct,
                metadata={
                    **r.draft.metadata,
                    "kind": "rewrite",
                    "draft": r.draft.pk,
                    "finish": r.finish,
                    "tokens": r.tokens,
                    "fidelity": r.fidelity,
                },
                steps=path_steps(split_steps(r.text)),
            )
            for r in rewrites
            if keys[r.draft.pk] not in existing
        ]
    )


# Jobs ----------------------------------------------------------------------------------------


def tree_params(*, model: ModelConfig, scorer: ModelConfig, **values: Any) -> TreeParams:
    """The parameters of a tree job: the policy ``model`` and the PRM or judge ``scorer``
    (checked to be such, and a judge for judge mode), then TreeParams' other fields as JSON
    values (a form's `values()`, an API body; the class's defaults for those not given), the
    sampling over the model's own. A refused value is a ValidationError naming its field."""
    check_job_model(model, scorer=False)
    check_job_model(scorer, scorer=True, field="scorer")
    if values.get("mode") == "judge" and scorer.scorer_head != "judge":
        raise ValidationError({"scorer": f"judge mode needs an LLM judge; {scorer.name} is a PRM"})
    return TreeParams.from_params(
        {
            **values,
            "problem_ids": list(values.get("problem_ids", ())),
            "sampling": job_sampling(model, values.get("sampling") or {}),
            "model": ModelSnapshot.of(model).as_params(),
            "scorer": ModelSnapshot.of(scorer).as_params(),
        }
    )


@transaction.atomic
def tree_job_start(*, project: Project, user: Any, params: TreeParams) -> Job:
    """Build one reasoning tree per problem (params from `tree_params`): ``width`` next steps
    per frontier node, the best ``keep`` kept per depth (beam), or at most ``keep`` judged
    correct (judge), or MCTS. A PRM score under ``wrong_below`` is recorded as a wrong verdict
    on its node."""
    return job_create(
        project=project,
        kind=JobKind.TREE,
        params=params,
        created_by=user,
    )


# What a rewrite samples with unless the job says otherwise: a draft of a deep tree is long, and
# a rewrite cut at a model config's short default max_tokens loses its final answer.
DEFAULT_REWRITE_SAMPLING: dict[str, Any] = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 4096}


@transaction.atomic
def long_thought_job_start(
    *,
    project: Project,
    user: Any,
    tree_job: Job,
    k: int = 2,
    k_meaning: str = "trials",
    max_paths: int | None = None,
    seed: int = 0,
    rewriter: ModelConfig | None = None,
    rewrite_prompt: PromptVersion | None = None,
    sampling: dict[str, Any] | None = None,
    chunk_size: int = 16,
) -> Job:
    """Derive a long thought (and its shortcut) from every correct path (at most ``max_paths``
    per problem) of every tree of ``tree_job``; with ``rewriter``, also ask that model to make
    each draft fluent under ``rewrite_prompt`` (default: the project's rewrite prompt, the
    built-in one installed if it has none) and ``sampling`` (over DEFAULT_REWRITE_SAMPLING)."""
    check_in_project(project, "tree_job", JOB, [tree_job.pk])  # before reading its trees
    if tree_job.kind != JobKind.TREE:
        raise ValidationError({"tree_job": f"job {tree_job.pk} is not a tree job"})
    if tree_job.status != JobStatus.SUCCEEDED:
        raise ValidationError({"tree_job": f"tree job {tree_job.pk} has not succeeded yet"})
    if rewrite_prompt is not None:  # checked even where it would not be used: never dropped
        check_in_project(project, "rewrite_prompt", PROMPT_VERSION, [rewrite_prompt.pk])
        if rewriter is None:
            raise ValidationError(
                {
                    "rewrite_prompt": "a rewrite prompt is used only with a rewriter: choose "
                    "a rewriter, or leave the prompt empty"
                }
            )
    prompt: PromptSnapshot | None = None
    if rewriter is not None:
        check_job_model(rewriter, scorer=False, field="rewriter")
        version = rewrite_prompt or default_prompt_version(
            project=project, purpose=PromptPurpose.REWRITE, user=user
        )
        prompt = job_prompt(version, PromptPurpose.REWRITE, field="rewrite_prompt")
    problem_ids = sorted(
        TreeNode.objects.filter(job=tree_job, index=ROOT_ID).values_list("problem_id", flat=True)
    )
    given = {key: value for key, value in (sampling or {}).items() if value is not None}
    params = LongThoughtParams(
        tree_job=tree_job.pk,
        problem_ids=tuple(problem_ids),
        k=k,
        k_meaning=k_meaning,  # type: ignore[arg-type]  # checked by LongThoughtParams
        max_paths=max_paths,
        seed=int(seed),
        chunk_size=chunk_size,
        rewriter=ModelSnapshot.of(rewriter) if rewriter else None,
        rewrite_prompt=prompt,
        sampling=job_sampling(rewriter, {**DEFAULT_REWRITE_SAMPLING, **given}) if rewriter else {},
    )
    return job_create(
        project=project,
        kind=JobKind.LONG_THOUGHT,
        params=params,
        created_by=user,
    )
