"""No request body makes the workspace answer 500: bad JSON, bad values and bad form fields get
a 400 (JSON) or an error message (forms) that names the field, and nothing is stored."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from annotation.core.models import Role
from annotation.workspace.models import Assignment, AssignmentStatus, ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.saves import grading_submit
from tests.factories import (
    MembershipFactory,
    ProblemFactory,
    ProjectFactory,
    UserFactory,
    trace_with_steps,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NODE = "00000000-0000-0000-0000-000000000000"  # replaced by a real node id of the trace
KEYS = [
    "version",
    "grades",
    "finish",
    "thoughts",
    "final_answer",
    "finish_reason",
    "checklist",
    "time_spent_ms",
    "rating",
    "unsure",
    "critique",
    "correction",
    "kind",
    "text",
    "backtrack_to",
    "attempts",
    "common_knowledge",
    NODE,
]


# JSON written as raw text, so that it can hold what json.dumps never writes --------------------

NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 10_000, "1.0", "-0"]
    ),
)
STRINGS = st.one_of(
    st.text(st.one_of(st.sampled_from("\x00\ud800\udfff:é"), st.characters()), max_size=8).map(
        json.dumps
    ),
    st.sampled_from(
        [
            '"\\ud800"',
            '"a\\u0000b"',
            '"attempt"',
            '"solution"',
            '"found_error"',
            '"' + "x" * 200_000 + '"',
        ]
    ),
)
SCALARS = st.one_of(st.sampled_from(["null", "true", "false"]), NUMBERS, STRINGS)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(
            st.tuples(st.one_of(st.sampled_from(KEYS).map(json.dumps), STRINGS), children),
            max_size=4,
        ).map(lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"),
        st.sampled_from([40, 1000, 100_000]).map(lambda n: "[" * n + "]" * n),
    ),
    max_leaves=16,
)
VERSIONS = st.one_of(st.just("1"), VALUES)
GRADES = st.dictionaries(
    st.sampled_from([NODE, "x"]).map(json.dumps),
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                '"rating"': st.one_of(st.sampled_from(["-1", "0", "1", "1.0", "2"]), VALUES),
                '"unsure"': VALUES,
                '"critique"': VALUES,
                '"correction"': VALUES,
            },
        ).map(lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"),
        VALUES,
    ),
    max_size=2,
).map(lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}")
THOUGHTS = st.lists(
    st.fixed_dictionaries(
        {'"kind"': st.one_of(st.sampled_from(['"attempt"', '"backtrack"']), VALUES)},
        optional={'"text"': VALUES, '"backtrack_to"': VALUES},
    ).map(lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"),
    max_size=3,
).map(lambda items: "[" + ",".join(items) + "]")
PLAUSIBLE = st.fixed_dictionaries(
    {'"version"': VERSIONS},
    optional={
        '"grades"': st.one_of(GRADES, VALUES),
        '"thoughts"': st.one_of(THOUGHTS, VALUES),
        '"finish"': VALUES,
        '"final_answer"': VALUES,
        '"finish_reason"': st.one_of(st.sampled_from(['"solution"', '"give_up"']), VALUES),
        '"checklist"': st.one_of(st.just('{"attempts": true, "common_knowledge": true}'), VALUES),
        '"time_spent_ms"': VALUES,
    },
).map(lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}")
BODIES = st.one_of(PLAUSIBLE, VALUES).map(str.encode) | st.binary(max_size=64)


@pytest.fixture
def project(db, settings):
    settings.STEPWISE_ANSWER_TIMEOUT_S = 1
    return ProjectFactory(name="bodies")


@pytest.fixture
def annotator(project):
    user = UserFactory(username="fuzzed")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def grading(project, annotator):
    problem = ProblemFactory(project=project, text="What is $1+1$?", answer="2")
    trace_with_steps(problem, ["One and one.", "Make two.", "The answer is $2$."])
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.GRADE)


@pytest.fixture
def recording(project, annotator, grading):
    return assignment_claim_next(project=project, user=annotator, kind=ItemKind.RECORD)


def send(client: Client, method: str, url: str, body: bytes, node: str) -> int:
    """One request whose effects are rolled back, so that every example starts the same."""
    with transaction.atomic():
        response = getattr(client, method)(
            url, body.replace(NODE.encode(), node.encode()), content_type="application/json"
        )
        transaction.set_rollback(True)
    return response.status_code


def node_of(assignment: Assignment) -> str:
    if assignment.trace_id is None:
        return NODE
    return str(assignment.trace.steps.order_by("position").first().node_id)


EXPLICIT = [
    b'{"version": 1, "grades": {"%s": {"rating": 1, "critique": "a\\u0000b"}}}' % NODE.encode(),
    b'{"version": 1, "thoughts": [{"kind": "attempt", "text": "\\ud800"}]}',
    b'{"version": NaN}',
    b'{"version": 1, "time_spent_ms": Infinity}',
    b'{"version": 1e999}',
    b'{"version": 1' + b"0" * 10_000 + b"}",
    b'{"version": 1, "finish": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"version": 18446744073709551616}',
    b'{"version": 1, "final_answer": "' + b"x" * (10 * 1024 * 1024) + b'"}',
    b'{"version": 1, "grades": {"%s": {"rating": 1.0}}, "finish_reason": "give_up"}'
    % NODE.encode(),
]


@pytest.mark.parametrize(("method", "endpoint"), [("put", "draft"), ("post", "submit")])
@FUZZ
@given(body=BODIES)
@example(body=EXPLICIT[0]).via("NUL in a critique")
@example(body=EXPLICIT[1]).via("lone surrogate in a thought")
@example(body=EXPLICIT[2]).via("NaN")
@example(body=EXPLICIT[3]).via("Infinity")
@example(body=EXPLICIT[4]).via("1e999")
@example(body=EXPLICIT[5]).via("10,000-digit integer")
@example(body=EXPLICIT[6]).via("nested 100,000 deep")
@example(body=EXPLICIT[7]).via("version past 64 bits")
@example(body=EXPLICIT[8]).via("10 MB draft text")
@example(body=EXPLICIT[9]).via("a rating of 1.0")
def test_editor_bodies_never_answer_500(client, grading, recording, method, endpoint, body):
    client.force_login(grading.annotator)
    for assignment in (grading, recording):
        url = f"/api/work/{assignment.pk}/{endpoint}"
        assert send(client, method, url, body, node_of(assignment)) in (200, 400, 409)


# Explicit examples: the message names the field, and nothing is stored ------------------------


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("grade", b'{"version": NaN}', "version: NaN is not a JSON number"),
        ("grade", b'{"version": 1e999}', "version: 1e999 is too large for a number"),
        (
            "grade",
            b'{"version": 1, "time_spent_ms": Infinity}',
            "time_spent_ms: Infinity is not a JSON number",
        ),
        (
            "grade",
            b'{"version": 1' + b"0" * 10_000 + b"}",
            "version: is an integer of more than 4300 digits",
        ),
        (
            "grade",
            b'{"version": 4294967296}',
            "version: 4294967296 is no version of this work; reload the page",
        ),
        (
            "grade",
            b'{"version": 1, "grades": {"%s": {"rating": 1, "critique": "a\\u0000b"}}}'
            % NODE.encode(),
            f"grades.{NODE}.critique: contains a NUL character (\\u0000)",
        ),
        (
            "record",
            b'{"version": 1, "thoughts": [{"kind": "attempt", "text": "\\ud800"}]}',
            "thoughts[0].text: contains a lone surrogate (\\ud800)",
        ),
        (
            "grade",
            b'{"version": 1, "finish": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "(body): is nested more than 8 levels deep",
        ),
        (
            "record",
            b'{"version": 1, "final_answer": "' + b"x" * (10 * 1024 * 1024) + b'"}',
            "(body): is larger than 2,621,440 bytes",
        ),
        (
            "record",
            b'{"version": 1, "final_answer": "' + b"x" * 1001 + b'"}',
            "final_answer: is longer than 1,000 characters",
        ),
        (
            "record",
            b'{"version": 1, "thoughts": [{"kind": "attempt", "text": "' + b"x" * 20_001 + b'"}]}',
            "thoughts[0].text: is longer than 20,000 characters",
        ),
        (
            "grade",
            b'{"version": 1, "notes": "x"}',
            "notes: is not a field of this draft (grades, finish)",
        ),
    ],
)
def test_a_bad_save_answers_400_naming_the_field(client, grading, recording, kind, body, message):
    # given
    assignment = grading if kind == "grade" else recording
    client.force_login(assignment.annotator)
    # when
    response = client.put(
        f"/api/work/{assignment.pk}/draft",
        body.replace(NODE.encode(), node_of(assignment).encode()),
        content_type="application/json",
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"] == message.replace(NODE, node_of(assignment))
    assignment.refresh_from_db()
    assert (assignment.version, assignment.draft) == (1, {})


# Form posts -------------------------------------------------------------------------------------

FORM_VALUES = st.one_of(
    st.text(st.one_of(st.sampled_from("\x00\ud800"), st.characters()), max_size=8).map(
        lambda text: text.encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=32),
    st.sampled_from([b"a\x00b", b"x" * 20_001, b"\xed\xa0\x80", b"accepted", b"rejected"]),
)


def post_form(client: Client, url: str, fields: dict[str, bytes]):
    body = "&".join(
        f"{key}={urllib.parse.quote_from_bytes(value)}" for key, value in fields.items()
    )
    with transaction.atomic():
        response = client.post(url, body, content_type="application/x-www-form-urlencoded")
        transaction.set_rollback(True)
    return response


@pytest.fixture
def reviewer(project):
    user = UserFactory(username="reviewer")
    MembershipFactory(project=project, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def submitted(grading):
    grading_submit(assignment=grading, version=1, draft={}, finish_reason="give_up")
    grading.refresh_from_db()
    return grading


@FUZZ
@given(reason=FORM_VALUES)
def test_skips_never_answer_500(client, grading, reason):
    client.force_login(grading.annotator)
    assert post_form(client, f"/work/{grading.pk}/skip/", {"reason": reason}).status_code == 302


@FUZZ
@given(decision=FORM_VALUES, comment=FORM_VALUES)
def test_reviews_never_answer_500(client, submitted, reviewer, decision, comment):
    client.force_login(reviewer)
    response = post_form(
        client, f"/review/work/{submitted.pk}/", {"decision": decision, "comment": comment}
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("a\x00b", "reason: contains a NUL character (\\u0000)"),
        ("x" * 2001, "reason: is longer than 2,000 characters"),
    ],
)
def test_a_bad_skip_reason_is_refused_not_cut(client, grading, reason, message):
    # given
    client.force_login(grading.annotator)
    # when
    response = client.post(f"/work/{grading.pk}/skip/", {"reason": reason})
    # then
    assert response.url == f"/work/{grading.pk}/"
    assert [m.message for m in get_messages(response.wsgi_request)] == [message]
    grading.refresh_from_db()
    assert (grading.status, grading.skip_reason) == (AssignmentStatus.IN_PROGRESS, "")


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("a\x00b", "comment: contains a NUL character (\\u0000)"),
        ("x" * 20_001, "comment: is longer than 20,000 characters"),
    ],
)
def test_a_bad_review_comment_is_refused_not_cut(client, submitted, reviewer, comment, message):
    # given
    client.force_login(reviewer)
    # when
    response = client.post(
        f"/review/work/{submitted.pk}/", {"decision": "rejected", "comment": comment}
    )
    # then
    assert [m.message for m in get_messages(response.wsgi_request)] == [message]
    submitted.refresh_from_db()
    assert (submitted.review_status, submitted.review_comment) == (None, "")
