"""What a failed job tells its users: a database error is summarised, never its SQL or values."""

import io
import json
from dataclasses import replace

import pytest
from django.db import DatabaseError, connection, transaction

from annotation.core.models import Role
from annotation.datasets.services import import_start
from annotation.jobs.kinds import kind_of, kinds
from annotation.jobs.models import JobStatus
from tests.factories import MembershipFactory
from workers.running import error_summary
from workers.tasks import run_job


def runner_hitting_a_database_error(job: object) -> None:
    """A runner whose statement the database refuses, quoting it back with a value (in a
    savepoint, as the runners' writes are, so the test's transaction stays usable)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT secret_column FROM problems_problem WHERE text = 'private-value'")


@pytest.mark.django_db
def test_a_database_error_shows_a_summary_and_logs_the_details(project, caplog, monkeypatch):
    # given a job whose runner hits a database error (imports name the refused line
    # themselves, so the runner is swapped for one that fails in the database)
    runner = "tests.security.test_job_errors.runner_hitting_a_database_error"
    monkeypatch.setitem(kinds(), "import", replace(kind_of("import"), runner=runner))
    job = import_start(
        project=project,
        user=MembershipFactory(project=project, role=Role.ADMIN).user,
        format_name="math",
        upload=io.BytesIO(json.dumps({"problem": "1+1?", "solution": "2"}).encode() + b"\n"),
        name="one.jsonl",
    )

    # when the job runs
    run_job.run(job.pk)

    # then its users see what kind of error stopped it, and the log has the database's words
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "a database error stopped the job (ProgrammingError); see the worker's log"
    assert "secret_column" in caplog.text


@pytest.mark.django_db
def test_a_database_error_quoting_sql_is_summarised() -> None:
    # given a statement the database refuses, quoting it back with its values
    with connection.cursor() as cursor, pytest.raises(DatabaseError) as refused:
        cursor.execute("SELECT secret_column FROM problems_problem WHERE text = 'private'")
    assert "LINE 1: SELECT secret_column" in str(refused.value)

    # when a job ends with that error, then what its users see names no statement and no value
    assert error_summary(refused.value) == (
        "a database error stopped the job (ProgrammingError); see the worker's log"
    )


def test_other_errors_keep_their_message() -> None:
    assert error_summary(ValueError("line 2: field problem: expected a string")) == (
        "line 2: field problem: expected a string"
    )
    assert error_summary(KeyError()) == "KeyError"
