"""Long-thought job (O1-Journey "from tree to long thought").

For every correct path of every tree of the chosen tree job (at most ``max_paths`` per problem):
the shortcut (the path itself, origin tree) and a seeded draft that makes up to K trials at each
node of the path, the correct move counted (or K wrong detours, ``k_meaning`` wrong_detours),
both with the tree node indexes they walk (origin long_thought). With a rewriter model, each
draft is also rewritten fluently in one generator call per chunk, and every rewrite is checked
for fidelity to its draft (algorithms.rewrite_fidelity).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from algorithms.answers import answers_equivalent_many, extract_answer
from algorithms.long_thought import derive_long_thoughts
from algorithms.prompts import render_prompt
from algorithms.rewrite_fidelity import check_rewrite
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import LongThoughtParams, job_params
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import trace_texts
from annotation.trees.selectors.tree import load_tree
from annotation.trees.services import (
    DerivedThought,
    Rewrite,
    long_thoughts_write,
    rewrite_key,
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

    def process(chunk: list[int]) -> ChunkStats:
        problems = in_project(job, Problem, chunk).in_bulk()
        derived: list[DerivedThought] = []
        without_correct_leaf = 0
        for pid in chunk:
            if pid not in problems:
                continue
            tree = load_tree(params.tree_job, problems[pid])
            thoughts = derive_long_thoughts(
                tree,
                k=params.k,
                seed=params.seed,
                k_meaning=params.k_meaning,
                limit=params.max_paths,
            )
            if not thoughts:
                without_correct_leaf += 1
            derived += [
                DerivedThought(
                    pid, params.tree_job, tree, thought, params.seed, params.k, params.k_meaning
                )
                for thought in thoughts
            ]
        long_thoughts_write(job=job, thoughts=derived)
        if params.rewriter is not None:
            rewrite(job, params, derived)
        return {"without_correct_leaf": without_correct_leaf}

    def result(chunks: list[ChunkStats]) -> dict[str, Any]:
        traces = Trace.objects.filter(job=job)
        rewrites = traces.filter(metadata__kind="rewrite")
        return {
            "problems": len(params.problem_ids),
            "shortcuts": traces.filter(origin=Origin.TREE).count(),
            "drafts": traces.filter(metadata__kind="draft").count(),
            "rewrites": rewrites.count(),
            "rewrites_failing_fidelity": rewrites.filter(metadata__fidelity__passed=False).count(),
            "without_correct_leaf_this_run": sum(c["without_correct_leaf"] for c in chunks),
        }

    return Work(
        items=params.problem_ids, chunk_size=params.chunk_size, process=process, result=result
    )


def rewrite(job: Job, params: LongThoughtParams, derived: list[DerivedThought]) -> None:
    """Rewrite the chunk's drafts that have no rewrite yet (one generator call) and check each
    rewrite against the draft's walk: wrong answers, reflections, final answer, not cut off."""
    assert params.rewriter is not None and params.rewrite_prompt is not None
    keyed = {thought_keys(job, d.problem_id, d.leaf)["draft"]: d for d in derived}
    done = set(
        Trace.objects.filter(
            job=job, external_id__in=[rewrite_key(key) for key in keyed]
        ).values_list("external_id", flat=True)
    )
    drafts = [
        draft
        for draft in Trace.objects.filter(job=job, external_id__in=list(keyed))
        .select_related("problem")
        .order_by("id")
        if rewrite_key(draft.external_id or "") not in done
    ]
    if not drafts:
        return
    texts = trace_texts([d.pk for d in drafts])
    prompts = [
        render_prompt(params.rewrite_prompt.text, {"problem": d.problem.text, "draft": texts[d.pk]})
        for d in drafts
    ]
    outputs, _ = generate(params.rewriter, prompts, params.sampling_params(1))
    generations = [gens[0] for gens in outputs]
    rewritten = [g.text.strip() for g in generations]
    answers = [extract_answer(text) for text in rewritten]
    # One batch for the math grader: each answer against the truth and against the draft's.
    pairs = sorted(
        {
            (answer, wanted)
            for answer, draft in zip(answers, drafts, strict=True)
            for wanted in (draft.problem.answer, draft.final_answer)
            if answer and wanted
        }
    )
    same = dict(
        zip(
            pairs,
            answers_equivalent_many(pairs, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S),
            strict=True,
        )
    )
    written = []
    for draft, text, answer, generation in zip(
        drafts, rewritten, answers, generations, strict=True
    ):
        thought = keyed[draft.external_id or ""]
        fidelity = check_rewrite(
            thought.tree,
            thought.thought,
            text,
            same_answer=lambda found, wanted: same.get((found, wanted), False),
        )
        truncated = generation.finish_reason == "length"
        truth = draft.problem.answer
        written.append(
            Rewrite(
                draft=draft,
                text=text,
                final_answer=answer,
                is_correct=same.get((answer, truth), False) if answer and truth else None,
                fidelity={
                    **fidelity.as_dict(),
                    "truncated": truncated,
                    "passed": fidelity.passed and not truncated,
                    "reasons": [*fidelity.reasons, *(["cut at max_tokens"] if truncated else [])],
                },
                finish=generation.finish_reason,
                tokens=generation.token_count,
            )
        )
    rewrites_write(job=job, rewrites=written)
