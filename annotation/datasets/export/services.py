from typing import Any

from annotation.core.models import Project
from annotation.datasets.export.options import ExportOptions
from annotation.jobs.models import Job, JobKind
from annotation.jobs.services import job_create


def export_start(*, project: Project, user: Any, options: ExportOptions) -> Job:
    """Queue an export job; its params are the options (validated already)."""
    return job_create(project=project, kind=JobKind.EXPORT, params=options, created_by=user)
