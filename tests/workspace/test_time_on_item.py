"""Time on an item: the server adds up what the page flushes (a heartbeat, a hidden or left
page, a model continuation), so a reload loses nothing; one flush adds no more than the wall
time since the previous one and no more than the idle cap."""

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.time_on_item import IDLE_CAP_MS
from tests.factories import UserFactory
from tests.support.pg_sessions import postgres_params, wait_for_a_lock_wait
from tests.workspace.test_saves import put


def flush(client, claim, body):
    return client.post(f"/api/work/{claim.pk}/time", body, content_type="application/json")


def last_flush_ago(claim, seconds):
    """As if the previous flush (or the claim) was `seconds` ago."""
    at = timezone.now() - timedelta(seconds=seconds)
    Assignment.objects.filter(pk=claim.pk).update(claimed_at=at, time_counted_at=at)


@pytest.fixture
def claim(project, annotator, trace, client):
    client.force_login(annotator)
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


def test_flushes_add_up_across_page_loads(client, claim):
    # given a claim made ten minutes ago
    last_flush_ago(claim, 600)
    # when the page flushes 20 s, is reloaded 40 s later and flushes the 35 s it counted there
    first = flush(client, claim, {"elapsed_ms": 20_000})
    last_flush_ago(claim, 40)
    second = flush(client, claim, {"elapsed_ms": 35_000})
    # then the server holds both
    assert (first.status_code, first.json()) == (200, {"added_ms": 20_000, "time_spent_ms": 20_000})
    assert second.json() == {"added_ms": 35_000, "time_spent_ms": 55_000}
    assert Assignment.objects.get(pk=claim.pk).time_spent_ms == 55_000


def test_a_flush_adds_no_more_than_the_wall_time_since_the_previous_one(client, claim):
    # given the previous flush a minute ago
    last_flush_ago(claim, 60)
    # when the page says it counted ten minutes, then at once another minute (a second tab)
    first = flush(client, claim, {"elapsed_ms": 600_000}).json()
    second = flush(client, claim, {"elapsed_ms": 60_000}).json()
    # then the first adds the minute that passed, the second next to nothing
    assert 60_000 <= first["added_ms"] < 600_000
    assert second["added_ms"] < 60_000
    assert second["time_spent_ms"] == first["added_ms"] + second["added_ms"]


def test_one_flush_adds_at_most_the_idle_cap(client, claim):
    last_flush_ago(claim, 3600)
    answer = flush(client, claim, {"elapsed_ms": 3_600_000}).json()
    assert answer == {"added_ms": IDLE_CAP_MS, "time_spent_ms": IDLE_CAP_MS}


def test_a_total_sent_with_a_save_counts_as_a_flush(client, claim):
    # given a claim made two minutes ago (an API client sends its own total, as pages did)
    last_flush_ago(claim, 120)
    assert put(client, claim, {"version": 1, "time_spent_ms": 4200}).status_code == 200
    # a total below the stored one takes nothing away; a day's total adds what passed since
    assert put(client, claim, {"version": 2, "time_spent_ms": 1000}).status_code == 200
    assert Assignment.objects.get(pk=claim.pk).time_spent_ms == 4200
    put(client, claim, {"version": 3, "time_spent_ms": 86_400_000})
    assert Assignment.objects.get(pk=claim.pk).time_spent_ms < 60_000


@pytest.mark.parametrize("elapsed", [-1, 1.5, "10", True, None, 2**63])
def test_a_bad_flush_is_refused_naming_the_field(client, claim, elapsed):
    answer = flush(client, claim, {"elapsed_ms": elapsed})
    assert answer.status_code == 400
    assert answer.json()["field"] == "elapsed_ms"
    assert Assignment.objects.get(pk=claim.pk).time_spent_ms == 0


def test_submitted_work_counts_no_more_time(client, claim):
    Assignment.objects.filter(pk=claim.pk).update(status="submitted")
    answer = flush(client, claim, {"elapsed_ms": 1000})
    assert (answer.status_code, answer.json()["locked"]) == (409, True)


def test_only_the_annotator_flushes_their_time(client, claim):
    client.force_login(UserFactory(username="other"))
    assert flush(client, claim, {"elapsed_ms": 1000}).status_code in (403, 404)
    assert Assignment.objects.get(pk=claim.pk).time_spent_ms == 0


@pytest.mark.django_db(transaction=True)
def test_a_flush_for_work_deleted_while_it_waits_is_a_404_not_a_500(client, claim):
    """The page's last flush (pagehide) can meet its claim being deleted (a project removed, a
    test database emptied): the flush passed the access check, then waits for the claim's row
    lock while another transaction deletes the row."""
    client.raise_request_exception = False
    table = Assignment._meta.db_table
    answers: list[Any] = []
    with psycopg.connect(**postgres_params(), autocommit=False) as other:
        other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [claim.pk])

        def send():
            try:
                answers.append(flush(client, claim, {"elapsed_ms": 1_000}))
            finally:
                connection.close()

        thread = threading.Thread(target=send)
        thread.start()
        wait_for_a_lock_wait()
        other.execute(f"DELETE FROM {table} WHERE id = %s", [claim.pk])
        other.commit()
        thread.join(timeout=60)
    assert [(a.status_code, a.json()) for a in answers] == [
        (404, {"error": "This work no longer exists."})
    ]
