"""Writes for model configs, prompt templates and the LLM jobs (sample, expand, score)."""

from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from algorithms.model_errors import PolicyViolation
from algorithms.model_policy import BackendPolicy, check_model_config
from algorithms.prompts import PromptTemplateError, template_variables
from algorithms.sampling import SamplingParams
from annotation.core.access import Ability, abilities
from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import (
    REVIEW_FILTERS,
    ExpandParams,
    ModelSnapshot,
    PromptSnapshot,
    SampleParams,
    ScoreParams,
    check_within_context,
)
from annotation.jobs.params import check_sampling as check_sampling_values
from annotation.jobs.services import job_create
from annotation.llm.defaults import DEFAULT_PROMPTS
from annotation.llm.models import (
    PURPOSE_VARIABLES,
    ModelConfig,
    PromptPurpose,
    PromptTemplate,
    PromptVersion,
)
from annotation.workspace.review_filter import trace_ids_passing

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
    "trust_remote_code",
)
# On a model allowed to run code from its directory, these choose which code runs.
CODE_LOCATION_FIELDS = ("kind", "path_or_endpoint")


class PromptConflict(Exception):
    """The template was edited by someone else since this edit began."""


# Model configs -------------------------------------------------------------------------------


def check_sampling(sampling: dict[str, Any], *, field: str = "default_sampling") -> None:
    check_sampling_values(sampling, field)


def check_model(fields: dict[str, Any]) -> None:
    """The operator's policy (see algorithms.model_policy): options allowed for the kind and
    never a secret, an endpoint the operator allows, a key only from an allowed variable."""
    try:
        check_model_config(
            kind=fields["kind"],
            scorer_head=fields.get("scorer_head") or None,
            path_or_endpoint=fields["path_or_endpoint"],
            options=fields.get("options") or {},
            policy=BackendPolicy.from_settings(settings),
        )
    except PolicyViolation as error:
        raise ValidationError({error.field: str(error)}) from None


def may_allow_code(user: Any, project: Project) -> bool:
    return user is not None and Ability.MANAGE in abilities(user, project)


def check_trust(
    *, user: Any, project: Project, stored: ModelConfig | None, fields: dict[str, Any]
) -> None:
    """Only a project admin (or a superuser) lets a model run code from its directory, or
    moves a model that may do so to another directory."""
    if may_allow_code(user, project):
        return
    trusted = stored is not None and stored.trust_remote_code
    if fields.get("trust_remote_code", trusted) and not trusted:
        raise ValidationError(
            {
                "trust_remote_code": "only a project admin may allow a model to run code "
                "from its directory"
            }
        )
    if stored is not None and trusted:
        for name in CODE_LOCATION_FIELDS:
            if name in fields and fields[name] != getattr(stored, name):
                raise ValidationError(
                    {
                        name: f"this model may run code from its directory (trust_remote_code); "
                        f"only a project admin may change its {name}"
                    }
                )


@transaction.atomic
def model_config_create(*, project: Project, user: Any = None, **fields: Any) -> ModelConfig:
    """`user` is who asks; only a project admin may set trust_remote_code."""
    check_sampling(fields.get("default_sampling") or {})
    check_within_context(
        fields.get("default_sampling") or {},
        fields.get("max_length"),
        fields.get("name", "the model"),
        "default_sampling",
    )
    check_model(fields)
    check_trust(user=user, project=project, stored=None, fields=fields)
    config = ModelConfig(project=project, **fields)
    config.full_clean()
    config.save()
    return config


@transaction.atomic
def model_config_update(*, config: ModelConfig, user: Any = None, **fields: Any) -> ModelConfig:
    """Change fields; the version goes up when anything changed (jobs record the version).

    Compared with the stored row (locked), not with `config`, which a form may have changed."""
    stored = ModelConfig.objects.select_for_update().get(pk=config.pk)
    sampling = fields.get("default_sampling", stored.default_sampling) or {}
    check_sampling(sampling)
    check_within_context(
        sampling, fields.get("max_length", stored.max_length), stored.name, "default_sampling"
    )
    check_model({name: fields.get(name, getattr(stored, name)) for name in MODEL_FIELDS})
    check_trust(user=user, project=stored.project, stored=stored, fields=fields)
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


@transaction.atomic
def default_prompt_version(*, project: Project, purpose: str, user: Any = None) -> PromptVersion:
    """The latest version of the project's first template of ``purpose``; the built-in one is
    installed first when the project has none (so a job always records a versioned prompt)."""
    templates = PromptTemplate.objects.filter(project=project, purpose=purpose)
    template = templates.order_by("pk").first()
    if template is None:
        name, _, text = next(p for p in DEFAULT_PROMPTS if p[1] == purpose)
        template = prompt_template_create(
            project=project, name=name, purpose=purpose, text=text, user=user
        )
    return template.versions.select_related("template").order_by("-number")[0]


# Jobs ----------------------------------------------------------------------------------------


def check_job_model(model: ModelConfig, *, scorer: bool, field: str = "model") -> None:
    """A generator where the job needs one, a scorer where it needs a scorer. (That the model
    belongs to the job's project is checked with every other input, by job_create.)"""
    if scorer and not model.is_scorer:
        raise ValidationError({field: f"{model.name} has no scorer head; choose a scorer"})
    if not scorer and model.is_scorer and model.scorer_head != "judge":
        raise ValidationError({field: f"{model.name} is a PRM scorer; choose a generator"})


def job_sampling(
    model: ModelConfig, overrides: dict[str, Any], *, field: str = "sampling"
) -> dict[str, Any]:
    given = {k: v for k, v in overrides.items() if v is not None}
    check_sampling(given, field=field)
    merged = {**model.default_sampling, **given}
    check_within_context(merged, model.max_length, model.name, field)
    return {k: v for k, v in asdict(SamplingParams(**merged)).items() if k != "n"}


def job_prompt(version: PromptVersion, purpose: str, *, field: str = "prompt") -> PromptSnapshot:
    template = version.template
    if template.purpose != purpose:
        raise ValidationError(
            {field: f"{template.name!r} is a {template.purpose} prompt; choose a {purpose} one"}
        )
    return PromptSnapshot.of(version)


@dataclass(frozen=True)
class SamplingPreset:
    label: str
    n: int
    sampling: dict[str, Any]


# Recipes a sample job can start from; the preset's values win over the form's.
SAMPLING_PRESETS: dict[str, SamplingPreset] = {
    # O1-Journey's DPO data: 20 samples per problem, then 5 correct + 5 incorrect -> 5 pairs.
    "dpo": SamplingPreset(
        "DPO sampling (20 at T=0.7, top_p=0.95)", 20, {"temperature": 0.7, "top_p": 0.95}
    ),
}


@transaction.atomic
def sample_job_start(
    *,
    project: Project,
    user: Any,
    model: ModelConfig,
    prompt: PromptVersion,
    problem_ids: list[int],
    n: int = 4,
    sampling: dict[str, Any] | None = None,
    chunk_size: int = 8,
    preset: str = "",
) -> Job:
    """N samples per problem, answer-graded: origin model_sample. A preset (SAMPLING_PRESETS)
    sets n and its sampling values over the given ones, and is recorded with the job."""
    check_job_model(model, scorer=False)
    if preset:
        if preset not in SAMPLING_PRESETS:
            known = ", ".join(sorted(SAMPLING_PRESETS))
            raise ValidationError({"preset": f"unknown preset {preset!r}; use {known}"})
        n = SAMPLING_PRESETS[preset].n
        sampling = {**(sampling or {}), **SAMPLING_PRESETS[preset].sampling}
    params = SampleParams(
        problem_ids=tuple(problem_ids),
        n=n,
        sampling=job_sampling(model, sampling or {}),
        chunk_size=chunk_size,
        model=ModelSnapshot.of(model),
        prompt=job_prompt(prompt, PromptPurpose.SAMPLE),
        preset=preset,
    )
    return job_create(
        project=project,
        kind=JobKind.SAMPLE,
        params=params,
        created_by=user,
    )


@transaction.atomic
def expand_job_start(
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
    review: str = "not_rejected",
) -> Job:
    """Expand records into long-form reasoning (mode expand, from traces), or rationalize
    known answers STaR-style (mode rationalize, from problems with an answer). Thought
    records pass by their review (`review`: accepted, not_rejected or all; see
    annotation/workspace/review_filter.py); the job records the filter in its params."""
    check_job_model(model, scorer=False)
    if scorer is not None:
        check_job_model(scorer, scorer=True, field="scorer")
    purpose = PromptPurpose.RATIONALIZE if mode == "rationalize" else PromptPurpose.EXPAND
    expanding = mode != "rationalize"  # an unknown mode is refused by ExpandParams
    if expanding and trace_ids and review in REVIEW_FILTERS:
        passing = trace_ids_passing(trace_ids, review)
        if not passing:
            raise ValidationError(
                {
                    "review": f"none of the traces passes review={review}: their people's work "
                    "was rejected or returned; choose review=all to expand them anyway"
                }
            )
        trace_ids = passing
    params = ExpandParams(
        mode=mode,
        review=review,  # type: ignore[arg-type]  # ExpandParams refuses an unknown filter
        trace_ids=tuple(trace_ids or ()) if expanding else (),
        problem_ids=() if expanding else tuple(problem_ids or ()),
        n=n,
        sampling=job_sampling(model, sampling or {}),
        chunk_size=chunk_size,
        model=ModelSnapshot.of(model),
        scorer=ModelSnapshot.of(scorer) if scorer else None,
        prompt=job_prompt(prompt, purpose),
    )
    return job_create(
        project=project,
        kind=JobKind.EXPAND,
        params=params,
        created_by=user,
    )


@transaction.atomic
def score_job_start(
    *, project: Project, user: Any, scorer: ModelConfig, trace_ids: list[int], chunk_size: int = 16
) -> Job:
    """Score every step of the traces; grades go to a source of kind prm or judge."""
    check_job_model(scorer, scorer=True, field="scorer")
    params = ScoreParams(
        trace_ids=tuple(trace_ids), chunk_size=chunk_size, scorer=ModelSnapshot.of(scorer)
    )
    return job_create(
        project=project,
        kind=JobKind.SCORE,
        params=params,
        created_by=user,
    )
