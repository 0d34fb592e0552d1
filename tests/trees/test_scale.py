"""The tree pages read what grows with the round, not with the project (issue 30): each page
reads as many rows after the project grew by a hundred times its traces outside the round as
before. Rows are counted by PostgreSQL itself (EXPLAIN ANALYZE of every query the page made):
each table and index scan's rows, with those its filters removed, a count of what was read, not
a timing. Rows, not blocks: the blocks a scan reads depend on the dead rows and pages earlier
tests left in the same database (xdist runs many tests in one), the live rows it reads do not."""

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

# The tables here hold hundreds of rows, which the planner would rather hash whole than look up
# row by row; in production they hold millions, so joins look up.
BIG_DATABASE_PLANS = "SET enable_hashjoin = off; SET enable_mergejoin = off"
RESET_PLANS = "RESET enable_hashjoin; RESET enable_mergejoin"
# A plan the grown tables get may read a row or two more (the old pages read hundreds more).
PLAN_CHANGES = 10


def plan_rows_read(node: dict[str, Any]) -> int:
    """Rows the scans of a plan (node and its children) read: those they returned and those
    their filters removed, times the scan's loops."""
    read = 0
    if "Relation Name" in node or "Index Name" in node:
        kept = node.get("Actual Rows", 0)
        removed = node.get("Rows Removed by Filter", 0) + node.get(
            "Rows Removed by Index Recheck", 0
        )
        read = round((kept + removed) * node.get("Actual Loops", 1))
    return read + sum(plan_rows_read(child) for child in node.get("Plans", []))


def rows_read(sql: str) -> int:
    """Rows of tables and indexes that executing `sql` reads, by the plan of a big database:
    one that joins by looking rows up, not by hashing or sorting whole tables."""
    with connection.cursor() as cursor:
        cursor.execute(BIG_DATABASE_PLANS)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute(RESET_PLANS)
    return plan_rows_read(plan)


def page_rows(client: Any, url: str) -> int:
    """Rows the page's queries read, counted by running each again under EXPLAIN."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner knows the tables' sizes, as in production
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    return sum(rows_read(sql) for sql in selects)


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
    before = page_rows(client, url)
    # when a hundred times as many traces are imported
    grow_outside_the_round(problem.project, problems=400, traces_each=10)
    # then
    after = page_rows(client, url)
    assert after <= before + PLAN_CHANGES, (before, after)
