"""Writes of the evaluation app: starting Monte-Carlo labeling jobs, the suggestion setting."""

from typing import Any

from django.db import transaction

from annotation.core.models import Project
from annotation.evaluation.models import SuggestionSetting
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import ModelSnapshot, MonteCarloParams
from annotation.jobs.services import job_create
from annotation.llm.models import ModelConfig, PromptPurpose, PromptVersion
from annotation.llm.services import check_job_model, job_prompt, job_sampling


@transaction.atomic
def monte_carlo_job_start(
    *,
    project: Project,
    user: Any,
    model: ModelConfig,
    prompt: PromptVersion,
    trace_ids: list[int],
    n: int = 8,
    mode: str = "all",
    sampling: dict[str, Any] | None = None,
    chunk_size: int = 4,
) -> Job:
    """Label the steps of traces by n rollouts per prefix (mode all), or find each trace's
    first error by binary search over its prefixes (mode binary_search).

    The prompt is a sample prompt (it fills in {{ problem }}); the prefix follows it."""
    check_job_model(model, scorer=False)
    params = MonteCarloParams(
        trace_ids=tuple(trace_ids),
        n=n,
        mode=mode,
        sampling=job_sampling(model, sampling or {}),
        chunk_size=chunk_size,
        model=ModelSnapshot.of(model),
        prompt=job_prompt(prompt, PromptPurpose.SAMPLE),
    )
    return job_create(
        project=project,
        kind=JobKind.MONTE_CARLO,
        params=params,
        created_by=user,
    )


@transaction.atomic
def machine_suggestions_set(*, project: Project, shown: bool, user: Any = None) -> Project:
    """Show machine grades to annotators as suggestions, or stop; the change is logged so the
    agreement report can split grades given with and without suggestions."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    if locked.show_machine_suggestions != shown:
        locked.show_machine_suggestions = shown
        locked.save(update_fields=["show_machine_suggestions"])
        SuggestionSetting.objects.create(project=locked, shown=shown, changed_by=user)
    project.show_machine_suggestions = shown
    return project
