from typing import IO, Any

from django.core.files import File

from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import ImportParams
from annotation.jobs.services import job_create


def import_start(
    *,
    project: Project,
    user: Any,
    format_name: str,
    upload: IO[bytes],
    name: str,
    skip_invalid: bool = False,
) -> Job:
    """Keep the uploaded file in storage and queue an import job for it."""
    return job_create(
        project=project,
        kind=JobKind.IMPORT,
        params=ImportParams(format=format_name, skip_invalid=skip_invalid, filename=name),
        created_by=user,
        input_file=File(upload, name=name),
    )
