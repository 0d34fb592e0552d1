"""Agreement between annotators over a whole project as a job (kind `agreement`, queue
`default`): it reads every submitted grading's grades, so the dashboard does not; the job
stores the result with the version of the data it read, and the dashboard shows the stored
result, its age and a refresh (annotation/evaluation/analyses.py reads and starts it, as it
does the other whole-project analyses).

The version is the project's grade data version (annotation/grading/tallies.py) plus its
newest review event: a submit, a return or a review decision moves it without a grade
written (a rejected grading leaves the agreement)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from annotation.core.models import Project
from annotation.evaluation.analyses import stored_analysis
from annotation.grading.tallies import data_version
from annotation.jobs.models import Job, JobKind
from annotation.workspace.models import AssignmentEvent
from annotation.workspace.selectors import Agreement, project_agreement


def agreement_version(project_id: int) -> int:
    """Grows with every grade written and every submit, return or review decision."""
    newest = (
        AssignmentEvent.objects.filter(assignment__project_id=project_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return data_version(project_id) + (newest or 0)


def agreement_json(overall: Agreement, per_user: dict[int, Agreement]) -> dict[str, Any]:
    return {
        "overall": asdict(overall),
        "per_user": {str(user): asdict(value) for user, value in per_user.items()},
    }


def stored_agreement(result: dict[str, Any]) -> tuple[Agreement, dict[int, Agreement]]:
    """A stored result as the dashboard's figures."""
    per_user = {int(user): Agreement(**value) for user, value in result["per_user"].items()}
    return Agreement(**result["overall"]), per_user


def run_agreement(job: Job) -> dict[str, Any]:
    version = agreement_version(job.project_id)  # read first: a later write shows as outdated
    overall, per_user = project_agreement(project=job.project)
    return {"data_version": version, **agreement_json(overall, per_user)}


def agreement_of(project: Project) -> Any:
    """The stored agreement analysis of the project (annotation/evaluation/analyses.py
    Stored), judged outdated against the agreement's own version."""
    return stored_analysis(project, JobKind.AGREEMENT, version=agreement_version(project.pk))
