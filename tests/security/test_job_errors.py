"""What a failed job tells its users: a database error is summarised, never its SQL or values."""

import io
import json

import pytest
from django.db import DatabaseError, connection

from annotation.core.models import Role
from annotation.datasets.services import start_import
from annotation.jobs.models import JobStatus
from tests.factories import MembershipFactory
from workers.tasks import error_summary, run_job

LONG_SUBJECT = "secret-subject-" + "x" * 200  # the column holds 100 characters


@pytest.mark.django_db
def test_a_database_error_shows_a_summary_and_logs_the_details(project, caplog) -> None:
    # given an import whose record the database refuses (a subject longer than its column)
    record = {"problem": "What is 1+1?", "solution": "\\boxed{2}", "subject": LONG_SUBJECT}
    job = start_import(
        project=project,
        user=MembershipFactory(project=project, role=Role.ADMIN).user,
        format_name="math",
        upload=io.BytesIO(json.dumps(record).encode() + b"\n"),
        name="long.jsonl",
    )

    # when the job runs
    run_job.run(job.pk)

    # then its users see what kind of error stopped it, and the log has the database's words
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "a database error stopped the job (DataError); see the worker's log"
    assert "value too long for type character varying(100)" in caplog.text


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
