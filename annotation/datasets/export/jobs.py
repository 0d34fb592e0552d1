"""Exports as jobs: files are written to a temporary directory, then kept in Django storage
under exports/<job id>/; the job's output_file is the train file and its result the manifest."""

import tempfile
from pathlib import Path

from django.core.files import File

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import MANIFEST_NAME, export_to_directory
from annotation.jobs.models import Job
from annotation.jobs.params import job_params
from annotation.jobs.services import report_progress


def run_export(job: Job) -> dict[str, object]:
    options = job_params(job, ExportOptions)
    with tempfile.TemporaryDirectory(prefix=f"export-{job.pk}-") as tmp:
        directory = Path(tmp)
        manifest = export_to_directory(
            project=job.project,
            options=options,
            directory=directory,
            on_progress=lambda done, total: report_progress(job, done, total),
        )
        storage = job.output_file.storage
        stored: dict[str, str] = {}
        paired = (manifest.get("paired") or {}).get("splits", {})  # sft-paired: the other side
        names = [split["name"] for split in [*manifest["splits"].values(), *paired.values()]]
        names.append(MANIFEST_NAME)
        for name in names:
            with (directory / name).open("rb") as handle:
                stored[name] = storage.save(f"exports/{job.pk}/{name}", File(handle, name=name))
        job.output_file.name = stored[manifest["splits"]["train"]["name"]]
    return {"manifest": manifest, "files": stored}
