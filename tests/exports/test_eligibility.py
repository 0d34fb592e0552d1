"""Who may teach the model: labels of failed screeners, of gold items and of rejected work are
left out of the step-label formats by default, each with its reason and count; agreement
figures leave rejected work out and say so."""

from pathlib import Path

import pytest

from annotation.core.models import Role
from annotation.datasets.export.pipeline import EmptyExport
from annotation.grading.services import person_source
from annotation.workspace.models import ItemKind, Standing, StandingStatus
from annotation.workspace.selectors import project_agreement
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.gold import gold_mark
from annotation.workspace.services.reviews import assignment_review
from annotation.workspace.services.saves import grading_submit
from tests.exports.conftest import make_problem, make_trace
from tests.exports.test_labelled_path import export
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

STEP_LABEL_FORMATS = ["trl-stepwise", "openr", "qwen-prm", "math-shepherd", "processbench"]


def left_out(project, tmp_path: Path, format_name: str, **options) -> dict[str, int]:
    try:
        _, manifest = export(project, tmp_path, format_name, **options)
    except EmptyExport as empty:
        return {"empty": 1, "why": str(empty)}  # type: ignore[dict-item]
    return {reason: entry["count"] for reason, entry in manifest["left_out"].items()}


@pytest.mark.parametrize("format_name", STEP_LABEL_FORMATS)
def test_a_failed_screeners_labels_are_left_out_unless_kept(project, tmp_path, format_name):
    # given a screener who failed, and their all -1 grades
    user = UserFactory(username="screener")
    Standing.objects.create(project=project, user=user, status=StandingStatus.FAILED)
    problem = make_problem(project, "s/1", "What is 3 + 3?", answer="6")
    make_trace(
        problem, ["3 + 3 = 6.", "\\boxed{6}"], ratings=[-1, -1], source=person_source(user=user)
    )
    # when / then
    refused = left_out(project, tmp_path, format_name)
    assert "screening_failed" in refused["why"]
    rows, _ = export(project, tmp_path, format_name, keep_failed_screening=True)
    assert len(rows) == 1


@pytest.mark.parametrize("format_name", STEP_LABEL_FORMATS)
def test_a_gold_items_labels_are_left_out_unless_kept(project, tmp_path, format_name):
    # given a quality-control item and a work item graded by the same person
    user = UserFactory(username="ref")
    source = person_source(user=user)
    problem = make_problem(project, "q/1", "What is 4 + 4?", answer="8")
    qc = make_trace(problem, ["4 + 4 = 8.", "\\boxed{8}"], ratings=[1, 1], source=source)
    make_trace(problem, ["4 + 4 = 9.", "\\boxed{9}"], ratings=[-1, -1], source=source)
    gold_mark(trace=qc, source=source)
    # when / then
    assert left_out(project, tmp_path, format_name).get("gold_item") == 1
    assert "gold_item" not in left_out(project, tmp_path, format_name, keep_gold_items=True)


def test_rejected_work_is_left_out_with_its_reason_and_out_of_agreement(project, tmp_path):
    # given two annotators grade a trace; one's work is rejected
    project.overlap = 2
    project.save()
    trace = trace_with_steps(ProblemFactory(project=project), ["Step one.", "Step two."])
    nodes = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    for name, decision, ratings in (("good", "accepted", [1, 1]), ("bad", "rejected", [-1, None])):
        user = MembershipFactory(project=project, user=UserFactory(username=name)).user
        claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
        grades = {n: {"rating": r} for n, r in zip(nodes, ratings, strict=True) if r is not None}
        grading_submit(
            assignment=claim, version=1, draft={"grades": grades}, finish_reason="solution"
        )
        claim.refresh_from_db()
        assignment_review(assignment=claim, reviewer=reviewer, decision=decision, comment="why")
    # when
    rows, manifest = export(project, tmp_path, "trl-stepwise")
    every, _ = export(project, tmp_path, "trl-stepwise", review="all")
    overall, _ = project_agreement(project=project)
    # then
    assert [row["labels"] for row in rows] == [[True, True]]
    assert manifest["left_out"]["review_rejected"]["count"] == 1
    assert sorted(row["labels"] for row in every) == [[False], [True, True]]
    assert (overall.items, overall.rejected_left_out) == (0, 1)  # one vote left: no pair


def test_the_options_to_keep_labels_are_on_the_api_the_page_and_the_command(
    project, client, tmp_path
):
    # given an admin and one failed screener's graded trace
    from django.core.management import call_command

    from annotation.jobs.models import Job

    admin = UserFactory(username="admin-keep")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    client.force_login(admin)
    user = UserFactory(username="failed")
    Standing.objects.create(project=project, user=user, status=StandingStatus.FAILED)
    problem = make_problem(project, "k/1", "What is 1 + 2?", answer="3")
    make_trace(problem, ["1 + 2 = 3."], ratings=[1], source=person_source(user=user))
    flags = {"chosen_path_only": True, "keep_gold_items": True, "keep_failed_screening": True}
    # when
    by_api = client.post(
        "/api/exports/",
        {"project": project.pk, "format": "trl-stepwise", **flags},
        content_type="application/json",
    )
    page = client.get(f"/projects/{project.pk}/export/")
    call_command(
        "export_dataset",
        str(tmp_path / "out"),
        "--project",
        project.name,
        "--format",
        "trl-stepwise",
        "--keep-failed-screening",
        "--chosen-path-only",
        "--keep-gold-items",
    )
    # then
    assert by_api.status_code == 202, by_api.content
    params = Job.objects.get(pk=by_api.json()["id"]).params
    assert {name: params[name] for name in flags} == flags
    for name in flags:
        assert f'name="{name}"' in page.content.decode()
    assert (tmp_path / "out" / "trl-stepwise-train.jsonl").read_text().count("\n") == 1


def test_eligibility_is_read_once_per_chunk_not_per_trace(project, tmp_path):
    # given people's graded traces, 2 and then 8 of them
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    problem = make_problem(project, "n/1", "What is 2 + 2?", answer="4")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            export(project, tmp_path, "trl-stepwise")
        return len(captured.captured_queries)

    def grade(count: int) -> None:
        for i in range(count):
            source = person_source(user=UserFactory(username=f"p{i}-{problem.traces.count()}"))
            make_trace(problem, [f"2 + 2 = 4 ({i}).", "\\boxed{4}"], ratings=[1, 1], source=source)

    grade(2)
    few = queries()
    grade(6)
    # when / then: the same statements for 8 traces as for 2
    many = queries()
    assert many == few
