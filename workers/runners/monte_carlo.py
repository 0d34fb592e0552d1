"""Monte-Carlo labeling job: automatic process supervision (Math-Shepherd, OmegaPRM).

From the prefix that ends on each step of a trace, the policy completes the solution `n` times;
a completion *reaches* when its final answer equals the problem's ground truth. The labels are
Grade rows of the job's source (kind monte_carlo): score = soft label (the fraction that reached),
rating = hard label (+1 if any reached, -1 if none did). Every completion is kept as a Rollout.

Modes:
- ``all``: every step of every path is rolled out (prefixes shared by several traces once).
- ``binary_search``: OmegaPRM's search for the first step whose rollouts stop reaching the
  answer, with at most ``len(path).bit_length()`` prefixes per trace. Evaluated prefixes get
  labels as above; the others are inferred under the search's monotonicity assumption (steps
  before the first error +1, steps after it -1), with no score and reason ``inferred``.

Idempotent: rollouts already stored for a prefix are reused, never sampled again; a label that
exists is kept, except that an evaluated label replaces an inferred one (history kept).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q

from algorithms.answers import answers_equivalent_many, extract_answer
from algorithms.mc_labels import first_error_binary_search
from algorithms.prompts import render_prompt
from algorithms.steps import join_steps
from annotation.evaluation.models import Rollout
from annotation.grading.models import GradeSource
from annotation.grading.selectors import current_grades
from annotation.grading.services import INFERRED, monte_carlo_labels_write, monte_carlo_source
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.jobs.params import MonteCarloParams, job_params
from annotation.problems.models import Trace
from annotation.problems.selectors import paths as trace_paths
from workers.runners.common import Work, generate, run_work

# A completion: its text and how many tokens it took.
Completion = tuple[str, int]
# The policy: n completions for each prompt, in prompt order.
Policy = Callable[[Sequence[str], int], list[list[Completion]]]

CONTINUE_INSTRUCTION = (
    "Here is the beginning of a solution. Continue it from where it stops and finish with the "
    "final answer."
)


@dataclass(frozen=True)
class Path:
    trace_id: int
    problem_text: str
    truth: str
    nodes: list[uuid.UUID]
    texts: list[str]


@dataclass(frozen=True)
class Label:
    trace_id: int
    rating: int
    score: float | None
    inferred: bool


def rollout_prompt(template: str, problem: str, steps: Sequence[str], *, chat: bool) -> str:
    """The prompt that asks the policy to continue the prefix `steps` of a solution.

    A chat model gets the prefix inside the user message with an instruction to continue it
    (the backends take no assistant prefill); a plain model continues the text itself."""
    head = render_prompt(template, {"problem": problem})
    prefix = join_steps(steps)
    if chat:
        return f"{head}\n\n{CONTINUE_INSTRUCTION}\n\n{prefix}"
    return f"{head}\n\n{prefix}\n\n"


def model_policy(params: MonteCarloParams) -> Policy:
    """The job's generator as a policy."""

    def policy(prompts: Sequence[str], n: int) -> list[list[Completion]]:
        outputs, _ = generate(params.model, prompts, params.sampling_params(n))
        return [[(g.text, g.token_count) for g in generations] for generations in outputs]

    return policy


def mc_grade_source(job: Job, params: MonteCarloParams) -> GradeSource:
    return monte_carlo_source(
        job=job,
        description=f"{params.model.label} n={params.n} {params.mode}",
    )


class Labeler:
    """Rolls out prefixes for one job, reusing the rollouts it has stored."""

    def __init__(self, job: Job, params: MonteCarloParams, policy: Policy) -> None:
        self.job = job
        self.policy = policy
        self.n = params.n
        self.chat = params.model.use_chat_template
        self.template = params.prompt.text

    def outcomes(self, prefixes: Sequence[tuple[Path, int]]) -> dict[uuid.UUID, list[bool]]:
        """Whether each rollout of each prefix (path, length) reached the answer, by the node
        the prefix ends on; prefixes without stored rollouts are rolled out in one batch."""
        wanted: dict[uuid.UUID, tuple[Path, int]] = {}
        for path, length in prefixes:
            wanted.setdefault(path.nodes[length - 1], (path, length))
        stored = self._stored(list(wanted))
        missing = [(node, *wanted[node]) for node in wanted if len(stored.get(node, [])) < self.n]
        if missing:
            self._roll_out(missing)
            stored = self._stored(list(wanted))
        return stored

    def _stored(self, nodes: list[uuid.UUID]) -> dict[uuid.UUID, list[bool]]:
        found: dict[uuid.UUID, list[bool]] = defaultdict(list)
        rows = (
            Rollout.objects.filter(job=self.job, node_id__in=nodes, index__lt=self.n)
            .order_by("node_id", "index")
            .values_list("node_id", "reached")
        )
        for node, reached in rows:
            found[node].append(reached)
        return dict(found)

    def _roll_out(self, missing: list[tuple[uuid.UUID, Path, int]]) -> None:
        prompts = [
            rollout_prompt(self.template, path.problem_text, path.texts[:length], chat=self.chat)
            for _, path, length in missing
        ]
        completions = self.policy(prompts, self.n)
        if len(completions) != len(prompts) or any(len(c) != self.n for c in completions):
            raise ValueError(f"the policy must return {self.n} completions for each prompt")
        rows: list[Rollout] = []
        pairs: list[tuple[str, str]] = []
        for (node, path, length), samples in zip(missing, completions, strict=True):
            prefix = join_steps(path.texts[:length])
            for index, (text, tokens) in enumerate(samples):
                answer = extract_answer(text) or extract_answer(prefix)
                pairs.append((answer or "", path.truth))
                rows.append(
                    Rollout(
                        job=self.job,
                        node_id=node,
                        index=index,
                        text=text,
                        answer=answer,
                        reached=False,
                        token_count=tokens,
                    )
                )
        verdicts = answers_equivalent_many(pairs, timeout_s=settings.STEPWISE_ANSWER_TIMEOUT_S)
        for row, verdict in zip(rows, verdicts, strict=True):
            row.reached = verdict
        Rollout.objects.bulk_create(rows, ignore_conflicts=True)


def load_paths(job: Job, trace_ids: Sequence[int]) -> list[Path]:
    """The path of each trace (of the job's project) whose problem has a ground-truth answer,
    in the given order."""
    problems = {
        pk: (text, answer)
        for pk, text, answer in in_project(job, Trace, trace_ids).values_list(
            "pk", "problem__text", "problem__answer"
        )
    }
    steps = {
        trace_id: [(step.node_id, step.text) for step in path]
        for trace_id, path in trace_paths(list(problems)).items()
    }
    return [
        Path(
            trace_id=tid,
            problem_text=problems[tid][0],
            truth=problems[tid][1] or "",
            nodes=[node for node, _ in steps[tid]],
            texts=[text for _, text in steps[tid]],
        )
        for tid in trace_ids
        if tid in problems and problems[tid][1] and steps.get(tid)
    ]


def evaluated_label(trace_id: int, reached: list[bool]) -> Label:
    return Label(trace_id, 1 if any(reached) else -1, sum(reached) / len(reached), False)


def labels_all(labeler: Labeler, paths: list[Path]) -> dict[uuid.UUID, Label]:
    prefixes = [(path, length) for path in paths for length in range(1, len(path.nodes) + 1)]
    outcomes = labeler.outcomes(prefixes)
    labels: dict[uuid.UUID, Label] = {}
    for path in paths:
        for node in path.nodes:
            labels.setdefault(node, evaluated_label(path.trace_id, outcomes[node]))
    return labels


def labels_binary_search(labeler: Labeler, paths: list[Path]) -> dict[uuid.UUID, Label]:
    """One binary search per trace (each probe depends on the last); evaluated labels win over
    inferred ones when traces share nodes."""
    labels: dict[uuid.UUID, Label] = {}
    for path in paths:
        seen: dict[uuid.UUID, list[bool]] = {}

        def rollout_one(
            length: int, path: Path = path, seen: dict[uuid.UUID, list[bool]] = seen
        ) -> list[bool]:
            node = path.nodes[length - 1]
            seen[node] = labeler.outcomes([(path, length)])[node]
            return seen[node]

        first_error, _ = first_error_binary_search(len(path.nodes), rollout_one)
        for position, node in enumerate(path.nodes):
            if node in seen:
                label = evaluated_label(path.trace_id, seen[node])
            else:
                good = first_error == -1 or position < first_error
                label = Label(path.trace_id, 1 if good else -1, None, True)
            current = labels.get(node)
            if current is None or (current.inferred and not label.inferred):
                labels[node] = label
    return labels


def write_labels(source: GradeSource, labels: dict[uuid.UUID, Label]) -> int:
    """Add the labels the source does not have; an evaluated label replaces an inferred one."""
    return monte_carlo_labels_write(source=source, labels=labels)


def run_monte_carlo(job: Job, policy: Policy | None = None) -> dict[str, Any]:
    return run_work(job, monte_carlo_work(job, policy))


def monte_carlo_work(job: Job, policy: Policy | None = None) -> Work:
    params = job_params(job, MonteCarloParams)
    source = mc_grade_source(job, params)
    labeler = Labeler(job, params, policy or model_policy(params))
    label_paths = labels_binary_search if params.mode == "binary_search" else labels_all

    def process(chunk: list[int]) -> None:
        paths = load_paths(job, chunk)
        if paths:
            write_labels(source, label_paths(labeler, paths))

    return Work(
        items=params.trace_ids,
        chunk_size=params.chunk_size,
        process=process,
        result=lambda _: monte_carlo_result(job, params, source),
    )


def monte_carlo_result(job: Job, params: MonteCarloParams, source: GradeSource) -> dict[str, Any]:
    """Counts from the database, so a job resumed after a crash reports all of its work."""
    rollouts = Rollout.objects.filter(job=job).aggregate(
        rollouts=Count("id"),
        reached=Count("id", filter=Q(reached=True)),
        prefixes=Count("node_id", distinct=True),
    )
    grades = (
        current_grades()
        .filter(source=source)
        .aggregate(
            labels=Count("id"),
            inferred=Count("id", filter=Q(reason=INFERRED)),
            bad=Count("id", filter=Q(rating=-1)),
        )
    )
    return {
        "traces": len(params.trace_ids),
        "mode": params.mode,
        "n": params.n,
        **rollouts,
        **grades,
        "source": source.name,
    }
