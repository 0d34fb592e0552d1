"""Writes for model configs, prompt templates and the LLM jobs (sample, expand, score)."""

from dataclasses import asdict
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from algorithms.prompts import PromptTemplateError, template_variables
from algorithms.sampling import SamplingParams
from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.jobs.services import create_job
from annotation.llm.defaults import DEFAULT_PROMPTS
from annotation.llm.models import (
    PURPOSE_VARIABLES,
    ModelConfig,
    PromptPurpose,
    PromptTemplate,
    PromptVersion,
)

MODEL_FIELDS = (
    "name",
    "kind",
    "path_or_endpoint",
    "served_name",
    "dtype",
    "max_length",
    "default_sampling",
    "scorer_head",
    "use_chat_template",
    "options",
)
SAMPLING_KEYS = frozenset({"temperature", "top_p", "max_tokens", "seed", "stop"})
MAX_ITEMS_PER_JOB = 100_000


class PromptConflict(Exception):
    """The template was edited by someone else since this edit began."""


# Model configs -------------------------------------------------------------------------------


def check_sampling(sampling: dict[str, Any], *, field: str = "default_sampling") -> None:
    unknown = set(sampling) - SAMPLING_KEYS
    if unknown:
        known = ", ".join(sorted(SAMPLING_KEYS))
        raise ValidationError({field: f"unknown keys {', '.join(sorted(unknown))}; use {known}"})
    try:
        SamplingParams(**sampling)
    except (TypeError, ValueError) as error:
        raise ValidationError({field: str(error)}) from None


# Secrets must not sit in the options: they would be copied into every job's parameters and
# shown on pages and in the API. The worker reads them from its environment instead.
SECRET_OPTION_KEYS = frozenset({"api_key", "password", "secret", "token"})


def check_options(options: dict[str, Any]) -> None:
    secrets = sorted(SECRET_OPTION_KEYS & set(options))
    if secrets:
        raise ValidationError(
            {
                "options": f"{secrets[0]} may not be stored here; put the key in the GPU "
                'worker\'s environment and name the variable, e.g. "api_key_env": "OPENAI_API_KEY"'
            }
        )


# Options that spread one model over several GPUs or endpoints (docs/workers.md): vLLM's own
# engine options, and for an OpenAI-compatible model more endpoints serving it.
PARALLEL_OPTIONS: dict[str, str] = {
    "tensor_parallel_size": "vllm",
    "pipeline_parallel_size": "vllm",
    "base_urls": "openai",
    "concurrent_requests": "openai",
}


def check_parallel_options(kind: str, options: dict[str, Any]) -> None:
    for name in sorted(PARALLEL_OPTIONS.keys() & options.keys()):
        value = options[name]
        if PARALLEL_OPTIONS[name] != kind:
            raise ValidationError(
                {"options": f"{name} is an option of {PARALLEL_OPTIONS[name]} models, not {kind}"}
            )
        if name == "base_urls":
            if not isinstance(value, list) or not all(
                isinstance(url, str) and url.startswith(("http://", "https://")) for url in value
            ):
                raise ValidationError(
                    {"options": 'base_urls must be a list of URLs, e.g. ["http://gpu2:8000/v1"]'}
                )
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(
                {"options": f"{name} must be a whole number of at least 1, got {value!r}"}
            )


@transaction.atomic
def model_config_create(*, project: Project, **fields: Any) -> ModelConfig:
    check_sampling(fields.get("default_sampling") or {})
    check_options(fields.get("options") or {})
    check_parallel_options(fields.get("kind", ""), fields.get("options") or {})
    config = ModelConfig(project=project, **fields)
    config.full_clean()
    config.save()
    return config


@transaction.atomic
def model_config_update(*, config: ModelConfig, **fields: Any) -> ModelConfig:
    """Change fields; the version goes up when anything changed (jobs record the version).

    Compared with the stored row (locked), not with `config`, which a form may have changed."""
    stored = ModelConfig.objects.select_for_update().get(pk=config.pk)
    check_sampling(fields.get("default_sampling", stored.default_sampling) or {})
    check_options(fields.get("options", stored.options) or {})
    check_parallel_options(
        fields.get("kind", stored.kind), fields.get("options", stored.options) or {}
    )
    changed = [n for n in MODEL_FIELDS if n in fields and getattr(stored, n) != fields[n]]
    if changed:
        for name in changed:
            setattr(stored, name, fields[name])
        stored.version += 1
        stored.full_clean()
        stored.save(update_fields=[*changed, "version", "updated_at"])
    config.refresh_from_db()
    return config


# Prompt templates ----------------------------------------------------------------------------


def check_prompt(purpose: str, text: str) -> None:
    """A template may use only the placeholders its purpose fills in, and must use them."""
    allowed = PURPOSE_VARIABLES[purpose]
    try:
        used = template_variables(text)
    except PromptTemplateError as error:
        raise ValidationError({"text": str(error)}) from None
    unknown = used - allowed
    if unknown:
        raise ValidationError(
            {
                "text": f"unknown placeholder {{{{ {sorted(unknown)[0]} }}}}; a "
                f"{purpose} prompt may use {', '.join(f'{{{{ {v} }}}}' for v in sorted(allowed))}"
            }
        )
    missing = allowed - used
    if missing:
        raise ValidationError({"text": f"the prompt must contain {{{{ {sorted(missing)[0]} }}}}"})


@transaction.atomic
def prompt_template_create(
    *, project: Project, name: str, purpose: str, text: str, user: Any = None
) -> PromptTemplate:
    check_prompt(purpose, text)
    if PromptTemplate.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a prompt named {name!r} exists; choose another name"})
    template = PromptTemplate.objects.create(project=project, name=name, purpose=purpose)
    PromptVersion.objects.create(template=template, number=1, text=text, created_by=user)
    return template


@transaction.atomic
def prompt_template_edit(
    *, template: PromptTemplate, text: str, base_number: int, user: Any = None, note: str = ""
) -> PromptVersion:
    """Save a new version made from version `base_number`; refuse if a newer one exists."""
    check_prompt(template.purpose, text)
    PromptTemplate.objects.select_for_update().get(pk=template.pk)
    latest = template.versions.aggregate(n=Max("number"))["n"] or 0
    if base_number != latest:
        raise PromptConflict(
            f"version {latest} of {template.name!r} was saved after the version {base_number} "
            "you edited; reload it and apply your change again"
        )
    current = template.versions.get(number=latest)
    if current.text == text:
        return current
    return PromptVersion.objects.create(
        template=template, number=latest + 1, text=text, note=note, created_by=user
    )


@transaction.atomic
def prompt_templates_install_defaults(*, project: Project, user: Any = None) -> int:
    """Add the built-in prompts the project does not have yet (by name); returns how many."""
    existing = set(PromptTemplate.objects.filter(project=project).values_list("name", flat=True))
    added = 0
    for name, purpose, text in DEFAULT_PROMPTS:
        if name not in existing:
            prompt_template_create(
                project=project, name=name, purpose=purpose, text=text, user=user
            )
            added += 1
    return added


# Jobs ----------------------------------------------------------------------------------------


def check_job_items(ids: list[int], what: str) -> list[int]:
    if not ids:
        raise ValidationError({what: f"no {what.replace('_ids', 's')} match the filter; widen it"})
    if len(ids) > MAX_ITEMS_PER_JOB:
        raise ValidationError(
            {what: f"{len(ids)} items is more than {MAX_ITEMS_PER_JOB} per job; narrow the filter"}
        )
    return ids


def check_job_model(model: ModelConfig, project: Project, *, scorer: bool) -> None:
    if model.project_id != project.pk:
        raise ValidationError({"model": "the model belongs to another project"})
    if scorer and not model.is_scorer:
        raise ValidationError({"scorer": f"{model.name} has no scorer head; choose a scorer"})
    if not scorer and model.is_scorer and model.scorer_head != "judge":
        raise ValidationError({"model": f"{model.name} is a PRM scorer; choose a generator"})


def job_sampling(model: ModelConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in overrides.items() if v is not None}
    check_sampling(given, field="sampling")
    merged = {**model.default_sampling, **given}
    return {k: v for k, v in asdict(SamplingParams(**merged)).items() if k != "n"}


def job_prompt(version: PromptVersion, project: Project, purpose: str) -> dict[str, Any]:
    template = version.template
    if template.project_id != project.pk:
        raise ValidationError({"prompt": "the prompt belongs to another project"})
    if template.purpose != purpose:
        raise ValidationError(
            {"prompt": f"{template.name!r} is a {template.purpose} prompt; choose a {purpose} one"}
        )
    return {"label": version.label, "id": version.pk, "text": version.text}


@transaction.atomic
def start_sample_job(
    *,
    project: Project,
    user: Any,
    model: ModelConfig,
    prompt: PromptVersion,
    problem_ids: list[int],
    n: int = 4,
    sampling: dict[str, Any] | None = None,
    chunk_size: int = 8,
) -> Job:
    """N samples per problem, answer-graded: origin model_sample."""
    check_job_model(model, project, scorer=False)
    if not 1 <= n <= 256:
        raise ValidationError({"n": f"n must be between 1 and 256, got {n}"})
    params = {
        "problem_ids": check_job_items(problem_ids, "problem_ids"),
        "n": n,
        "sampling": job_sampling(model, sampling or {}),
        "chunk_size": check_chunk_size(chunk_size),
        "model": model.snapshot(),
        "prompt": job_prompt(prompt, project, PromptPurpose.SAMPLE),
    }
    return create_job(
        project=project,
        kind=JobKind.SAMPLE,
        params=params,
        created_by=user,
        total=len(problem_ids),
        model_version=model.label,
        prompt_version=prompt.label,
    )


@transaction.atomic
def start_expand_job(
    *,
    project: Project,
    user: Any,
    model: ModelConfig,
    prompt: PromptVersion,
    mode: str = "expand",
    trace_ids: list[int] | None = None,
    problem_ids: list[int] | None = None,
    n: int = 1,
    sampling: dict[str, Any] | None = None,
    scorer: ModelConfig | None = None,
    chunk_size: int = 4,
) -> Job:
    """Expand records into long-form reasoning (mode expand, from traces), or rationalize
    known answers STaR-style (mode rationalize, from problems with an answer)."""
    check_job_model(model, project, scorer=False)
    if scorer is not None:
        check_job_model(scorer, project, scorer=True)
    if not 1 <= n <= 64:
        raise ValidationError({"n": f"n must be between 1 and 64, got {n}"})
    params: dict[str, Any] = {
        "mode": mode,
        "n": n,
        "sampling": job_sampling(model, sampling or {}),
        "chunk_size": check_chunk_size(chunk_size),
        "model": model.snapshot(),
        "scorer": scorer.snapshot() if scorer else None,
    }
    if mode == "expand":
        params["trace_ids"] = check_job_items(trace_ids or [], "trace_ids")
        params["prompt"] = job_prompt(prompt, project, PromptPurpose.EXPAND)
    elif mode == "rationalize":
        params["problem_ids"] = check_job_items(problem_ids or [], "problem_ids")
        params["prompt"] = job_prompt(prompt, project, PromptPurpose.RATIONALIZE)
    else:
        raise ValidationError({"mode": f"unknown mode {mode!r}; use expand or rationalize"})
    total = len(params.get("trace_ids") or params["problem_ids"])
    versions = [model.label] + ([scorer.label] if scorer else [])
    return create_job(
        project=project,
        kind=JobKind.EXPAND,
        params=params,
        created_by=user,
        total=total,
        model_version=" + ".join(versions),
        prompt_version=prompt.label,
    )


@transaction.atomic
def start_score_job(
    *, project: Project, user: Any, scorer: ModelConfig, trace_ids: list[int], chunk_size: int = 16
) -> Job:
    """Score every step of the traces; grades go to a source of kind prm or judge."""
    check_job_model(scorer, project, scorer=True)
    params = {
        "trace_ids": check_job_items(trace_ids, "trace_ids"),
        "chunk_size": check_chunk_size(chunk_size),
        "scorer": scorer.snapshot(),
    }
    return create_job(
        project=project,
        kind=JobKind.SCORE,
        params=params,
        created_by=user,
        total=len(trace_ids),
        model_version=scorer.label,
    )


def check_chunk_size(size: int) -> int:
    if not 1 <= size <= 1000:
        raise ValidationError({"chunk_size": f"chunk size must be between 1 and 1000, got {size}"})
    return size
