"""What the model job runners share: loading models from a job's snapshot, chunking,
writing generated traces (with their steps, answer grades and optional step scores)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from algorithms.answers import answers_equivalent_many
from algorithms.model_policy import BackendPolicy
from algorithms.rewards import answer_verdicts
from algorithms.steps import split_steps
from annotation.grading.models import GradeSource
from annotation.grading.services import Score, judge_source, model_run_source, run_scores_write
from annotation.jobs.models import Job
from annotation.jobs.params import ModelSnapshot
from annotation.jobs.runners import ChunkStats, Work
from annotation.jobs.services import current_job, job_phase_set, job_progress_report
from annotation.problems import services as problems
from annotation.problems.models import Problem, Trace
from annotation.problems.tree import place_steps
from workers.backends import registry
from workers.backends.base import ScoreItem

__all__ = ["ChunkStats", "Work"]  # the runners' interface, defined beside the runner table

if TYPE_CHECKING:
    from algorithms.sampling import SamplingParams
    from workers.backends.base import ChatMessage, Generation, Generator, StepScorer

_caches_configured = False


def model_spec(snapshot: ModelSnapshot) -> registry.ModelSpec:
    """The backends' spec of a job's model snapshot."""
    return registry.ModelSpec(
        name=snapshot.name,
        kind=snapshot.kind,
        path_or_endpoint=snapshot.path_or_endpoint,
        dtype=snapshot.dtype,
        max_length=snapshot.max_length,
        default_sampling=snapshot.default_sampling,
        scorer_head=snapshot.scorer_head,
        options=snapshot.options,
        trust_remote_code=snapshot.trust_remote_code,
    )


def backend_policy() -> BackendPolicy:
    """The operator's policy, read on each load: endpoints, secrets (see settings)."""
    return BackendPolicy.from_settings(settings)


def _configure_caches() -> None:
    global _caches_configured
    if not _caches_configured:
        registry.configure_caches(vllm_entries=1, other_entries=settings.STEPWISE_MODEL_CACHE_SIZE)
        _caches_configured = True


def loading_phase(snapshot: ModelSnapshot, role: str) -> str:
    """What a job's page says while a model is loaded for it."""
    if snapshot.kind == "vllm":
        return (
            f"Starting the vLLM engine for the {role} {snapshot.label} "
            "(loading the weights, then warming up)"
        )
    if snapshot.kind == "openai":
        return f"Connecting to the {role} {snapshot.label} at its endpoint"
    return f"Loading the {role} {snapshot.label} (transformers)"


@contextmanager
def announced(snapshot: ModelSnapshot, role: str) -> Iterator[Callable[[], None]]:
    """An on_load hook for the registry: the job's phase while the model loads (a cache hit
    writes nothing), then "loaded" until the job's next progress report clears it."""
    job = current_job()
    loaded = False

    def on_load() -> None:
        nonlocal loaded
        loaded = True
        if job is not None:
            job_phase_set(job, loading_phase(snapshot, role))

    yield on_load
    if loaded and job is not None:
        job_phase_set(job, f"The {role} {snapshot.label} is loaded; working on the first items")


def load_generator(snapshot: ModelSnapshot) -> Generator:
    """The generator of a job's model, loaded on first use and kept by the worker."""
    _configure_caches()
    with announced(snapshot, "model") as on_load:
        return registry.load_generator(model_spec(snapshot), backend_policy(), on_load=on_load)


def load_scorer(snapshot: ModelSnapshot) -> StepScorer:
    _configure_caches()
    with announced(snapshot, "scorer") as on_load:
        return registry.load_scorer(model_spec(snapshot), backend_policy(), on_load=on_load)


def generate(
    snapshot: ModelSnapshot, prompts: Sequence[str], params: SamplingParams
) -> tuple[list[list[Generation]], float]:
    """params.n generations per prompt and the seconds they took; chat-templated if configured."""
    generator = load_generator(snapshot)
    started = time.perf_counter()
    if snapshot.use_chat_template:
        messages: list[list[ChatMessage]] = [
            [{"role": "user", "content": prompt}] for prompt in prompts
        ]
        outputs = generator.generate_chat(messages, params)
    else:
        outputs = generator.generate(list(prompts), params)
    return outputs, time.perf_counter() - started


def chunked(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_in_chunks(
    job: Job, items: Sequence[int], size: int, process: Callable[[list[int]], object]
) -> None:
    """Call `process` on each chunk of items; report progress (and honour a cancel) between."""
    job_progress_report(job, 0, len(items))
    done = 0
    for chunk in chunked(items, size):
        process(chunk)
        done += len(chunk)
        job_progress_report(job, done)


def run_work(job: Job, work: Work) -> dict[str, Any]:
    """Do all of a job's work in this process, chunk by chunk (tests; a job without shards)."""
    reports: list[ChunkStats] = []

    def process(chunk: list[int]) -> None:
        report = work.process(chunk)
        if report is not None:
            reports.append(report)

    run_in_chunks(job, work.items, work.chunk_size, process)
    return work.result(reports)


# Grade sources -------------------------------------------------------------------------------


def job_grade_source(job: Job, scorer: ModelSnapshot) -> GradeSource:
    """The grade source of a job's scorer: kind judge for an LLM judge, prm otherwise."""
    make = judge_source if scorer.is_judge else model_run_source
    return make(job=job, label=scorer.label)


@dataclass
class StepScores:
    scores: list[float]
    reasons: list[str] = field(default_factory=list)


def score_steps(
    scorer_snapshot: ModelSnapshot, items: Sequence[tuple[str, list[str]]]
) -> list[StepScores]:
    """One score per step of each (problem, steps); an LLM judge's reasons are kept."""
    scorer = load_scorer(scorer_snapshot)
    todo = [i for i, (_, steps) in enumerate(items) if steps]
    result = [StepScores([]) for _ in items]
    score_items = [ScoreItem(items[i][0], items[i][1]) for i in todo]
    if not score_items:
        return result
    judge = getattr(scorer, "judge", None)
    if callable(judge):
        for i, verdicts in zip(todo, judge(score_items), strict=True):
            result[i] = StepScores([v.score for v in verdicts], [v.reason for v in verdicts])
    else:
        for i, scores in zip(todo, scorer.score(score_items), strict=True):
            result[i] = StepScores(list(scores))
    return result


def write_grades(
    source: GradeSource, rows: Sequence[tuple[int, uuid.UUID, StepScores, int]]
) -> int:
    """Grades for (trace id, node id, scores, step index); a node the source graded already
    (in this chunk, an earlier delivery, or a trace sharing the prefix) keeps its grade."""
    return run_scores_write(
        source=source,
        scores=(
            Score(
                nid,
                trace_id,
                scores.scores[index],
                scores.reasons[index] if scores.reasons else "",
            )
            for trace_id, nid, scores, index in rows
        ),
    )


# Generated traces ----------------------------------------------------------------------------


@dataclass
class NewTrace:
    problem: Problem
    external_id: str
    origin: str
    text: str
    token_count: int
    finish: str
    seconds: float
    source_trace_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    scores: StepScores | None = None


def existing_external_ids(job: Job, keys: Sequence[str]) -> set[str]:
    rows = Trace.objects.filter(job=job, external_id__in=keys).values_list("external_id", flat=True)
    return {key for key in rows if key is not None}


def new_traces(
    problem: Problem,
    generations: Sequence[Generation],
    *,
    key: str,
    origin: str,
    seconds: float,
    chunk_tokens: int,
    source_trace_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[NewTrace]:
    """One NewTrace per generation, keyed `{key}:{sample index}`, steps split from the text.

    `seconds` is the chunk's generation time; each trace gets its share by token count, so
    sums over traces give the job's throughput."""
    share = seconds / chunk_tokens if chunk_tokens else 0.0
    return [
        NewTrace(
            problem=problem,
            external_id=f"{key}:{index}",
            origin=origin,
            text=generation.text,
            token_count=generation.token_count,
            finish=generation.finish_reason,
            seconds=generation.token_count * share,
            source_trace_id=source_trace_id,
            metadata={**(metadata or {}), "sample_index": index},
            steps=split_steps(generation.text),
        )
        for index, generation in enumerate(generations)
    ]


def equivalent_answers(pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """The math-equivalence check every job grades answers with, under the operator's timeout."""
    return answers_equivalent_many(pairs, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S)


def grade_answers(traces: Sequence[NewTrace]) -> list[tuple[str | None, bool | None]]:
    """(extracted answer, correct?) per trace; correctness None without answer or truth."""
    return answer_verdicts(
        [t.text for t in traces], [t.problem.answer for t in traces], equivalent_answers
    )


def write_traces(
    job: Job, traces: Sequence[NewTrace], source: GradeSource | None = None
) -> list[Trace]:
    """Write traces, their step nodes, path steps and step scores in one transaction.

    Traces whose key exists already (a chunk run twice) are skipped; the unique constraint on
    (problem, external_id) stops a concurrent writer, rolling back the whole chunk."""
    graded = grade_answers(traces)
    with transaction.atomic():
        done = existing_external_ids(job, [t.external_id for t in traces])
        fresh = [(t, g) for t, g in zip(traces, graded, strict=True) if t.external_id not in done]
        plans = [
            problems.NewTrace(
                problem_id=t.problem.pk,
                origin=t.origin,
                external_id=t.external_id,
                job_id=job.pk,
                source_trace_id=t.source_trace_id,
                final_answer=answer,
                is_correct=correct,
                metadata={
                    **t.metadata,
                    # what the model wrote, byte for byte (a DPO pair holds exactly this)
                    "raw_text": t.text,
                    "tokens": t.token_count,
                    "finish": t.finish,
                    "seconds": round(t.seconds, 6),
                },
                steps=problems.path_steps(t.steps),
            )
            for t, (answer, correct) in fresh
        ]
        rows = problems.traces_write(plans)
        if source is not None:
            write_grades(
                source,
                [
                    (row.pk, nid, t.scores, step.position)
                    for (t, _), plan, row in zip(fresh, plans, rows, strict=True)
                    if t.scores is not None and t.scores.scores
                    for step, nid, _, _ in place_steps(plan.problem_id, plan.steps)
                ],
            )
    return rows


def generation_result(job: Job) -> dict[str, Any]:
    """Counts, tokens and throughput of a job's traces, from the database (so a job that was
    resumed after a crash reports all of its work)."""
    rows = list(
        Trace.objects.filter(job=job).values_list(
            "metadata__tokens", "metadata__seconds", "is_correct"
        )
    )
    tokens = sum(int(r[0] or 0) for r in rows)
    seconds = sum(float(r[1] or 0) for r in rows)
    return {
        "traces": len(rows),
        "correct": sum(1 for r in rows if r[2] is True),
        "incorrect": sum(1 for r in rows if r[2] is False),
        "ungraded": sum(1 for r in rows if r[2] is None),
        "tokens": tokens,
        "generation_seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
    }
