"""PRM800K's labeling in the grading page: rate the alternatives at a step, choose one to
continue, write one's own step; the export of that work is PRM800K's row of it."""

import io
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.datasets.export.prm800k_rows import labeler_id, prm800k_timestamp
from annotation.datasets.importer import import_dataset
from annotation.grading.models import Grade
from annotation.problems.models import Trace
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.paths import continuation_attach
from tests.support.prm800k import (
    OWN_STEP,
    PHASE1,
    STEP_6_RATINGS,
    expected_row,
    trl_prm800k_conversion,
)


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def put(client, claim, body):
    return client.put(
        f"/api/work/{claim.pk}/draft", json.dumps(body), content_type="application/json"
    )


@pytest.fixture
def phase1(project):
    """PRM800K's first raw row (phase 1: alternatives at two steps, a human completion)."""
    project.stop_at_first_bad_step = False  # phase 1 goes on after a bad completion
    project.save()
    line = json.dumps(PHASE1).encode() + b"\n"
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(line))
    return Trace.objects.get(problem__project=project)


@pytest.fixture
def claim(client, project, annotator, phase1):
    client.force_login(annotator)
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


def shown(client, claim):
    """(position, option, on_path, text) of each step on the grading page, in order."""
    steps = client.get(f"/work/{claim.pk}/").context["steps"]
    return [(s.position, s.option, s.on_path, s.text, s.node_id) for s in steps]


def node_at(steps, position, option):
    return next(s[4] for s in steps if s[0] == position and s[1] == option)


def test_the_grading_page_shows_the_alternatives_at_each_step(client, claim):
    steps = shown(client, claim)
    label = PHASE1["label"]["steps"]
    assert [(p, o, on) for p, o, on, _, _ in steps] == [
        (0, 0, True),
        (1, None, True),  # the human completion continued the path
        *[(1, option, False) for option in range(5)],
        (2, 0, True),
        (3, 0, True),
        (4, 0, True),
        (5, 4, True),  # the chosen completion, then the others
        *[(5, option, False) for option in range(4)],
    ]
    assert steps[1][3] == label[1]["human_completion"]["text"]
    assert [s[3] for s in steps[2:7]] == [c["text"] for c in label[1]["completions"]]


def test_phase_1_labeling_exports_as_prm800ks_row(client, claim, project, annotator, tmp_path):
    # given the annotator rates every step and alternative, the imported human step too, on a
    # claim two minutes old (time on the item counts no more than passed since the claim)
    Assignment.objects.filter(pk=claim.pk).update(claimed_at=timezone.now() - timedelta(minutes=2))
    steps = shown(client, claim)
    ratings = {node_at(steps, p, o): 1 for p, o in [(0, 0), (1, None), (2, 0), (3, 0), (4, 0)]}
    ratings |= {node_at(steps, 1, o): -1 for o in range(5)}
    ratings |= {node_at(steps, 5, o): r for o, r in enumerate(STEP_6_RATINGS)}
    grades = {node: {"rating": r} for node, r in ratings.items()}
    assert put(client, claim, {"version": 1, "grades": grades, "time_spent_ms": 61000}).json() == {
        "version": 2
    }
    # when they choose alternative 2 at step 6, then write their own step 7, and submit
    chose = post(client, f"/api/work/{claim.pk}/path", {"version": 2, "position": 5, "choose": 1})
    wrote = post(
        client, f"/api/work/{claim.pk}/path", {"version": 3, "position": 6, "write": OWN_STEP}
    )
    claim.refresh_from_db()
    submitted = post(
        client,
        f"/api/work/{claim.pk}/submit",
        {"version": 4, "grades": claim.draft["grades"], "finish_reason": "solution"},
    )
    # then their path is the trace's up to step 6, their choice there, and their step
    assert (chose.json(), wrote.json(), submitted.status_code) == (
        {"version": 3},
        {"version": 4},
        200,
    )
    claim.refresh_from_db()
    own = [(p, o, on) for p, o, on, _, _ in shown(client, claim)]
    assert own[-6:] == [
        (5, 1, True),
        (5, 0, False),
        (5, 2, False),
        (5, 3, False),
        (5, 4, False),
        (6, None, True),
    ]
    assert set(Grade.objects.filter(source__user=annotator).values_list("trace_id", flat=True)) == {
        claim.work_trace_id
    }
    # and the PRM800K export holds, field by field, the row PRM800K would hold of this work
    options = ExportOptions(format="prm800k")
    export_to_directory(project=project, options=options, directory=tmp_path)
    rows = [
        json.loads(line) for line in (tmp_path / "prm800k-train.jsonl").read_text().splitlines()
    ]
    labeler = labeler_id(project.pk, "user:ann")  # opaque, never the username
    assert [r["labeler"] for r in rows] == [PHASE1["labeler"], labeler]
    assert rows[0] == PHASE1  # the imported row is unchanged beside it
    expected = expected_row(
        labeler=labeler, timestamp=prm800k_timestamp(claim.submitted_at), total_time=61000
    )
    assert rows[1] == expected
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", rows[1]["timestamp"])
    # TRL's public conversion reads it as it reads PRM800K: the path and every alternative
    converted = trl_prm800k_conversion(rows[1])
    assert len(converted) == 5 + 4 + 1
    assert converted[-1]["completions"][-1] == OWN_STEP


def test_a_path_change_on_an_old_version_conflicts(client, claim):
    assert put(client, claim, {"version": 1, "grades": {}}).status_code == 200
    response = post(
        client, f"/api/work/{claim.pk}/path", {"version": 1, "position": 5, "choose": 0}
    )
    assert response.status_code == 409
    assert response.json()["version"] == 2
    assert Trace.objects.filter(origin="labeled").count() == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"position": 5, "choose": 9}, "option: step 6 has no alternative 9."),
        (
            {"position": 8, "write": "x"},
            "position: 8 is not a step of this path (0 to 6); reload the page.",
        ),
        ({"position": 2, "write": "  "}, "text: write the step, in at most 20000 characters."),
        (
            {"position": 2},
            "choose: give one of choose (an alternative's option), write (text) or restore (true)",
        ),
        (
            {"position": 2, "choose": 0, "restore": True},
            "choose: give one of choose (an alternative's option), write (text) or restore (true)",
        ),
        ({"position": 2, "restore": 1}, "restore: expected true"),
    ],
)
def test_a_path_change_that_cannot_be_made_is_refused_with_a_message(client, claim, body, error):
    response = post(client, f"/api/work/{claim.pk}/path", {"version": 1, **body})
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_writing_an_alternatives_text_chooses_it(client, claim):
    text = PHASE1["label"]["steps"][5]["completions"][2]["text"]
    post(client, f"/api/work/{claim.pk}/path", {"version": 1, "position": 5, "write": text})
    claim.refresh_from_db()
    path = [(p, o) for p, o, on, _, _ in shown(client, claim) if on]
    assert path[-1] == (5, 2)


def test_choosing_drops_the_grades_of_steps_no_longer_shown_from_the_draft(client, claim):
    steps = shown(client, claim)
    last = node_at(steps, 5, 4)
    put(client, claim, {"version": 1, "grades": {last: {"rating": 1}, steps[0][4]: {"rating": 1}}})
    post(client, f"/api/work/{claim.pk}/path", {"version": 2, "position": 3, "write": "Mine."})
    claim.refresh_from_db()
    assert claim.draft["grades"] == {steps[0][4]: {"rating": 1}}


def test_a_continuation_is_shown_only_on_the_path_it_was_asked_for(client, claim):
    # given the annotator's own path ends with their step 3
    post(client, f"/api/work/{claim.pk}/path", {"version": 1, "position": 2, "write": "Mine."})
    claim.refresh_from_db()
    path = [s[4] for s in shown(client, claim) if s[2]]
    # when a continuation comes for another prefix, then for theirs
    stale = continuation_attach(trace_id=claim.work_trace_id, prefix=path[:2], texts=["a"])
    fresh = continuation_attach(trace_id=claim.work_trace_id, prefix=path, texts=["b", "c"])
    # then only the second is shown, as the model's steps after theirs
    assert (stale, fresh) == (False, True)
    steps = [(p, o, on, t) for p, o, on, t, _ in shown(client, claim) if on]
    assert steps[2:] == [(2, None, True, "Mine."), (3, 0, True, "b"), (4, 0, True, "c")]


def test_choosing_instead_of_an_imported_human_step_leaves_it_out(client, claim):
    # when the annotator continues with an alternative where the labeler wrote their own step
    post(client, f"/api/work/{claim.pk}/path", {"version": 1, "position": 1, "choose": 3})
    claim.refresh_from_db()
    # then their path holds the five completions, the fourth chosen, and no human step
    at_2 = [(o, on) for p, o, on, _, _ in shown(client, claim) if p == 1]
    assert at_2 == [(3, True), (0, False), (1, False), (2, False), (4, False)]


def test_undoing_a_choice_restores_the_original_steps_with_their_grades(client, claim):
    # given the annotator rated the trace's path, then chose alternative 2.1 (steps 3-6 dropped)
    original = shown(client, claim)
    path = [s[4] for s in original if s[2]]
    grades = {node: {"rating": 1} for node in path}
    assert put(client, claim, {"version": 1, "grades": grades}).status_code == 200
    post(client, f"/api/work/{claim.pk}/path", {"version": 2, "position": 1, "choose": 0})
    claim.refresh_from_db()
    assert len([s for s in shown(client, claim) if s[2]]) == 2
    assert client.get(f"/work/{claim.pk}/").context["departure"].position == 1
    # when they undo it from step 2
    undone = post(
        client, f"/api/work/{claim.pk}/path", {"version": 3, "position": 1, "restore": True}
    )
    # then the page shows the trace's steps again, alternatives and all, with their grades
    assert undone.json() == {"version": 4}
    claim.refresh_from_db()
    assert shown(client, claim) == original
    assert claim.draft["grades"] == grades
    page = client.get(f"/work/{claim.pk}/").context
    assert (page["departure"], page["ends_in_answer"]) == (None, True)
    # and the path, being the trace's again, may be finished as a solution
    submitted = post(
        client,
        f"/api/work/{claim.pk}/submit",
        {"version": 4, "grades": claim.draft["grades"], "finish_reason": "solution"},
    )
    assert submitted.status_code == 200, submitted.json()


@pytest.mark.parametrize(
    ("changes", "body", "error"),
    [
        ([], {"position": 0}, "restore: your path is the trace's; there is nothing to restore."),
        (
            [{"position": 3, "write": "Mine."}],
            {"position": 4},
            "position: your path is the trace's up to step 3; restore from step 4 or before.",
        ),
    ],
)
def test_an_undo_that_cannot_be_made_is_refused_with_a_message(client, claim, changes, body, error):
    for version, change in enumerate(changes, start=1):
        post(client, f"/api/work/{claim.pk}/path", {"version": version, **change})
    version = len(changes) + 1
    response = post(
        client, f"/api/work/{claim.pk}/path", {"version": version, "restore": True, **body}
    )
    assert response.status_code == 400
    assert response.json()["error"] == error
