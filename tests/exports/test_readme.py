"""Every export explains itself: a README.md beside the files describes every column each
format writes, how 0 was counted, what was left out and how to load the files; the job also
stores one zip of everything."""

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from annotation.core.models import Role
from annotation.datasets.export.columns import FORMAT_COLUMNS, STEP_LABEL_FORMATS
from annotation.datasets.export.files import parquet_schema
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.datasets.export.readme import README_NAME
from annotation.jobs.models import Job, JobStatus
from tests.exports.test_files import read_jsonl
from tests.factories import MembershipFactory, UserFactory

DESCRIBED = re.compile(r"^\| `([^`]+)` \| (.+) \|$", re.MULTILINE)


def described_columns(readme: str) -> dict[str, str]:
    columns = readme.split("## Columns", 1)[1].split("\n## ", 1)[0]
    return dict(DESCRIBED.findall(columns))


def written_columns(directory: Path, manifest: dict) -> set[str]:
    names = [info["name"] for info in manifest["splits"].values()]
    names += [info["name"] for info in (manifest.get("paired") or {}).get("splits", {}).values()]
    return {key for name in names for row in read_jsonl(directory / name) for key in row}


@pytest.mark.parametrize("format_name", sorted(EXPORT_FORMATS))
def test_every_column_an_export_writes_is_described_in_its_readme(
    everything, tmp_path, format_name
):
    # given an export of every origin the formats read
    manifest = export_to_directory(
        project=everything, options=ExportOptions(format=format_name), directory=tmp_path
    )
    # when
    readme = (tmp_path / README_NAME).read_text()
    # then every column of every row written has a meaning in the README
    written = written_columns(tmp_path, manifest)
    described = described_columns(readme)
    assert written, "the export wrote rows"
    assert written <= set(described), written - set(described)
    assert all(meaning.strip() for meaning in described.values())


@pytest.mark.parametrize("format_name", sorted(f for f in FORMAT_COLUMNS if ":" not in f))
def test_every_parquet_column_of_every_format_has_a_meaning(format_name):
    # Parquet's schemas list each format's columns, soft variants too (files.py)
    for name in (format_name, f"{format_name}:soft"):
        try:
            schema = parquet_schema(name)
        except KeyError:
            continue
        soft = name.endswith(":soft")
        columns = dict(FORMAT_COLUMNS[format_name])
        if soft:
            columns.update(FORMAT_COLUMNS[name])
        assert set(schema.names) <= set(columns), (name, set(schema.names) - set(columns))


def test_every_format_of_the_table_has_its_columns():
    assert set(EXPORT_FORMATS) <= set(FORMAT_COLUMNS)


@pytest.mark.parametrize("zero_is", ["good", "bad"])
def test_a_step_label_readme_says_how_0_was_counted_and_how_to_load_it(
    everything, tmp_path, zero_is
):
    options = ExportOptions(format="trl-stepwise", zero_is=zero_is, test_fraction=0.5)
    manifest = export_to_directory(project=everything, options=options, directory=tmp_path)
    readme = (tmp_path / README_NAME).read_text()
    assert "trl-stepwise" in STEP_LABEL_FORMATS
    assert f"**0 counts as {zero_is}**" in readme
    assert "50% of them to test" in readme
    assert 'load_dataset("json", data_files={"train": "trl-stepwise-train.jsonl"' in readme
    for reason, entry in manifest["left_out"].items():
        assert f"| {entry['count']} | `{reason}` |" in readme
    assert f"- problems read: {manifest['counts']['problems_read']}" in readme
    assert manifest["counts"]["problems_read"] > 0


def test_the_export_job_stores_the_readme_and_one_zip_of_everything(
    everything, settings, tmp_path, client
):
    from workers.tasks import run_job

    # given an admin's export, started through the API and run by the job task
    settings.MEDIA_ROOT = tmp_path / "media"
    admin = UserFactory(username="admin-export")
    MembershipFactory(project=everything, user=admin, role=Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        "/api/exports/",
        {"project": everything.pk, "format": "dpo", "test_fraction": 0.5},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    # when
    run_job(job.pk)
    # then
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    files = job.result["files"]
    archive_name = f"dpo-export-{job.pk}.zip"
    assert {README_NAME, "manifest.json", archive_name} <= set(files)
    storage = job.output_file.storage
    with storage.open(files[archive_name], "rb") as handle, zipfile.ZipFile(handle) as archive:
        members = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        assert "## Columns" in archive.read(README_NAME).decode()
    assert members == {name for name in files if name != archive_name}
    assert {info["name"] for info in manifest["splits"].values()} <= members
    # and the export's page offers the zip and the README beside the single files
    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert f'href="/exports/{job.pk}/files/{archive_name}" data-testid="export-archive"' in page
    assert f'href="/exports/{job.pk}/files/{README_NAME}" data-testid="export-readme"' in page
    download = client.get(f"/exports/{job.pk}/files/{archive_name}")
    assert download.status_code == 200
    assert zipfile.is_zipfile(io.BytesIO(b"".join(download.streaming_content)))


def test_a_failed_export_does_not_say_everything_was_written(project, client, tmp_path, settings):
    from workers.tasks import run_job

    # given an export of a project with nothing to export
    settings.MEDIA_ROOT = tmp_path / "media"
    admin = UserFactory(username="admin-empty")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        "/api/exports/", {"project": project.pk, "format": "dpo"}, content_type="application/json"
    )
    run_job(response.json()["id"])
    # when
    page = client.get(f"/exports/{response.json()['id']}/").content.decode()
    # then
    assert "the export has no rows" in page
    assert "every trace read was written" not in page
    assert 'data-testid="export-no-files"' in page
