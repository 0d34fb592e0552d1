"""Imports are all-or-nothing on every path: the command line, POST /api/imports/ and the
Import data page (a job). A record that PostgreSQL would refuse is refused first, with its line
and field; a refusal by the database itself also names the line; nothing is written."""

import io
import json

import psycopg
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from annotation.core.models import Role
from annotation.datasets.errors import RecordError
from annotation.datasets.importer import MAX_REPORTED_ERRORS, import_dataset
from annotation.grading.models import GradeSource
from annotation.jobs.models import Job, JobStatus
from annotation.problems.models import Problem
from tests.conftest import PRM800K_DIR
from tests.factories import MembershipFactory, ProjectFactory
from tests.support.worker import WorkerProcess, purge_broker, wait_until
from workers.tasks import run_job

PRM800K_ROWS = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_text().splitlines()


def math_line(number: int, **fields: object) -> str:
    record = {
        "problem": f"What is {number} + 1?",
        "solution": f"It is $\\boxed{{{number + 1}}}$.",
        "subject": "Algebra",
        "level": 1,
        "unique_id": f"p{number}",
        **fields,
    }
    return json.dumps(record)


def prm800k_line(row: int = 0, edit=None) -> str:
    record = json.loads(PRM800K_ROWS[row])
    if edit is not None:
        edit(record)
    return json.dumps(record)


def every_table() -> dict[str, int]:
    """Rows in every table but the jobs' own (an import job is a row)."""
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m is not Job}


def admin_client(project) -> APIClient:
    client = APIClient()
    client.force_authenticate(MembershipFactory(project=project, role=Role.ADMIN).user)
    return client


def upload(client: APIClient, project, format_name: str, data: bytes) -> int:
    file = io.BytesIO(data)
    file.name = "upload.jsonl"
    response = client.post(
        "/api/imports/",
        {"project": project.pk, "format": format_name, "file": file},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


# An import job through a real worker ---------------------------------------------------------


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    return shared_worker


REFUSED_BY_POSTGRESQL = [
    pytest.param(
        {"level": 40000},
        "line 2501: field level: expected an integer from -32768 to 32767, got 40000",
        id="level over smallint",
    ),
    pytest.param(
        {"problem": "What is \x00 + 1?"},
        "line 2501: field problem: contains a NUL character (\\u0000)",
        id="NUL character",
    ),
    pytest.param(
        {"subject": "Algebra \ud800"},
        "line 2501: field subject: contains a lone surrogate (\\ud800)",
        id="lone surrogate",
    ),
    pytest.param(
        {"unique_id": "p" * 256},
        "line 2501: field unique_id: is longer than 255 characters",
        id="id too long",
    ),
]


@pytest.mark.worker
@pytest.mark.parametrize(("bad", "message"), REFUSED_BY_POSTGRESQL)
def test_an_api_import_refused_at_its_2501st_record_changes_nothing(
    transactional_db, worker, bad, message
):
    # given: 2,500 good records (more than one chunk) and a 2,501st PostgreSQL would refuse
    purge_broker()
    project = ProjectFactory(name="atomic")
    client = admin_client(project)
    lines = [math_line(n) for n in range(2500)] + [math_line(2500, **bad)]
    before = every_table()
    # when: uploaded through the API and run by a real worker
    job = Job.objects.get(pk=upload(client, project, "math", "\n".join(lines).encode()))
    wait_until(
        lambda: Job.objects.get(pk=job.pk).is_finished,
        300,
        what="the import job",
        check=worker.check_alive,
    )
    # then: the job names the line and field, and no table changed
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, f"{message}; nothing was imported")
    assert every_table() == before


@pytest.mark.worker
def test_progress_shows_while_nothing_is_committed_and_a_cancel_rolls_back(
    transactional_db, worker
):
    # given: a file whose second chunk needs a grade source that another session is creating
    # (so the import waits there, after reporting its first chunk)
    purge_broker()
    project = ProjectFactory(name="cancelled")
    client = admin_client(project)
    first, second = json.loads(PRM800K_ROWS[0]), json.loads(PRM800K_ROWS[2])
    second["labeler"] = "held-by-another-session"
    rows = []
    for n in range(2001):
        row = first if n < 2000 else second
        row["question"]["problem"] = f"Problem {n}"
        rows.append(json.dumps(row))
    other = psycopg.connect(**connection.get_connection_params())
    other.execute(
        f"INSERT INTO {GradeSource._meta.db_table} (kind, name) VALUES ('dataset', %s)",
        ["prm800k:held-by-another-session"],
    )
    before = every_table()
    try:
        job = Job.objects.get(pk=upload(client, project, "prm800k", "\n".join(rows).encode()))
        # when: the first chunk is reported
        wait_until(
            lambda: Job.objects.get(pk=job.pk).done == 2000,
            300,
            what="the first chunk's progress",
            check=worker.check_alive,
        )
        # then: its rows are not visible to anyone else yet
        assert every_table() == before
        # when: cancelled, and the other session lets go
        client.post(f"/api/jobs/{job.pk}/cancel/")
    finally:
        other.rollback()
        other.close()
    wait_until(
        lambda: Job.objects.get(pk=job.pk).is_finished,
        300,
        what="the cancelled job",
        check=worker.check_alive,
    )
    # then: nothing of the import stays
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert every_table() == before


def test_a_refusal_by_the_database_itself_names_the_line_without_sql(project):
    # given: a rule only the database knows (validation cannot foresee it), broken at line 2,501
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {Problem._meta.db_table} "
            "ADD CONSTRAINT test_no_forbidden_problem CHECK (text <> 'forbidden')"
        )
    lines = [math_line(n) for n in range(2500)] + [math_line(2500, problem="forbidden")]
    before = every_table()
    # when
    with pytest.raises(RecordError) as caught:
        import_dataset(
            project=project, format_name="math", stream=io.BytesIO("\n".join(lines).encode())
        )
    # then
    assert str(caught.value) == (
        "line 2501: field (record): the database refused it: new row for relation "
        '"problems_problem" violates check constraint "test_no_forbidden_problem"'
    )
    assert every_table() == before


# Each validation hole: the same message on the command line and from a job ---------------------


def all_plus_one(record: dict) -> None:
    for step in record["label"]["steps"]:
        for completion in step["completions"] or []:
            completion["rating"] = 1


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOLES = [
    pytest.param(
        "math",
        [math_line(0), '{"problem": "a", "problem": "b", "solution": "\\\\boxed{1}"}'],
        "line 2: field problem: appears twice in one object",
        id="duplicate key",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1), math_line(2, unique_id="p0")],
        "line 3: field unique_id: the same as line 1; a file holds each record once",
        id="same unique_id twice",
    ),
    pytest.param(
        "processbench",
        [
            json.dumps(
                {
                    "id": "x",
                    "problem": "p",
                    "steps": ["a"],
                    "final_answer_correct": True,
                    "label": -1,
                }
            )
        ]
        * 2,
        "line 2: field id: the same as line 1; a file holds each record once",
        id="same id twice",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1)[:-1] + ', "extra": ' + nested(100_000) + "}"],
        "line 2: field (record): is nested more than 32 levels deep",
        id="recursion",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1)[:-1] + ', "extra": ' + nested(33) + "}"],
        "line 2: field (record): is nested more than 32 levels deep",
        id="deep nesting",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1).replace('"level": 1', '"level": 1' + "0" * 5000)],
        "line 2: field level: is an integer of more than 4300 digits",
        id="5001-digit integer",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1).replace('"level": 1', '"level": NaN')],
        "line 2: field level: NaN is not a JSON number",
        id="NaN",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1).replace('"level": 1', '"level": 1e999')],
        "line 2: field level: 1e999 is too large for a number",
        id="1e999",
    ),
    pytest.param(
        "processbench",
        [
            json.dumps(
                {
                    "id": "x",
                    "problem": "p",
                    "steps": ["step"] * 40_000,
                    "final_answer_correct": True,
                    "label": -1,
                }
            )
        ],
        "line 1: field steps: has 40000 steps; at most 32767",
        id="40,000-step path",
    ),
    pytest.param(
        "prm800k",
        [prm800k_line(0, lambda r: r["label"].update(total_time=-5))],
        "line 1: field label.total_time: expected an integer from 0 to 9223372036854775807, got -5",
        id="negative total_time",
    ),
    pytest.param(
        "prm800k",
        [prm800k_line(0, lambda r: r.update(timestamp="last tuesday"))],
        "line 1: field timestamp: expected an ISO 8601 timestamp, got 'last tuesday'",
        id="not a timestamp",
    ),
    pytest.param(
        "prm800k",
        [prm800k_line(1, all_plus_one)],
        "line 1: field label.finish_reason: is found_error, but no step is rated -1",
        id="found_error without a -1",
    ),
    pytest.param(
        "prm800k",
        [
            prm800k_line(
                0,
                lambda r: r["label"]["steps"][0]["completions"][0].update(text="a\x00b"),
            )
        ],
        "line 1: field label.steps[0].completions[0].text: contains a NUL character (\\u0000)",
        id="NUL deep inside",
    ),
    pytest.param(
        "math",
        [math_line(0), math_line(1).replace("What is", "What \\udc00 is")],
        "line 2: field problem: contains a lone surrogate (\\udc00)",
        id="lone surrogate",
    ),
]


@pytest.mark.parametrize(("format_name", "lines", "message"), HOLES)
def test_the_command_line_names_line_and_field_and_writes_nothing(
    project, tmp_path, format_name, lines, message
):
    # given
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = every_table()
    # when
    with pytest.raises(CommandError) as caught:
        call_command("import_dataset", str(path), project=project.name, format=format_name)
    # then
    assert str(caught.value) == f"{path}: {message}; nothing was imported"
    assert every_table() == before


@pytest.mark.parametrize(("format_name", "lines", "message"), HOLES)
def test_an_import_job_names_line_and_field_and_writes_nothing(
    project, format_name, lines, message
):
    # given: the upload (the task body runs here rather than in a worker)
    client = admin_client(project)
    before = every_table()
    job_id = upload(client, project, format_name, ("\n".join(lines) + "\n").encode())
    # when
    run_job.run(job_id)
    # then
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, f"{message}; nothing was imported")
    assert every_table() == before


# --skip-invalid --------------------------------------------------------------------------------


def test_skip_invalid_keeps_the_first_errors_and_counts_the_rest(project, tmp_path):
    # given: two good records around many more bad lines than a report keeps
    bad = MAX_REPORTED_ERRORS + 2500
    path = tmp_path / "mostly-bad.jsonl"
    path.write_text("\n".join([math_line(0), *['{"problem": 1}'] * bad, math_line(1)]) + "\n")
    report = tmp_path / "errors.jsonl"
    errors = io.StringIO()
    # when
    call_command(
        "import_dataset",
        str(path),
        project=project.name,
        format="math",
        skip_invalid=True,
        error_report=str(report),
        stderr=errors,
    )
    # then: the first errors, one line with the count of the others; both good records in
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(rows) == MAX_REPORTED_ERRORS + 1
    assert rows[0] == {"line": 2, "field": "problem", "error": "expected a string, got an integer"}
    assert rows[MAX_REPORTED_ERRORS - 1]["line"] == MAX_REPORTED_ERRORS + 1
    assert rows[-1] == {"omitted": 2500}
    assert errors.getvalue().strip() == (
        f"{bad} invalid records skipped; the first {MAX_REPORTED_ERRORS} are in {report}"
    )
    assert sorted(Problem.objects.values_list("external_id", flat=True)) == ["p0", "p1"]


def test_skip_invalid_job_reports_the_count_and_keeps_a_capped_report(project):
    # given
    bad = MAX_REPORTED_ERRORS + 10
    data = "\n".join([math_line(0), *['{"problem": 1}'] * bad]) + "\n"
    file = io.BytesIO(data.encode())
    file.name = "mostly-bad.jsonl"
    response = admin_client(project).post(
        "/api/imports/",
        {"project": project.pk, "format": "math", "file": file, "skip_invalid": True},
        format="multipart",
    )
    # when
    run_job.run(response.json()["id"])
    # then
    job = Job.objects.get()
    assert (job.status, job.result["invalid_records"]) == (JobStatus.SUCCEEDED, bad)
    with job.output_file.open("rb") as report:
        rows = [json.loads(line) for line in report.read().splitlines()]
    assert len(rows) == MAX_REPORTED_ERRORS + 1
    assert rows[-1] == {"omitted": 10}
