"""Best-of-N report, disagreement order, suggestion agreement, and the pages over HTTP."""

import math
from datetime import timedelta

import pytest
from django.db.models import Value
from django.urls import reverse
from django.utils import timezone

from annotation.core.models import Role
from annotation.evaluation.analyses import analysis_start
from annotation.evaluation.models import SuggestionSetting
from annotation.evaluation.selectors import (
    best_of_n,
    disagreement_order,
    machine_disagreement,
    queue_order,
    sample_sizes,
    suggestion_agreement,
)
from annotation.evaluation.services import machine_suggestions_set
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.problems.models import Trace
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from workers.tasks import run_job

pytestmark = pytest.mark.django_db

# Per problem: (answer, correct, PRM step scores) of four samples, in the order written.
SAMPLES = [
    [
        ("7", False, [0.9, 0.9]),
        ("5", True, [0.8, 0.95]),
        ("7", False, [0.9, 0.2]),
        ("7", False, [0.6, 0.6]),
    ],
    [
        ("3", True, [0.4, 0.9]),
        ("4", False, [0.7, 0.7]),
        ("3", True, [0.9, 0.8]),
        ("3", True, [0.3, 0.3]),
    ],
]


def make_samples(project) -> GradeSource:
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm <b>run</b>")
    for p, samples in enumerate(SAMPLES):
        problem = ProblemFactory(project=project)
        for s, (answer, correct, scores) in enumerate(samples):
            trace = trace_with_steps(
                problem,
                [f"p{p} s{s} step {i}" for i in range(len(scores))],
                origin="model_sample",
                final_answer=answer,
                is_correct=correct,
            )
            for step, score in zip(trace.steps.order_by("position"), scores, strict=True):
                Grade.objects.create(node_id=step.node_id, source=prm, trace=trace, score=score)
    return prm


def test_best_of_n_by_scorer_majority_vote_and_oracle(project):
    make_samples(project)
    report = best_of_n(project)
    assert sample_sizes(4) == [1, 2, 4]
    assert (report.problems, report.ns) == (2, [1, 2, 4])
    series = report.series
    # min: problem 1 always picks s0 (0.9, wrong); problem 2 s0 (0.4), s1 (0.7), s2 (0.8)
    assert series["prm <b>run</b> (min)"] == [0.5, 0.0, 0.5]
    # last: problem 1 s0, s1 (0.95), s1; problem 2 s0 (0.9), s0, s0
    assert series["prm <b>run</b> (last)"] == [0.5, 1.0, 1.0]
    # prod: problem 1 .81, .76, .81 -> s0, s0, s0; problem 2 .36, .49, .72 -> s0, s1, s2
    assert series["prm <b>run</b> (prod)"] == [0.5, 0.0, 0.5]
    # majority: problem 1 "7" wins (first seen at a tie); problem 2 "3"
    assert series["majority vote"] == [0.5, 0.5, 0.5]
    assert series["oracle"] == [0.5, 1.0, 1.0]


def test_best_of_n_counts_unanswered_samples_as_wrong_and_votes_by_equivalence(project):
    # given two problems (truth 1/2 and 3) whose samples (answer, correct, tokens, PRM scores)
    # include unanswered ones and equivalent answers written differently
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    samples = [
        ("1/2", [("0.25", False, 10, 0.2), (None, None, 40, 0.9), ("0.5", True, 20, 0.3),
                 ("2/4", True, 30, 0.4), ("0.25", False, 10, 0.5), ("1/2", True, 10, 0.6)]),
        ("3", [(None, None, 50, 0.95), ("4", False, 10, 0.1), ("3", True, 10, 0.2),
               ("4", False, 10, 0.3)]),
    ]  # fmt: skip
    for p, (truth, rows) in enumerate(samples):
        problem = ProblemFactory(project=project, answer=truth)
        for s, (answer, correct, tokens, score) in enumerate(rows):
            trace = trace_with_steps(
                problem,
                [f"p{p} s{s}"],
                origin="model_sample",
                final_answer=answer,
                is_correct=correct,
                metadata={"tokens": tokens},
            )
            step = trace.steps.get()
            Grade.objects.create(node_id=step.node_id, source=prm, trace=trace, score=score)
    # a problem without a ground truth is not in the report
    no_truth = ProblemFactory(project=project, answer=None)
    trace_with_steps(no_truth, ["x"], origin="model_sample", final_answer="1")

    # when
    report = best_of_n(project)

    # then, against a direct computation: equal answers by value, unanswered never right
    value = {"1/2": 0.5, "0.5": 0.5, "2/4": 0.5, "0.25": 0.25, "3": 3, "4": 4}

    def vote(rows, n, weight):
        totals = {}
        for answer, correct, _, score in rows[:n]:
            if answer is not None:
                key = value[answer]
                totals.setdefault(key, [0.0, correct])[0] += weight(score)
        if not totals:
            return False
        return max(totals.values(), key=lambda t: t[0])[1]  # first seen wins a tie

    def accuracy(pick, n):
        return sum(bool(pick(rows, n)) for _, rows in samples) / len(samples)

    def best(rows, n):
        return max(rows[:n], key=lambda r: r[3])[1]

    ns = [1, 2, 4, 6]
    assert (report.problems, report.ns) == (2, ns)
    majority = [accuracy(lambda r, n: vote(r, n, lambda _: 1.0), n) for n in ns]
    weighted = [accuracy(lambda r, n: vote(r, n, lambda score: score), n) for n in ns]
    assert report.series["majority vote"] == majority == [0.0, 0.0, 0.5, 0.5]
    assert report.series["prm (weighted vote)"] == weighted == [0.0, 0.0, 0.5, 0.5]
    # an unanswered sample the PRM likes best is picked, and is wrong
    assert report.series["prm (min)"] == [accuracy(best, n) for n in ns] == [0.0, 0.0, 0.0, 0.0]
    oracle = [accuracy(lambda r, n: any(c for _, c, _, _ in r[:n]), n) for n in ns]
    assert report.series["oracle"] == oracle == [0.0, 0.0, 1.0, 1.0]
    tokens = [sum(sum(r[2] for r in rows[:n]) for _, rows in samples) / 2 for n in ns]
    assert report.tokens == tokens == [30.0, 55.0, 90.0, 100.0]
    # the old curves read differently: strings compared ("0.25" wins with 2 votes at N=6) ...
    value.update({answer: answer for answer in value})
    assert accuracy(lambda r, n: vote(r, n, lambda _: 1.0), 6) == 0.0
    # ... and unanswered samples dropped, which inflates even the oracle (1.0 at N=2, not 0.0)
    answered = [[r for r in rows if r[0] is not None] for _, rows in samples]
    assert sum(any(c for _, c, _, _ in rows[:2]) for rows in answered) / 2 == 1.0


def test_disagreement_order_puts_contested_and_uncertain_traces_first(project):
    problem = ProblemFactory(project=project)
    confident = trace_with_steps(problem, ["a", "b"])
    split = trace_with_steps(problem, ["c", "d"])
    unsure = trace_with_steps(problem, ["e"])
    unscored = trace_with_steps(problem, ["unscored"])
    first = GradeSource.objects.create(kind=SourceKind.PRM, name="first")
    second = GradeSource.objects.create(kind=SourceKind.MONTE_CARLO, name="second")
    scores = {
        confident: [(first, [0.95, 0.9]), (second, [1.0, 1.0])],
        split: [(first, [0.9, 0.1]), (second, [1.0, 0.9])],
        unsure: [(first, [0.6])],
    }
    for trace, by_source in scores.items():
        steps = list(trace.steps.order_by("position"))
        for source, values in by_source:
            for step, value in zip(steps, values, strict=True):
                Grade.objects.create(node_id=step.node_id, source=source, trace=trace, score=value)
    ordered = list(disagreement_order(project))
    assert [t.pk for t in ordered] == [split.pk, unsure.pk, confident.pk]
    # split: step d spread 0.8, mean 0.5 -> uncertainty 1; unsure: 1 - |1.2 - 1| = 0.8;
    # confident: step b spread 0.1, mean 0.95 -> uncertainty 0.1
    assert [round(t.disagreement, 6) for t in ordered] == [1.0, 0.8, 0.1]
    # the expression the workspace's queue orders by
    plain = Trace.objects.filter(problem=problem).annotate(d=machine_disagreement())
    assert plain.get(pk=confident.pk).d == pytest.approx(0.1)
    # the queue's order: started items first, then by disagreement, unscored traces last
    queue = (
        Trace.objects.filter(problem=problem)
        .annotate(started=Value(0))
        .order_by(*queue_order("grade"))
        .select_for_update(skip_locked=True, of=("self",))
    )
    assert [t.pk for t in queue] == [split.pk, unsure.pk, confident.pk, unscored.pk]


def test_agreement_with_and_without_suggestions(project):
    problem = ProblemFactory(project=project)
    trace = trace_with_steps(problem, ["a", "b", "c"])
    steps = list(trace.steps.order_by("position"))
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    for step, score in zip(steps, [0.9, 0.2, 0.8], strict=True):
        Grade.objects.create(node_id=step.node_id, source=prm, trace=trace, score=score)
    # given grades given before suggestions were switched on, and grades after
    sources = {}
    for user, ratings in ((UserFactory(), [1, 1, -1]), (UserFactory(), [1, -1, 1])):
        source = GradeSource.objects.create(kind=SourceKind.HUMAN, name=user.username, user=user)
        for step, rating in zip(steps, ratings, strict=True):
            Grade.objects.create(node_id=step.node_id, source=source, trace=trace, rating=rating)
        sources[tuple(ratings)] = source
    machine_suggestions_set(project=project, shown=True, user=None)
    machine_suggestions_set(project=project, shown=True, user=None)  # no change, no new row
    now = timezone.now()
    Grade.objects.filter(source__kind=SourceKind.PRM).update(created_at=now - timedelta(hours=3))
    Grade.objects.filter(source=sources[1, 1, -1]).update(created_at=now - timedelta(hours=2))
    SuggestionSetting.objects.update(changed_at=now - timedelta(hours=1))
    assert SuggestionSetting.objects.count() == 1
    result = suggestion_agreement(project)
    assert (result.without_count, result.with_count) == (3, 3)
    assert math.isclose(result.without_suggestions, 1 / 3)
    assert result.with_suggestions == 1.0
    project.refresh_from_db()
    assert project.show_machine_suggestions is True


def test_pages_need_the_research_ability_and_render(client, project):
    make_samples(project)
    annotator = UserFactory()
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    researcher = UserFactory()
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    urls = [
        reverse(name, args=[project.pk])
        for name in (
            "evaluation-home",
            "evaluation-best-of-n",
            "evaluation-queue",
            "evaluation-monte-carlo",
            "evaluation-api-comparison",
            "evaluation-api-best-of-n",
            "evaluation-api-queue",
        )
    ]
    client.force_login(annotator)
    assert [client.get(url).status_code for url in urls] == [403] * len(urls)
    client.force_login(researcher)
    assert [client.get(url).status_code for url in urls] == [200] * len(urls)
    run_job.run(analysis_start(project=project, kind="best_of_n", user=researcher).pk)
    home = client.get(reverse("evaluation-home", args=[project.pk])).content.decode()
    assert f"<title>Scorer evaluation · {project.name} · Stepwise</title>" in home
    assert home.count('data-testid="mc-jobs"') == 1
    page = client.get(reverse("evaluation-best-of-n", args=[project.pk])).content.decode()
    assert "prm &lt;b&gt;run&lt;/b&gt; (min)" in page
    assert "<b>run</b>" not in page
    report = client.get(reverse("evaluation-api-best-of-n", args=[project.pk])).json()
    assert report["series"]["oracle"] == [0.5, 1.0, 1.0]
    # only managers change the suggestion setting
    response = client.post(reverse("evaluation-suggestions", args=[project.pk]), {"shown": "on"})
    assert response.status_code == 403


def test_starting_a_monte_carlo_job_over_the_api(client, project):
    from annotation.llm.models import PromptPurpose
    from annotation.llm.services import model_config_create
    from tests.support.data import prompt

    researcher = UserFactory()
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    trace = trace_with_steps(ProblemFactory(project=project), ["a", "b"])
    model = model_config_create(
        project=project, name="policy", kind="transformers", path_or_endpoint="/models/tiny"
    )
    template = prompt(project, PromptPurpose.SAMPLE).template
    client.force_login(researcher)
    url = reverse("evaluation-api-monte-carlo")
    body = {"project": project.pk, "model": model.pk, "prompt": template.pk}
    bad = client.post(
        url, {**body, "trace_ids": [trace.pk], "mode": "all", "n": 0}, "application/json"
    )
    assert (bad.status_code, bad.json()) == (400, {"n": ["n must be between 1 and 256, got 0"]})
    response = client.post(
        url, {**body, "trace_ids": [trace.pk], "mode": "binary_search"}, "application/json"
    )
    assert response.status_code == 202
    job = response.json()
    assert (job["kind"], job["status"], job["total"]) == ("monte_carlo", "queued", 1)


def test_the_annotators_queue_offers_the_most_contested_trace_first(project):
    from annotation.workspace.models import ItemKind
    from annotation.workspace.services.claims import assignment_claim_next

    problem = ProblemFactory(project=project)
    plain, calm, contested = (trace_with_steps(problem, [name]) for name in "xyz")
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm")
    judge = GradeSource.objects.create(kind=SourceKind.JUDGE, name="judge")
    for trace, scores in ((calm, (0.9, 0.95)), (contested, (0.9, 0.2))):
        node = trace.steps.get().node_id
        for source, score in zip((prm, judge), scores, strict=True):
            Grade.objects.create(node_id=node, source=source, trace=trace, score=score)
    annotator = UserFactory()
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    claimed = []
    for _ in range(3):
        assignment = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
        assert assignment is not None
        claimed.append(assignment.trace_id)
        assignment.status = "skipped"
        assignment.save(update_fields=["status"])
    assert claimed == [contested.pk, calm.pk, plain.pk]
