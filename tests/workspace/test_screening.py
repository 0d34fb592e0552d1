"""Screening and quality control: a new annotator grades the screening set first and gets real
work only above the project's threshold; QC items come at the project's rate."""

import json
import math
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.core.models import Role
from annotation.grading.services import dataset_source, imported_grades_copy
from annotation.workspace.models import (
    Assignment,
    GoldItem,
    ItemKind,
    Purpose,
    Standing,
    StandingStatus,
)
from annotation.workspace.services.claims import assignment_claim_next, assignment_skip, qc_turn
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.gold import gold_mark_many
from annotation.workspace.services.saves import grading_submit
from annotation.workspace.services.standing import standing_set
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps


def gold_trace(project, texts, ratings, labeler="gold"):
    """A trace with a dataset source's ratings on its path (the gold grades)."""
    trace = trace_with_steps(ProblemFactory(project=project), texts)
    source = dataset_source(name=f"dataset:{labeler}")
    nodes = list(trace.steps.order_by("position").values_list("node_id", flat=True))
    imported_grades_copy(
        [
            [node, source.pk, trace.pk, r, None, True, timezone.now()]
            for node, r in zip(nodes, ratings, strict=True)
        ],
        set(),
    )
    return trace, source


def annotator_named(project, name):
    return MembershipFactory(project=project, user=UserFactory(username=name)).user


def grade_as(claim, ratings, finish="solution"):
    nodes = [
        str(n) for n in claim.trace.steps.order_by("position").values_list("node_id", flat=True)
    ]
    grades = {n: {"rating": r} for n, r in zip(nodes, ratings, strict=False) if r is not None}
    grading_submit(
        assignment=claim, version=claim.version, draft={"grades": grades}, finish_reason=finish
    )


@pytest.fixture
def screened(project):
    """A project that screens: two screening traces (gold: all +1), three real ones."""
    project.screening_threshold = 0.75
    project.stop_at_first_bad_step = False
    project.save()
    screening = [gold_trace(project, [f"s{i} a", f"s{i} b"], [1, 1])[0] for i in range(2)]
    gold_mark_many(project=project, trace_ids=[t.pk for t in screening], kind="screening")
    real = [trace_with_steps(ProblemFactory(project=project), [f"real {i}"]) for i in range(3)]
    return screening, real


def test_a_new_annotator_gets_only_screening_items_and_nothing_real_below_the_threshold(
    project, screened
):
    screening, real = screened
    user = annotator_named(project, "newbie")
    # when they claim: only screening items; a record claim is refused meanwhile
    first = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
    with pytest.raises(WorkspaceError, match="Grade the screening traces first"):
        assignment_claim_next(project=project, user=user, kind=ItemKind.RECORD)
    grade_as(first, [1, -1])  # one step of two as the gold
    second = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
    grade_as(second, [1, 1])
    # then with 3 of 4 steps right (0.75 >= 0.75) ... set the bar higher to fail them
    assert {first.trace_id, second.trace_id} == {t.pk for t in screening}
    assert {first.purpose, second.purpose} == {Purpose.SCREENING}
    project.screening_threshold = 0.8
    project.save()
    with pytest.raises(WorkspaceError, match="screening score is below what this project needs"):
        assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
    standing = Standing.objects.get(project=project, user=user)
    assert (standing.status, standing.screening_accuracy) == (StandingStatus.FAILED, 0.75)
    assert not Assignment.objects.filter(annotator=user, trace__in=real).exists()
    with pytest.raises(WorkspaceError):
        assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)


def test_passing_the_screening_opens_real_work(project, screened):
    _, real = screened
    user = annotator_named(project, "good")
    for _ in range(2):
        grade_as(assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE), [1, 1])
    claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
    assert (claim.trace_id in {t.pk for t in real}, claim.purpose) == (True, Purpose.WORK)
    assert Standing.objects.get(user=user).status == StandingStatus.ACTIVE


def test_reviewers_are_not_screened(project, screened):
    _, real = screened
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    claim = assignment_claim_next(project=project, user=reviewer, kind=ItemKind.GRADE)
    assert claim.trace_id in {t.pk for t in real}


def test_an_admin_pauses_an_annotator_and_lets_them_work_again(project, screened, annotator):
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    standing_set(project=project, user=annotator, status="paused", by=admin)
    with pytest.raises(WorkspaceError, match="An admin paused your work"):
        assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    standing_set(project=project, user=annotator, status="active", by=admin)
    claim = assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)
    assert claim.purpose == Purpose.WORK


def test_the_dashboard_pauses_and_shows_accuracy(client, project, screened):
    user = annotator_named(project, "dash")
    for _ in range(2):
        grade_as(assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE), [1, 1])
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/dashboard/")
    row = next(r for r in page.context["rows"] if r["annotator_id"] == user.pk)
    assert (row["screening"].step_accuracy, row["qc"]) == (1.0, None)
    client.post(f"/projects/{project.pk}/annotators/{user.pk}/standing/", {"status": "paused"})
    assert Standing.objects.get(user=user).status == StandingStatus.PAUSED
    # an annotator gets a styled 403 there
    client.force_login(user)
    refused = client.get(f"/projects/{project.pk}/dashboard/")
    assert refused.status_code == 403
    assert b"You may not open this page" in refused.content
    assert b"You may not review in project" in refused.content


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(min_value=0, max_value=1), n=st.integers(min_value=1, max_value=300))
def test_qc_turns_keep_within_one_item_of_the_rate(rate, n):
    # property: after any number of claims the QC count is within one of rate x claims
    class Who:
        pk = 7

    class Project:
        pk = 3
        qc_rate = rate

    qc = 0
    for claimed in range(n):
        qc += qc_turn(project=Project, user=Who, claimed=claimed, qc_claimed=qc)
        assert math.floor((claimed + 1) * rate) <= qc <= math.ceil((claimed + 1) * rate)


@pytest.mark.django_db(transaction=True)
def test_qc_items_come_at_the_set_rate_for_20_claimers_at_once(project):
    # given a QC rate of 0.2, 12 QC items and 45 real ones, every item for all 20 annotators
    project.qc_rate = 0.2
    project.overlap = 20
    project.save()
    qc = [gold_trace(project, [f"qc {i}"], [1])[0] for i in range(12)]
    gold_mark_many(project=project, trace_ids=[t.pk for t in qc], kind="qc")
    for i in range(45):
        trace_with_steps(ProblemFactory(project=project), [f"work {i}"])
    users = [annotator_named(project, f"claimer{i}") for i in range(20)]
    errors: list[BaseException] = []

    def work(user):
        try:
            for _ in range(50):
                claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
                assignment_skip(assignment=claim, reason="counted")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    # when the 20 claim 50 items each, at the same time
    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then each got 10 QC items (50 x 0.2), within one, and never a real item twice
    assert errors == []
    counts = Counter(
        Assignment.objects.filter(purpose=Purpose.QC).values_list("annotator__username", flat=True)
    )
    assert {user.username: counts[user.username] for user in users} == {
        user.username: pytest.approx(10, abs=1) for user in users
    }
    assert Assignment.objects.filter(purpose=Purpose.WORK).count() == 20 * 50 - sum(counts.values())
    per_user_items = Counter(Assignment.objects.values_list("annotator_id", "trace_id"))
    assert max(per_user_items.values()) == 1


def test_gold_is_marked_by_file_with_the_imported_labels(project, tmp_path):
    traces = [gold_trace(project, [f"f{i}"], [1], labeler=f"l{i}")[0] for i in range(2)]
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# QC items\n{traces[0].pk}, {traces[1].pk}\n")
    call_command("gold_mark", str(ids), project=project.name, kind="qc")
    assert sorted(GoldItem.objects.values_list("trace_id", "kind", "source__name")) == [
        (traces[0].pk, "qc", "dataset:l0"),
        (traces[1].pk, "qc", "dataset:l1"),
    ]
    plain = trace_with_steps(ProblemFactory(project=project), ["ungraded"])
    Path(ids).write_text(f"{plain.pk}\n")
    with pytest.raises(CommandError, match=f"trace {plain.pk}: name the source of its gold grades"):
        call_command("gold_mark", str(ids), project=project.name, kind="screening")
    call_command("gold_mark", str(ids), project=project.name, unmark=True)
    ids.write_text(f"{traces[0].pk}\n")
    call_command("gold_mark", str(ids), project=str(project.pk), unmark=True)
    assert list(GoldItem.objects.values_list("trace_id", flat=True)) == [traces[1].pk]


def test_gold_is_marked_from_prm800k_flags(project):
    import io

    from annotation.datasets.importer import import_dataset
    from tests.conftest import PRM800K_DIR

    lines = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes()
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(lines))
    call_command("gold_mark", project=project.name, kind="screening", from_prm800k_flags=True)
    (item,) = GoldItem.objects.all()
    row = json.loads(lines.decode().splitlines()[5])
    assert (item.kind, item.source.name) == ("screening", f"prm800k:{row['labeler']}")
    assert item.trace.metadata["prm800k"]["is_initial_screening_question"] is True


def test_the_gold_api_marks_all_or_nothing_for_admins_only(client, project, annotator):
    good = gold_trace(project, ["api"], [1])[0]
    plain = trace_with_steps(ProblemFactory(project=project), ["none"])
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    url = f"/api/projects/{project.pk}/gold"
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    client.force_login(admin)
    refused = client.post(
        url,
        json.dumps({"trace_ids": [good.pk, plain.pk], "kind": "qc"}),
        content_type="application/json",
    )
    assert refused.status_code == 400
    (message,) = refused.json()["non_field_errors"]  # the REST API's one error shape
    assert message.startswith(f"trace {plain.pk}: name the source")
    assert not GoldItem.objects.exists()
    done = client.post(
        url,
        json.dumps({"trace_ids": [good.pk], "kind": "screening"}),
        content_type="application/json",
    )
    assert (done.status_code, done.json()) == (201, {"marked": [good.pk]})
    assert client.get(url).json() == {
        "gold": [{"trace": good.pk, "kind": "screening", "source": "dataset:gold"}]
    }
    gone = client.delete(url, json.dumps({"trace_ids": [good.pk]}), content_type="application/json")
    assert gone.json() == {"unmarked": 1}


def test_the_quality_page_saves_the_settings(client, project):
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    client.force_login(admin)
    url = f"/projects/{project.pk}/quality/settings/"
    client.post(url, {"screening_threshold": "0.9", "qc_rate": "0.1", "queue_job_outputs": "on"})
    project.refresh_from_db()
    assert (project.screening_threshold, project.qc_rate, project.queue_job_outputs) == (
        0.9,
        0.1,
        True,
    )
    page = client.post(url, {"screening_threshold": "", "qc_rate": "2"}, follow=True)
    assert b"qc_rate: 2.0 is not between 0 and 1." in page.content
    project.refresh_from_db()
    assert project.qc_rate == 0.1


def test_a_reviewer_reads_agreement_and_quality_without_changing_them(client, project, screened):
    # given an annotator's graded work and a reviewer
    user = annotator_named(project, "dash")
    for _ in range(2):
        grade_as(assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE), [1, 1])
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    client.force_login(reviewer)
    # when
    dashboard = client.get(f"/projects/{project.pk}/dashboard/")
    quality = client.get(f"/projects/{project.pk}/quality/")
    pause = client.post(
        f"/projects/{project.pk}/annotators/{user.pk}/standing/", {"status": "paused"}
    )
    # then: the figures, no way to change them, and which items are gold stays hidden
    assert dashboard.status_code == 200
    row = next(r for r in dashboard.context["rows"] if r["annotator_id"] == user.pk)
    assert row["screening"].step_accuracy == 1.0
    assert b'data-testid="read-only"' in dashboard.content
    assert b"/standing/" not in dashboard.content
    assert quality.status_code == 200
    assert b'data-testid="read-only"' in quality.content
    assert b"Save settings" not in quality.content and b"Mark gold items" not in quality.content
    assert b'data-testid="gold-count"' in quality.content
    assert b"/review/traces/" not in quality.content
    assert pause.status_code == 403
    assert not Standing.objects.filter(user=user, status=StandingStatus.PAUSED).exists()
