"""The tree pages read what grows with the round, not with the project (issue 30): each page
reads as many database blocks after the project grew by a hundred times its traces outside the
round as before. Blocks are counted by PostgreSQL itself (EXPLAIN (ANALYZE, BUFFERS) of every
query the page made), a count of what was read, not a timing."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from algorithms.long_thought import correct_paths, derive_long_thought
from annotation.core.models import Role
from annotation.problems.models import Origin, Problem, Trace
from annotation.trees.services import DerivedThought, long_thoughts_write, tree_round_record
from tests.factories import MembershipFactory, UserFactory
from tests.trees.conftest import hand_tree

pytestmark = pytest.mark.django_db

# A B-tree one level deeper reads one block more per descent; a page makes a few descents.
DEEPER_INDEXES = 12


def blocks_read(sql: str) -> int:
    """Blocks (shared buffers hit or read) that executing `sql` touches."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


def page_blocks(client: Any, url: str) -> int:
    """Blocks the page's queries read, counted by running each again under EXPLAIN."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner knows the tables' sizes, as in production
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    return sum(blocks_read(sql) for sql in selects)


def grow_outside_the_round(project: Any, problems: int, traces_each: int) -> None:
    """Imported problems and traces (no step, no tree): what a big import adds."""
    start = Problem.objects.count()
    made = Problem.objects.bulk_create(
        Problem(
            project=project,
            external_id=f"imported-{i}",
            text=f"Imported problem {i}.",
            subject="Algebra",
            level=i % 5,
        )
        for i in range(start, start + problems)
    )
    Trace.objects.bulk_create(
        Trace(problem=p, origin=Origin.IMPORTED, external_id=f"{p.pk}:{i}")
        for p in made
        for i in range(traces_each)
    )


@pytest.fixture
def round_pages(problem, client):
    """A round of one tree, its long thoughts (a shortcut and a draft), the researcher logged
    in; the URLs of the round's pages and the project's tree pages."""
    tree = hand_tree(problem)
    project = problem.project
    job = tree_round_record(project=project, user=None, trees=[(problem.pk, tree)], label="r")
    thought = derive_long_thought(tree, correct_paths(tree)[0], k=2, seed=0)
    lt_job = tree_round_record(project=project, user=None, trees=[], label="lt")
    long_thoughts_write(
        job=lt_job, thoughts=[DerivedThought(problem.pk, job.pk, tree, thought, 0, 2)]
    )
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    client.force_login(user)
    grow_outside_the_round(project, problems=20, traces_each=2)
    return {
        "round": f"/trees/rounds/{job.pk}/",
        "job": f"/trees/jobs/{job.pk}/",
        "outputs": f"/projects/{project.pk}/trees/outputs/",
        "stats": f"/projects/{project.pk}/trees/stats/",
        "home": f"/projects/{project.pk}/trees/",
    }


@pytest.mark.parametrize("page", ["round", "job", "outputs", "stats", "home"])
def test_a_tree_page_reads_no_more_when_the_project_grows_outside_the_round(
    round_pages, problem, client, page
):
    # given
    url = round_pages[page]
    client.get(url)  # session and user rows warm up
    before = page_blocks(client, url)
    # when a hundred times as many traces are imported
    grow_outside_the_round(problem.project, problems=400, traces_each=10)
    # then
    after = page_blocks(client, url)
    assert after <= before + DEEPER_INDEXES, (before, after)
