"""Export files, manifests, splits, and the job / command / API entry points."""

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation.core.models import Role
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.left_out import REASONS
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import EmptyExport, export_to_directory
from annotation.jobs.models import Job, JobStatus
from tests.exports.conftest import make_problem, make_trace
from tests.factories import MembershipFactory, UserFactory
from workers.tasks import run_job


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize("format_name", sorted(EXPORT_FORMATS))
def test_load_dataset_reads_every_jsonl_and_parquet_export(everything, tmp_path, format_name):
    import datasets

    # given
    jsonl = export_to_directory(
        project=everything,
        options=ExportOptions(format=format_name),
        directory=tmp_path / "jsonl",
    )
    parquet = export_to_directory(
        project=everything,
        options=ExportOptions(format=format_name, file_format="parquet"),
        directory=tmp_path / "parquet",
    )
    # (a paired format's train file is its second format's)
    jsonl_file = tmp_path / "jsonl" / jsonl["splits"]["train"]["name"]
    expected = read_jsonl(jsonl_file)
    # when
    cache = str(tmp_path / "hf-cache")
    from_jsonl = datasets.load_dataset("json", data_files=str(jsonl_file), cache_dir=cache)["train"]
    from_parquet = datasets.load_dataset(
        "parquet",
        data_files=str(tmp_path / "parquet" / parquet["splits"]["train"]["name"]),
        cache_dir=cache,
    )["train"]
    # then
    assert len(expected) > 0
    assert jsonl["splits"]["train"]["rows"] == parquet["splits"]["train"]["rows"] == len(expected)
    assert from_jsonl.num_rows == from_parquet.num_rows == len(expected)
    if format_name != "prm800k":  # Arrow fills absent nested keys with nulls
        assert from_jsonl.to_list() == expected
        assert from_parquet.to_list() == expected
    else:
        assert [r["question"]["problem"] for r in from_parquet] == [
            r["question"]["problem"] for r in expected
        ]


def test_manifest_records_counts_hashes_and_every_option(sums, tmp_path):
    options = ExportOptions(format="trl-stepwise", file_format="jsonl.gz", zero_is="bad")
    manifest = export_to_directory(project=sums["project"], options=options, directory=tmp_path)
    train = tmp_path / "trl-stepwise-train.jsonl.gz"
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert len(manifest["code_version"]) == 40
    assert manifest["splits"] == {
        "train": {
            "name": "trl-stepwise-train.jsonl.gz",
            "rows": 3,
            "sha256": hashlib.sha256(train.read_bytes()).hexdigest(),
            "bytes": train.stat().st_size,
            "problems": 1,
        }
    }
    assert manifest["counts"] == {
        "rows": 3,
        "traces_read": 4,
        "problems_read": 1,
        "traces_skipped": 1,
        "duplicates_removed": 0,
        "held_out_rows": 0,
    }
    assert manifest["options"] == {
        "format": "trl-stepwise",
        "file_format": "jsonl.gz",
        "zero_is": "bad",
        "grades": "trace",
        "annotator": None,
        "run": None,
        "score_threshold": 0.5,
        "min_agreement": 0.0,
        "origins": None,
        "after_error": "drop",
        "test_fraction": 0.0,
        "seed": 0,
        "held_out": 0,
        "held_out_sha256": hashlib.sha256(b"").hexdigest(),
        "dedupe": False,
        "pairs_per_problem": 5,
        "jobs": [],
        "tree_round": None,
        "kinds": [],
        "include_unfaithful": False,
        "include_no_trial": False,
        "include_unverified": False,
        "one_per_problem": False,
        "exclude_unanswered": False,
        "soft_labels": False,
        "review": "not_rejected",
        "keep_unlabeled": False,
        "chosen_path_only": False,
        "keep_gold_items": False,
        "keep_failed_screening": False,
        "extra": {},
    }
    # a 0 counted bad is no error: the row goes on after it (the first error is a -1)
    assert [r["labels"] for r in read_jsonl(train)] == [[True, True], [False], [False, True]]
    # the left-out trace (the long thought nobody graded) and the cut row, with why
    ids = {name: sums[name].pk for name in ("wrong", "journey")}
    assert manifest["left_out"] == {
        "not_fully_graded": {
            "count": 1,
            "why": REASONS["not_fully_graded"],
            "examples": [f"trace {ids['journey']}"],
        },
        "after_error": {
            "count": 1,
            "why": REASONS["after_error"],
            "examples": [f"trace {ids['wrong']}"],
        },
    }


def test_held_out_problems_never_appear_in_train(db, tmp_path):
    # given: 40 problems; 8 held out by id and 2 by text (as a MATH-500 line gives both)
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="guard")
    for i in range(40):
        problem = make_problem(project, f"test/guard/{i}.json", f"Guard problem {i}?", "1")
        make_trace(problem, [f"Step of {i}.", "So \\boxed{1}."], is_correct=True, final_answer="1")
    held = (
        *tuple(f"test/guard/{i}.json" for i in range(8)),
        "Guard problem 30?",
        "Guard problem 31?",
    )
    held_texts = {f"Guard problem {i}?" for i in [*range(8), 30, 31]}
    for seed in range(5):
        for fraction in (0.0, 0.25, 0.5):
            directory = tmp_path / f"{seed}-{fraction}"
            # when
            manifest = export_to_directory(
                project=project,
                options=ExportOptions(
                    format="sft-shortcut", test_fraction=fraction, seed=seed, held_out=held
                ),
                directory=directory,
            )
            # then
            train = {
                r["messages"][0]["content"]
                for r in read_jsonl(directory / "sft-shortcut-train.jsonl")
            }
            test = {
                r["messages"][0]["content"]
                for r in read_jsonl(directory / "sft-shortcut-test.jsonl")
            }
            assert not train & held_texts
            assert held_texts <= test
            assert not train & test
            assert len(train | test) == 40
            assert manifest["counts"]["held_out_rows"] == 10
    # the same seed puts a problem on the same side whatever the format
    a = export_to_directory(
        project=project,
        options=ExportOptions(format="sft-shortcut", test_fraction=0.5, seed=3),
        directory=tmp_path / "a",
    )
    assert a["splits"]["test"]["problems"] > 0
    # no grades: nothing to label, and an export with no rows fails saying why
    with pytest.raises(EmptyExport, match=r"40 traces read .* needs a usable grade"):
        export_to_directory(
            project=project,
            options=ExportOptions(format="trl-stepwise", test_fraction=0.5, seed=3),
            directory=tmp_path / "b",
        )


def test_export_job_keeps_files_in_storage_with_a_manifest(sums, media, client):
    # given
    admin = UserFactory(username="admin-export")
    MembershipFactory(project=sums["project"], user=admin, role=Role.ADMIN)
    client.force_login(admin)
    # when: started through the API, run by the job task
    response = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "dpo", "test_fraction": 0.0},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    run_job(job_id)
    # then
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["files"] == {
        "dpo-train.jsonl": f"exports/{job_id}/dpo-train.jsonl",
        "README.md": f"exports/{job_id}/README.md",
        "manifest.json": f"exports/{job_id}/manifest.json",
        f"dpo-export-{job_id}.zip": f"exports/{job_id}/dpo-export-{job_id}.zip",
    }
    assert job.output_file.name == f"exports/{job_id}/dpo-train.jsonl"
    # two distinct correct samples but one incorrect: one pair, the recipe's one-to-one
    assert job.result["manifest"]["splits"]["train"]["rows"] == 1
    assert job.result["manifest"]["pairs"] == {"k": 5, "problems_with_fewer": 1}
    assert job.done == 3 and job.total == 3  # the model samples read
    download = client.get(f"/exports/{job_id}/files/dpo-train.jsonl")
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == job.result["manifest"]["splits"]["train"]["sha256"]
    assert client.get(f"/exports/{job_id}/files/other.jsonl").status_code == 404
    page = client.get(f"/projects/{sums['project'].pk}/export/")
    assert b"dpo-train.jsonl" in page.content


def test_a_paired_export_job_keeps_the_files_of_both_formats_and_its_page_links_them(
    sums, media, client
):
    # given
    admin = UserFactory(username="admin-paired")
    MembershipFactory(project=sums["project"], user=admin, role=Role.ADMIN)
    client.force_login(admin)
    # when
    response = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "sft-paired"},
        content_type="application/json",
    )
    job_id = response.json()["id"]
    run_job(job_id)
    # then: the journey and the shortcut files, each downloadable and linked on the page
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert sorted(job.result["files"]) == [
        "README.md",
        "manifest.json",
        "sft-journey-train.jsonl",
        f"sft-paired-export-{job_id}.zip",
        "sft-shortcut-train.jsonl",
    ]
    shortcut = job.result["manifest"]["paired"]["splits"]["train"]
    body = b"".join(
        client.get(f"/exports/{job_id}/files/sft-shortcut-train.jsonl").streaming_content
    )
    assert hashlib.sha256(body).hexdigest() == shortcut["sha256"]
    page = client.get(f"/exports/{job_id}/")
    assert [(row["name"], row["split"], row["stored"]) for row in page.context["splits"]] == [
        ("sft-journey-train.jsonl", "train", True),
        ("sft-shortcut-train.jsonl", "train", True),
    ]
    assert b'href="/exports/%d/files/sft-shortcut-train.jsonl"' % job_id in page.content


def test_api_and_page_reject_bad_options_with_the_option_named(sums, client):
    admin = UserFactory(username="admin-bad")
    MembershipFactory(project=sums["project"], user=admin, role=Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "trl-stepwise", "grades": "run"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"run": ["give the id of the job whose grades to export"]}
    page = client.post(
        f"/projects/{sums['project'].pk}/export/",
        {
            "format": "trl-stepwise",
            "file_format": "jsonl",
            "zero_is": "good",
            "grades": "annotator",
            "score_threshold": 0.5,
            "min_agreement": 0,
            "test_fraction": 0,
            "seed": 0,
            "pairs_per_problem": 5,
        },
    )
    assert page.status_code == 200
    assert b"give the username whose grades to export" in page.content
    assert not Job.objects.exists()


def test_annotators_may_not_export(sums, client):
    annotator = UserFactory(username="annotator-export")
    MembershipFactory(project=sums["project"], user=annotator, role=Role.ANNOTATOR)
    client.force_login(annotator)
    response = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "dpo"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert client.get(f"/projects/{sums['project'].pk}/export/").status_code == 403


def test_command_writes_splits_and_manifest(sums, tmp_path, capsys):
    held = tmp_path / "math500.jsonl"
    held.write_text(json.dumps({"unique_id": "x", "problem": "What is 2 + 3?"}) + "\n")
    call_command(
        "export_dataset",
        str(tmp_path / "out"),
        "--project",
        "sums",
        "--format",
        "trl-stepwise",
        "--file-format",
        "parquet",
        "--held-out-file",
        str(held),
        "--zero-is",
        "bad",
    )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    # every problem is held out: the train split is omitted, saying why, never an empty file
    assert {k: v["rows"] for k, v in manifest["splits"].items()} == {"test": 3}
    assert manifest["omitted_splits"]["train"].startswith("no row fell in the train split")
    assert not (tmp_path / "out" / "trl-stepwise-train.parquet").exists()
    assert manifest["options"]["zero_is"] == "bad"
    assert manifest["options"]["held_out"] == 2
    assert "test: 3 rows in" in capsys.readouterr().out


def test_an_export_job_with_no_rows_fails_with_the_reason(sums, media, client):
    # given a project with samples but no long thought or expansion
    admin = UserFactory(username="admin-empty")
    MembershipFactory(project=sums["project"], user=admin, role=Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "sft-journey", "kinds": ["rewrite"]},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    # when
    run_job(response.json()["id"])
    # then
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.FAILED
    assert job.error == (
        "the export has no rows: no trace matches origins long_thought, expansion; kinds rewrite"
    )
    assert not job.output_file


def test_the_scope_names_jobs_and_kinds_of_the_project_only(sums, client):
    # given a job of another project
    from annotation.trees.services import tree_round_record
    from tests.factories import ProjectFactory

    foreign = tree_round_record(project=ProjectFactory(), user=None, trees=[], label="x")
    admin = UserFactory(username="admin-scope")
    MembershipFactory(project=sums["project"], user=admin, role=Role.ADMIN)
    client.force_login(admin)
    # when
    by_api = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "sft-journey", "jobs": [foreign.pk]},
        content_type="application/json",
    )
    bad_kind = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "sft-journey", "kinds": ["dream"]},
        content_type="application/json",
    )
    page = client.post(
        f"/projects/{sums['project'].pk}/export/",
        {
            "format": "sft-journey",
            "file_format": "jsonl",
            "zero_is": "good",
            "grades": "trace",
            "score_threshold": 0.5,
            "min_agreement": 0,
            "test_fraction": 0,
            "seed": 0,
            "pairs_per_problem": 5,
            "jobs": "12, x",
        },
    )
    # then
    assert by_api.status_code == 400
    assert list(by_api.json()) == ["jobs"]
    assert bad_kind.status_code == 400
    assert list(bad_kind.json()) == ["kinds"]
    assert page.status_code == 200
    assert b"&#x27;x&#x27; is not a job id" in page.content
    assert not Job.objects.filter(kind="export").exists()


def test_an_export_job_with_every_problem_held_out_keeps_its_test_file_and_trains_nothing(
    sums, media, client
):
    # given every problem of the project held out
    from django.core.exceptions import ValidationError

    from annotation.training.services import check_export

    admin = UserFactory(username="admin-held")
    MembershipFactory(project=sums["project"], user=admin, role=Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        "/api/exports/",
        {"project": sums["project"].pk, "format": "trl-stepwise", "held_out": ["test/sums/1"]},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    # when
    run_job(response.json()["id"])
    # then: the test split is the job's file; the omitted train split is said, not written
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.output_file.name.endswith("trl-stepwise-test.jsonl")
    assert set(job.result["manifest"]["splits"]) == {"test"}
    assert "train" in job.result["manifest"]["omitted_splits"]
    with pytest.raises(ValidationError, match="has no training rows"):
        check_export(job, sums["project"])
