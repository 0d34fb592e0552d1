from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next, assignment_skip
from tests.factories import ProblemFactory, trace_with_steps


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_queue_page_queries_do_not_grow_with_work(client, project, annotator):
    client.force_login(annotator)
    url = f"/projects/{project.pk}/work/"

    def add_work(n):
        for i in range(n):
            problem = ProblemFactory(project=project)
            trace_with_steps(problem, [f"s{problem.pk}-{i}"])
            claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
            assignment_skip(assignment=claim, reason="test")
        assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)

    add_work(2)
    small = count_queries(client, url)
    add_work(15)
    large = count_queries(client, url)

    assert small == large
    assert large <= 10


def test_grading_page_queries_do_not_grow_with_steps(client, project, annotator):
    client.force_login(annotator)

    def page_for(n_steps):
        problem = ProblemFactory(project=project)
        trace_with_steps(problem, [f"step {i} of {problem.pk}" for i in range(n_steps)])
        claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
        url = f"/work/{claim.pk}/"
        queries = count_queries(client, url)
        assignment_skip(assignment=claim, reason="measured")
        return queries

    assert page_for(3) == page_for(40)
    assert page_for(5) <= 9  # one of them waits for a save in flight (views.assignment_page)


def test_review_page_queries_do_not_grow_with_steps(client, project, annotator):
    client.force_login(annotator)
    project.overlap = 2
    project.save()
    annotator.is_superuser = True
    annotator.save()

    def page_for(n_steps):
        problem = ProblemFactory(project=project)
        trace = trace_with_steps(problem, [f"r{i} of {problem.pk}" for i in range(n_steps)])
        return count_queries(client, f"/review/traces/{trace.pk}/")

    assert page_for(3) == page_for(30)
