"""The grading queue at size: a claim and the queue page read the kept queue entries through
their indexes (no grade row, no per-trace disagreement computed at the claim), in the same
order as before: items others started first, then the traces machines disagree on most, then
by id."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.core.models import Role
from annotation.grading import services as grading
from annotation.grading.models import GradeSource, SourceKind
from annotation.workspace import selectors
from annotation.workspace.models import ItemKind, QueuedTrace
from annotation.workspace.queue_entries import computed_entries, kept_entries
from annotation.workspace.services.claims import assignment_claim_next
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from tests.grading.test_tallies import rounded
from tests.workspace.test_queue import claimed_traces

GRADE_TABLE = re.compile(r"\bgrading_grade\b")  # the grade table, not its sources or tallies


def scored(project):
    """Four imported traces: contested, unsure, calm (scored by two machine sources) and one
    no machine scored; returned in the queue's order."""
    problem = ProblemFactory(project=project)
    traces = {
        name: trace_with_steps(problem, [f"{name} a", f"{name} b"])
        for name in ("calm", "unscored", "contested", "unsure")
    }
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    judge = GradeSource.objects.create(kind=SourceKind.JUDGE, name="judge")
    values = {"calm": ([0.95, 0.9], [1.0, 0.95]), "contested": ([0.9, 0.1], [1.0, 0.9])}
    values["unsure"] = ([0.6, 0.7], None)
    for name, (first, second) in values.items():
        nodes = list(traces[name].steps.order_by("position").values_list("node_id", flat=True))
        for source, scores in ((prm, first), (judge, second)):
            if scores is not None:
                grading.run_scores_write(
                    source=source,
                    scores=[
                        grading.Score(n, traces[name].pk, s)
                        for n, s in zip(nodes, scores, strict=True)
                    ],
                )
    return [traces[n] for n in ("contested", "unsure", "calm", "unscored")]


def member(project, role=Role.ANNOTATOR):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role)
    return user


def test_the_kept_entries_equal_the_direct_computation(project):
    # given machine scores, a claim, a sent model output and a re-scored step
    traces = scored(project)
    assignment_claim_next(project=project, user=member(project), kind=ItemKind.GRADE)
    sample = trace_with_steps(
        ProblemFactory(project=project), ["s"], origin="model_sample", is_correct=True
    )
    QueuedTrace.objects.create(trace=sample)
    node = traces[0].steps.get(position=1).node_id
    later = GradeSource.objects.create(kind=SourceKind.MONTE_CARLO, name="later")
    grading.run_scores_write(source=later, scores=[grading.Score(node, traces[0].pk, 0.85)])
    # then
    assert rounded(kept_entries(project)) == rounded(computed_entries(project))
    assert kept_entries(project)[sample.pk].queued is True


def test_a_claim_follows_started_items_then_disagreement_and_reads_no_grade(project):
    # given an item another annotator started (the project wants two per item)
    project.overlap = 2
    project.save(update_fields=["overlap"])
    contested, unsure, calm, unscored = scored(project)
    other, annotator = member(project), member(project)
    started = assignment_claim_next(project=project, user=other, kind=ItemKind.GRADE)
    assert started.trace_id == contested.pk
    # when the annotator claims and submits one item after another
    with CaptureQueriesContext(connection) as queries:
        order = claimed_traces(project, annotator)
    # then: the started item first, then by disagreement, the unscored trace last
    assert order == [contested.pk, unsure.pk, calm.pk, unscored.pk]
    assert [q["sql"] for q in queries.captured_queries if GRADE_TABLE.search(q["sql"])] == []


def test_the_queue_page_counts_open_items_up_to_a_cap(client, project, monkeypatch):
    # given four open traces and three problems
    scored(project)
    ProblemFactory(project=project)
    ProblemFactory(project=project)
    client.force_login(member(project))
    url = reverse("workspace-queue", args=[project.pk])
    assert "4 traces open to you" in client.get(url).content.decode()
    # when the page counts up to 2
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 2)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    # then it says "over" and reads no grade
    assert "Over 2 traces open to you" in page and "Over 2 problems open to you" in page
    assert [q["sql"] for q in queries.captured_queries if GRADE_TABLE.search(q["sql"])] == []
