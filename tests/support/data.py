"""Problems, thought records, ProcessBench rows and model configs for the tests."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from annotation.core.models import Project
from annotation.datasets.importer import import_dataset
from annotation.jobs.models import Job
from annotation.llm.models import ModelConfig, PromptPurpose, PromptVersion
from annotation.llm.services import model_config_create, prompt_template_create, sample_job_start
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.services import NewStep, NewTrace, trace_create
from annotation.problems.tree import text_digest
from tests.factories import researcher
from tests.support.models import VLLM_CPU_OPTIONS, tiny_model

SAMPLING = {"temperature": 1.0, "top_p": 0.95, "max_tokens": 24, "seed": 7}


def make_problems(project: Project, count: int) -> list[Problem]:
    return Problem.objects.bulk_create(
        Problem(
            project=project,
            external_id=f"p{i}",
            text=f"Ann has {i + 2} apples and gets {i + 3} more. How many apples?",
            text_digest=text_digest(f"problem {i}"),
            answer=str(2 * i + 5),
            source="test",
        )
        for i in range(count)
    )


def import_processbench_rows(
    project: Project, labels: Sequence[int], problem_text: Callable[[int], str]
) -> list[Trace]:
    """One ProcessBench row of 3 steps per label, imported; returns the traces in row order."""
    lines = [
        json.dumps(
            {
                "id": f"pb-{i}",
                "generator": "test",
                "problem": problem_text(i),
                "steps": [f"Step {s} of record {i}." for s in range(3)],
                "final_answer_correct": label == -1,
                "label": label,
            }
        )
        for i, label in enumerate(labels)
    ]
    import_dataset(
        project=project,
        format_name="processbench",
        stream=io.BytesIO("\n".join(lines).encode()),
        grade_answers=False,
    )
    return list(Trace.objects.filter(problem__project=project).order_by("pk"))


def make_record(problem: Problem, steps: list[tuple[str, str]], *, key: str) -> Trace:
    """A human thought record: (kind, text) steps on one path."""
    return trace_create(
        NewTrace(
            problem_id=problem.pk,
            origin=Origin.THOUGHT_RECORD,
            external_id=key,
            steps=[NewStep(position, text, kind) for position, (kind, text) in enumerate(steps)],
        )
    )


RECORD_STEPS = [
    ("attempt", "Maybe I should multiply: 2 * 3 = 6."),
    ("reflection", "Wait, gets more means adding, not multiplying."),
    ("correction", "So 2 + 3 = 5."),
    ("conclusion", "The answer is 5."),
]


def generator_config(project: Project, kind: str, **extra: Any) -> ModelConfig:
    options = VLLM_CPU_OPTIONS if kind == "vllm" else {}
    return model_config_create(
        project=project,
        name=f"tiny {kind}",
        kind=kind,
        path_or_endpoint=str(tiny_model("lm")),
        dtype="float32",
        max_length=1024 if kind == "vllm" else None,
        default_sampling=SAMPLING,
        options=options,
        **extra,
    )


def endpoint_config(project: Project, base_url: str) -> ModelConfig:
    """A model served by an OpenAI-compatible endpoint (e.g. workers/testing/fake_openai.py),
    prompted without a chat template, so that a chunk's prompts go in one request."""
    return model_config_create(
        project=project,
        name="endpoint",
        kind="openai",
        path_or_endpoint=base_url,
        served_name="fake",
        default_sampling={"max_tokens": 16},
        use_chat_template=False,
        options={"timeout_s": 120},
    )


def endpoint_sample_job(problems: list[Problem], base_url: str, n: int) -> Job:
    """A researcher's sampling job of one-problem shards on the endpoint at `base_url`."""
    project = problems[0].project
    return sample_job_start(
        project=project,
        user=researcher(project),
        model=endpoint_config(project, base_url),
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
        n=n,
        chunk_size=1,
    )


def scorer_config(project: Project, head: str) -> ModelConfig:
    return model_config_create(
        project=project,
        name=f"tiny {head}",
        kind="transformers",
        path_or_endpoint=str(tiny_model(head)),
        dtype="float32",
        scorer_head=head,
    )


def prompt(project: Project, purpose: str) -> PromptVersion:
    from annotation.llm.defaults import DEFAULT_PROMPTS

    name, _, text = next(p for p in DEFAULT_PROMPTS if p[1] == purpose)
    template = prompt_template_create(project=project, name=name, purpose=purpose, text=text)
    return template.versions.get()


__all__ = ["PromptPurpose"]
