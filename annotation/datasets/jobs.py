"""Imports as jobs: the uploaded file is in Django storage; progress goes to the job row."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.db import connection

from annotation.datasets.errors import RecordError
from annotation.datasets.importer import ProgressCallback, import_dataset
from annotation.jobs.models import Job
from annotation.jobs.params import ImportParams, job_params
from annotation.jobs.services import job_progress_report


class ImportFailed(Exception):
    """A user error in the file: the job fails with this message, and is not retried."""


def run_import(job: Job) -> dict[str, object]:
    params = job_params(job, ImportParams)
    with job.input_file.open("rb") as stream, progress_beside_the_import(job) as on_progress:
        try:
            report = import_dataset(
                project=job.project,
                format_name=params.format,
                stream=stream,
                skip_invalid=params.skip_invalid,
                on_progress=on_progress,
                filename=params.filename,
            )
        except RecordError as error:
            raise ImportFailed(f"{error}; nothing was imported") from None
    job_progress_report(job, report.records, report.records)
    if report.invalid_records:
        lines = "".join(report.error_lines())
        job.output_file.save(f"import-{job.pk}-errors.jsonl", ContentFile(lines), save=False)
    return report.as_dict()


@contextmanager
def progress_beside_the_import(job: Job) -> Iterator[ProgressCallback]:
    """The import is one transaction, so its progress is written from a thread of its own
    (Django gives each thread its own connection): others see it at once, and the job row is
    never locked by the import's transaction. A cancel request raises JobCancelled here, in
    the import, which then rolls back.

    On SQLite (`make run`'s file) the import's transaction holds the file's only write lock:
    a second connection would wait for it and fail with "database is locked". There progress
    goes through the job's own connection, inside the import's transaction, and shows when
    it commits."""
    if connection.vendor == "sqlite":
        yield lambda done, total: job_progress_report(job, done, total)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"job-{job.pk}-progress") as side:

        def on_progress(done: int, total: int) -> None:
            side.submit(job_progress_report, job, done, total).result()

        try:
            yield on_progress
        finally:
            side.submit(_close_connection).result()


def _close_connection() -> None:
    connection.close()  # the connection of the thread that runs this
