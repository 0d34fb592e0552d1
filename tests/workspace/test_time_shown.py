"""The time spent on an item reads the same on every work page (queue, dashboard, review):
one filter, `time_on_item`, a builtin of the templates."""

import pytest
from django.template import engines
from hypothesis import given
from hypothesis import strategies as st

from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import ProblemFactory, trace_with_steps


def shown(ms):
    return engines["django"].from_string("{{ ms|time_on_item }}").render({"ms": ms})


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (0, "—"),
        (400, "0 s"),
        (4_200, "4 s"),
        (59_400, "59 s"),
        (61_000, "1 min"),
        (150_000, "2 min"),
        (3_600_000, "60 min"),
    ],
)
def test_a_time_reads_in_seconds_under_a_minute_then_in_minutes(ms, text):
    assert shown(ms) == text


@given(st.integers(min_value=1, max_value=10**9))
def test_every_time_has_one_unit(ms):
    number, unit = shown(ms).split(" ")
    assert (unit == "s") == (ms < 60_000)
    assert int(number) >= 0


@pytest.mark.django_db
def test_the_queue_shows_the_time_spent_on_a_claimed_item(client, project, annotator):
    # given: a claim with 61 s spent on it
    trace_with_steps(ProblemFactory(project=project), ["a step"])
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    claim.time_spent_ms = 61_000
    claim.save(update_fields=["time_spent_ms"])
    # when
    client.force_login(annotator)
    page = client.get(f"/projects/{project.pk}/work/").content.decode()
    # then
    assert '<td class="numeric nowrap">1 min</td>' in page
