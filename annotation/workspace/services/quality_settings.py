"""The project's settings for screening, quality control, continuations and the queue."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotation.core.models import Project
from annotation.llm.models import ModelConfig
from annotation.llm.services import check_job_model
from annotation.workspace.services.errors import WorkspaceError


def _share(value: Any, name: str, *, empty_ok: bool) -> float | None:
    if value in (None, "") and empty_ok:
        return None
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise WorkspaceError(f"{name}: give a number from 0 to 1.") from None
    if not 0.0 <= share <= 1.0:
        raise WorkspaceError(f"{name}: {share} is not between 0 and 1.")
    return share


@transaction.atomic
def project_quality_update(
    *,
    project: Project,
    screening_threshold: Any,
    qc_rate: Any,
    continuation_model: Any,
    queue_job_outputs: bool,
) -> Project:
    """Screening threshold (empty: no screening), QC rate, the model that continues
    annotators' paths (empty: none) and whether job outputs go to the queue by themselves."""
    threshold = _share(screening_threshold, "screening_threshold", empty_ok=True)
    rate = _share(qc_rate, "qc_rate", empty_ok=False)
    model: ModelConfig | None = None
    if continuation_model not in (None, ""):
        model = ModelConfig.objects.filter(project=project, pk=continuation_model).first()
        if model is None:
            raise WorkspaceError(
                f"continuation_model: {continuation_model} is not a model of {project.name}."
            )
        try:
            check_job_model(model, scorer=False, field="continuation_model")
        except Exception as error:  # a ValidationError naming the field
            raise WorkspaceError(f"continuation_model: {model.name} is a scorer.") from error
    project.screening_threshold = threshold
    project.qc_rate = rate or 0.0
    project.continuation_model = model
    project.queue_job_outputs = bool(queue_job_outputs)
    project.save(
        update_fields=["screening_threshold", "qc_rate", "continuation_model", "queue_job_outputs"]
    )
    return project
