"""Tree-building job: on-policy reasoning trees pruned by a PRM or an LLM judge.

Per chunk of problems, every depth costs one generator call (all frontier nodes of all the
chunk's problems, ``width`` samples each, stopped at the step delimiter) and one scorer call
(every new node, scored as the last step of its path). Leaves are answer-graded against the
problems' ground truth in one batch. A chunk's trees are written in one transaction; a problem
whose tree exists already is skipped, so a redelivered chunk does nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from django.conf import settings

from algorithms import tree_search
from algorithms.answers import answers_equivalent_many, extract_answer
from algorithms.prompts import render_prompt
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import TreeParams, job_params
from annotation.problems.models import Problem
from annotation.trees.models import TreeNode
from annotation.trees.services import problems_with_trees, trees_write
from workers.runners.common import (
    ChunkStats,
    Work,
    job_grade_source,
    load_generator,
    run_work,
    score_steps,
)


def completion_prompt(prompt: str, problem: str, steps: tuple[str, ...], delimiter: str) -> str:
    """The text the policy continues: the rendered prompt, then the steps so far, each ended by
    the delimiter, so the next sample (stopped at the delimiter) is exactly one step."""
    head = render_prompt(prompt, {"problem": problem})
    return head + delimiter + "".join(step + delimiter for step in steps)


def policy(
    params: TreeParams, calls: dict[str, int]
) -> Callable[[list[tree_search.ExpandRequest]], list[list[str]]]:
    """One generator call per batch of frontier nodes: ``width`` next steps for each."""
    delimiter = params.delimiter
    base = params.sampling_params(params.width)
    sampling = replace(base, stop=sorted({*base.stop, delimiter}))

    def expand(requests: list[tree_search.ExpandRequest]) -> list[list[str]]:
        generator = load_generator(params.model)
        prompts = [
            completion_prompt(params.prompt, r.problem, r.steps, delimiter) for r in requests
        ]
        calls["generate"] += 1
        outputs = generator.generate(prompts, sampling)
        return [[g.text.strip() for g in generations] for generations in outputs]

    return expand


def scorer_fn(
    params: TreeParams, calls: dict[str, int]
) -> Callable[[list[tree_search.ScoreRequest]], list[tree_search.ScoreResult]]:
    """One scorer call per batch of new nodes: each scored as the last step of its path; an
    LLM judge's verdict and reason are kept."""
    is_judge = params.scorer.is_judge

    def score(requests: list[tree_search.ScoreRequest]) -> list[tree_search.ScoreResult]:
        calls["score"] += 1
        scored = score_steps(
            params.scorer, [(r.problem, [*r.steps, r.candidate]) for r in requests]
        )
        return [
            tree_search.ScoreResult(
                score=s.scores[-1],
                judged_correct=(s.scores[-1] >= 0.5) if is_judge else None,
                reason=s.reasons[-1] if s.reasons else None,
            )
            for s in scored
        ]

    return score


def grade_trees(trees: list[tuple[Problem, tree_search.Tree]]) -> None:
    """Answer-grade every final-answer node of the chunk's trees in one batch."""
    pairs = sorted(
        {
            (node.final_answer, problem.answer)
            for problem, tree in trees
            for node in tree.nodes
            if node.final_answer is not None and problem.answer
        }
    )
    verdicts = dict(
        zip(
            pairs,
            answers_equivalent_many(pairs, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S),
            strict=True,
        )
    )
    for problem, tree in trees:
        tree_search.grade_leaves(tree, _checker(verdicts, problem.answer))


def record_verdicts(params: TreeParams, trees: list[tree_search.Tree]) -> None:
    """Each node's wrong verdict: its answer, the judge's verdict, or its PRM score under the
    job's threshold (a judge's score is no PRM's, so no threshold applies to it)."""
    wrong_below = None if params.scorer.is_judge else params.wrong_below
    for tree in trees:
        tree_search.record_wrong_verdicts(tree, wrong_below=wrong_below)


def _checker(
    verdicts: dict[tuple[str, str], bool], truth: str | None
) -> Callable[[str], bool | None]:
    return lambda answer: verdicts.get((answer, truth)) if truth else None


def build_chunk_trees(
    params: TreeParams,
    problems: list[Problem],
    expand: Callable[[list[tree_search.ExpandRequest]], list[list[str]]],
    score: Callable[[list[tree_search.ScoreRequest]], list[tree_search.ScoreResult]],
    stats: tree_search.SearchStats,
) -> list[tree_search.Tree]:
    specs = [tree_search.ProblemSpec(key=str(p.pk), text=p.text) for p in problems]
    if params.mode == "mcts":
        return tree_search.mcts(
            specs,
            expand=expand,
            score=score,
            width=params.width,
            simulations=params.simulations,
            max_depth=params.max_depth,
            is_final=extract_answer,
            c_puct=params.c_puct,
            stats=stats,
        )
    return tree_search.build_trees(
        specs,
        expand=expand,
        score=score,
        width=params.width,
        keep=params.keep,
        max_depth=params.max_depth,
        is_final=extract_answer,
        mode="judge" if params.mode == "judge" else "beam",
        stats=stats,
    )


def run_tree(job: Job) -> dict[str, Any]:
    return run_work(job, tree_work(job))


def tree_work(job: Job) -> Work:
    """Trees by problem: each chunk of problems is built, graded and written on its own."""
    params = job_params(job, TreeParams)
    source = job_grade_source(job, params.scorer)

    def process(chunk: list[int]) -> ChunkStats | None:
        done = problems_with_trees(job, chunk)
        problems = in_project(job, Problem, [pid for pid in chunk if pid not in done]).in_bulk()
        todo = [problems[pid] for pid in chunk if pid in problems]
        if not todo:
            return None
        calls = {"generate": 0, "score": 0}
        stats = tree_search.SearchStats()
        trees = build_chunk_trees(
            params, todo, policy(params, calls), scorer_fn(params, calls), stats
        )
        pairs = list(zip(todo, trees, strict=True))
        grade_trees(pairs)
        record_verdicts(params, trees)
        trees_write(job=job, trees=[(p.pk, t) for p, t in pairs], source=source)
        return {"problems": len(todo), "backend_calls": calls, **asdict(stats)}

    return Work(
        items=params.problem_ids,
        chunk_size=params.chunk_size,
        process=process,
        result=lambda chunks: tree_result(job, chunks),
    )


def tree_result(job: Job, chunks: list[ChunkStats]) -> dict[str, Any]:
    """Counts from the database (a resumed job reports all of its trees); per-chunk backend
    calls and batch sizes per depth for the chunks built (a chunk redone after a crash once)."""
    rows = TreeNode.objects.filter(job=job)
    problems = rows.filter(index=0).count()
    solved = rows.filter(is_correct=True).values("problem_id").distinct().count()
    return {
        "problems": problems,
        "nodes": rows.count(),
        "leaves": rows.filter(is_leaf=True).count(),
        "correct_leaves": rows.filter(is_correct=True).count(),
        "problems_with_correct_leaf": solved,
        "chunks": chunks,
    }
