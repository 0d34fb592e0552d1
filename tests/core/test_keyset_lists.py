"""The long API lists (grades, traces) page by keyset: a page reads an index range, never a
count of the whole list, so its cost does not grow with the project."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.grading.models import Grade, GradeSource, SourceKind
from tests.factories import ProblemFactory, researcher, trace_with_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def graded(project):
    problem = ProblemFactory(project=project)
    traces = [trace_with_steps(problem, [f"t{t} s{s}" for s in range(3)]) for t in range(3)]
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    for trace in traces:
        for step in trace.steps.all():
            Grade.objects.create(node_id=step.node_id, source=prm, trace=trace, score=0.5)
    return traces


def walk(client, url):
    """Every page of a list, following `next`; the ids in order and the statements run."""
    ids, statements = [], []
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).json()
        statements += [q["sql"] for q in queries.captured_queries]
        assert "count" not in body
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
    return ids, statements


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/grades/?project={project}&page_size=4", lambda: Grade.objects.all()),
        ("/api/traces/?project={project}&page_size=2", None),
    ],
)
def test_lists_page_by_keyset_without_counting(client, project, graded, url, expected):
    # given
    client.force_login(researcher(project))
    # when
    ids, statements = walk(client, url.format(project=project.pk))
    # then every row once, in id order, and no statement counts the list
    want = (
        sorted(Grade.objects.values_list("pk", flat=True)) if expected else [t.pk for t in graded]
    )
    assert ids == want
    assert not [sql for sql in statements if "COUNT(" in sql.upper()]


def test_a_bad_cursor_is_a_400_naming_the_field(client, project, graded):
    client.force_login(researcher(project))
    response = client.get(f"/api/grades/?project={project.pk}&cursor=nonsense")
    assert (response.status_code, response.json()) == (
        400,
        {"cursor": ["not a cursor of this list: follow a page's next or previous link"]},
    )
