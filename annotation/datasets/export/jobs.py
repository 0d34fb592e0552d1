"""Exports as jobs: files are written to a temporary directory, then kept in Django storage
under exports/<job id>/ (the splits, README.md, manifest.json, and all of them in one zip);
the job's output_file is the train file and its result the manifest."""

import tempfile
import zipfile
from pathlib import Path

from django.core.files import File

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import MANIFEST_NAME, export_to_directory
from annotation.datasets.export.readme import README_NAME
from annotation.jobs.models import Job
from annotation.jobs.params import job_params
from annotation.jobs.services import job_progress_report


def run_export(job: Job) -> dict[str, object]:
    options = job_params(job, ExportOptions)
    with tempfile.TemporaryDirectory(prefix=f"export-{job.pk}-") as tmp:
        directory = Path(tmp)
        manifest = export_to_directory(
            project=job.project,
            options=options,
            directory=directory,
            on_progress=lambda done, total: job_progress_report(job, done, total),
        )
        storage = job.output_file.storage
        stored: dict[str, str] = {}
        paired = (manifest.get("paired") or {}).get("splits", {})  # sft-paired: the other side
        names = [split["name"] for split in [*manifest["splits"].values(), *paired.values()]]
        names += [README_NAME, MANIFEST_NAME]
        names.append(write_archive(directory, archive_name(job, options), names))
        for name in names:
            with (directory / name).open("rb") as handle:
                stored[name] = storage.save(f"exports/{job.pk}/{name}", File(handle, name=name))
        # the train split's file, or the only split written (a split with no row is omitted)
        first = manifest["splits"].get("train") or next(iter(manifest["splits"].values()))
        job.output_file.name = stored[first["name"]]
    return {"manifest": manifest, "files": stored}


def archive_name(job: Job, options: ExportOptions) -> str:
    return f"{options.format}-export-{job.pk}.zip"


def write_archive(directory: Path, name: str, members: list[str]) -> str:
    """Every file of the export (README, manifest, splits) in one zip, for one download.
    The split files are compressed already or compress well; zip's deflate does the rest."""
    with zipfile.ZipFile(directory / name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            archive.write(directory / member, arcname=member)
    return name
