"""Imports as jobs: the uploaded file is in Django storage; progress goes to the job row."""

import json

from django.core.files.base import ContentFile

from annotation.datasets.errors import RecordError
from annotation.datasets.importer import import_dataset
from annotation.jobs.models import Job
from annotation.jobs.params import ImportParams, job_params
from annotation.jobs.services import report_progress


class ImportFailed(Exception):
    """A user error in the file: the job fails with this message, and is not retried."""


def run_import(job: Job) -> dict[str, object]:
    params = job_params(job, ImportParams)
    with job.input_file.open("rb") as stream:
        try:
            report = import_dataset(
                project=job.project,
                format_name=params.format,
                stream=stream,
                skip_invalid=params.skip_invalid,
                on_progress=lambda done, total: report_progress(job, done, total),
                validate_first=True,
            )
        except RecordError as error:
            raise ImportFailed(f"{error}; nothing was imported") from None
    if report.errors:
        lines = "".join(json.dumps(e) + "\n" for e in report.errors)
        job.output_file.save(f"import-{job.pk}-errors.jsonl", ContentFile(lines), save=False)
    return report.as_dict()
