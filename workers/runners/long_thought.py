"""Long-thought job (O1-Journey "from tree to long thought").

For every tree of the chosen tree job that has a correct leaf: the shortcut (the first correct
path, origin tree) and a seeded draft that walks into up to ``trials`` wrong branches before each
step of the shortcut (origin long_thought), both with the tree node indexes they walk. With a
rewriter model, each draft is also rewritten fluently in one generator call per chunk.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from algorithms.answers import answers_equivalent_many, extract_answer
from algorithms.long_thought import derive_long_thought
from algorithms.prompts import render_prompt
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import LongThoughtParams, job_params
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import trace_texts
from annotation.trees.selectors import load_tree
from annotation.trees.services import (
    DerivedThought,
    long_thoughts_write,
    rewrites_write,
    thought_keys,
)
from workers.runners.common import ChunkStats, Work, generate, run_work


def run_long_thought(job: Job) -> dict[str, Any]:
    return run_work(job, long_thought_work(job))


def long_thought_work(job: Job) -> Work:
    """Long thoughts by problem: each chunk of problems is derived and written on its own."""
    params = job_params(job, LongThoughtParams)
    if not in_project(job, Job, [params.tree_job]).exists():  # a tree job of this project only
        raise LookupError(f"tree_job: job {params.tree_job} no longer exists")
    tree_job_id = params.tree_job
    trials, seed = params.trials, params.seed

    def process(chunk: list[int]) -> ChunkStats:
        without_correct_leaf = 0
        keys = {pid: thought_keys(job, pid) for pid in chunk}
        drafted = set(
            Trace.objects.filter(
                job=job, external_id__in=[k["draft"] for k in keys.values()]
            ).values_list("external_id", flat=True)
        )
        problems = in_project(
            job, Problem, [pid for pid in chunk if keys[pid]["draft"] not in drafted]
        ).in_bulk()
        thoughts = []
        for pid in chunk:
            if pid not in problems:
                continue
            tree = load_tree(tree_job_id, problems[pid])
            thought = derive_long_thought(tree, trials=trials, seed=seed)
            if thought is None:
                without_correct_leaf += 1
                continue
            thoughts.append(DerivedThought(pid, tree_job_id, tree, thought, seed, trials))
        long_thoughts_write(job=job, thoughts=thoughts)
        if params.rewriter is not None:
            rewrite(
                job, params, [keys[pid]["draft"] for pid in chunk], [keys[pid] for pid in chunk]
            )
        return {"without_correct_leaf": without_correct_leaf}

    def result(chunks: list[ChunkStats]) -> dict[str, Any]:
        traces = Trace.objects.filter(job=job)
        return {
            "problems": len(params.problem_ids),
            "shortcuts": traces.filter(origin=Origin.TREE).count(),
            "drafts": traces.filter(metadata__kind="draft").count(),
            "rewrites": traces.filter(metadata__kind="rewrite").count(),
            "without_correct_leaf_this_run": sum(c["without_correct_leaf"] for c in chunks),
        }

    return Work(
        items=params.problem_ids, chunk_size=params.chunk_size, process=process, result=result
    )


def rewrite(
    job: Job, params: LongThoughtParams, draft_keys: list[str], keys: list[dict[str, str]]
) -> None:
    """Rewrite the chunk's drafts that have no rewrite yet: one generator call."""
    assert params.rewriter is not None
    done = set(
        Trace.objects.filter(job=job, external_id__in=[k["rewrite"] for k in keys]).values_list(
            "external_id", flat=True
        )
    )
    drafts = [
        d
        for d in Trace.objects.filter(job=job, external_id__in=draft_keys)
        .select_related("problem")
        .order_by("id")
        if d.external_id and d.external_id.rsplit(":", 1)[0] + ":rewrite" not in done
    ]
    if not drafts:
        return
    texts = trace_texts([d.pk for d in drafts])
    prompts = [
        render_prompt(params.rewrite_prompt, {"problem": d.problem.text, "draft": texts[d.pk]})
        for d in drafts
    ]
    outputs, _ = generate(params.rewriter, prompts, params.sampling_params(1))
    rewritten = [gens[0].text.strip() for gens in outputs]
    answers = [extract_answer(text) for text in rewritten]
    todo = [i for i, d in enumerate(drafts) if answers[i] and d.problem.answer]
    verdicts = answers_equivalent_many(
        [(answers[i] or "", drafts[i].problem.answer or "") for i in todo],
        timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S,
    )
    correct: dict[int, bool] = dict(zip(todo, verdicts, strict=True))
    rewrites_write(
        job=job,
        rewrites=[
            (draft, text, answers[i], correct.get(i))
            for i, (draft, text) in enumerate(zip(drafts, rewritten, strict=True))
        ],
    )
