"""No body makes a REST endpoint answer 500: each one that reads JSON (imports, exports, model
configs, model jobs, Monte-Carlo jobs, cancel) answers 400 naming the field instead; a form's
JSON field gives a form error."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import model_config_create, prompt_template_create
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, trace_with_steps
from tests.security.test_bad_bodies import EXPLICIT, VALUES

PROJECT, MODEL, PROMPT, TRACE, PROBLEM, JOB = (
    "@project",
    "@model",
    "@prompt",
    "@trace",
    "@problem",
    "@job",
)
# A valid body per endpoint (values as JSON text), and the other fields it may have: the fuzz
# changes a few of them, so that most bodies get past the first check.
ENDPOINTS = {
    "/api/imports/": ({"project": PROJECT, "format": '"prm800k"'}, ["file", "skip_invalid"]),
    "/api/exports/": (
        {"project": PROJECT, "format": '"prm800k"'},
        [
            "file_format",
            "zero_is",
            "grades",
            "annotator",
            "run",
            "score_threshold",
            "min_agreement",
            "origins",
            "after_error",
            "test_fraction",
            "seed",
            "held_out",
            "dedupe",
            "pairs_per_problem",
        ],
    ),
    "/api/llm/models/": (
        {
            "project": PROJECT,
            "name": '"other"',
            "kind": '"transformers"',
            "path_or_endpoint": '"/models/other"',
        },
        ["served_name", "dtype", "max_length", "default_sampling", "scorer_head", "options"],
    ),
    "/api/llm/models/@model/": (
        {},
        ["name", "kind", "path_or_endpoint", "max_length", "default_sampling", "options"],
    ),
    "/api/llm/jobs/": (
        {
            "project": PROJECT,
            "kind": '"sample"',
            "model": MODEL,
            "prompt": PROMPT,
            "problem_ids": f"[{PROBLEM}]",
        },
        ["scorer", "mode", "trace_ids", "n", "sampling", "chunk_size"],
    ),
    "/api/evaluation/monte-carlo/": (
        {"project": PROJECT, "model": MODEL, "prompt": PROMPT, "trace_ids": f"[{TRACE}]"},
        ["n", "mode", "sampling", "chunk_size"],
    ),
    "/api/jobs/@job/cancel/": ({}, []),
}
IDS = st.sampled_from([PROJECT, MODEL, PROMPT, TRACE, PROBLEM])
PLAUSIBLE = st.sampled_from(
    [
        "0",
        "1",
        "-1",
        "0.5",
        "1e308",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        '""',
        '"a"',
        '"' + "x" * 600 + '"',
        '"score"',
        '"expand"',
        '"binary_search"',
        '"parquet"',
        "true",
        "null",
        "[]",
        '["a", "b"]',
        "[-1, 9223372036854775807]",
        '{"temperature": 1e308, "max_tokens": 9223372036854775807}',
        '{"top_p": -1, "seed": -9223372036854775808, "stop": ["x"]}',
        '{"max_tokens": 0}',
        '{"x": {"y": [1, 2]}}',
    ]
)
FIELD_VALUES = st.one_of(
    IDS,
    PLAUSIBLE,
    VALUES,
    st.lists(IDS | PLAUSIBLE | VALUES, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
)


def changed(url: str) -> st.SearchStrategy[tuple[str, bytes]]:
    base, others = ENDPOINTS[url]
    return st.dictionaries(
        st.sampled_from(others or [*base, "unknown"]) | st.sampled_from([*base, "unknown"]),
        FIELD_VALUES,
        max_size=2,
    ).map(
        lambda changes: (
            url,
            ("{" + ",".join(f'"{k}":{v}' for k, v in {**base, **changes}.items()) + "}").encode(),
        )
    )


REQUESTS = st.one_of(
    st.sampled_from(list(ENDPOINTS)).flatmap(changed),
    st.tuples(st.sampled_from(list(ENDPOINTS)), VALUES.map(str.encode)),
)


@pytest.fixture
def objects(db):
    project = ProjectFactory(name="api bodies")
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    model = model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/models/gen"
    )
    prompt = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    problem = ProblemFactory(project=project)
    trace = trace_with_steps(problem, ["One.", "Two."])
    job = Job.objects.create(project=project, kind=JobKind.EXPORT, created_by=admin)
    client = APIClient()
    client.force_authenticate(admin)
    ids = {
        PROJECT: project.pk,
        MODEL: model.pk,
        PROMPT: prompt.pk,
        TRACE: trace.pk,
        PROBLEM: problem.pk,
        JOB: job.pk,
    }
    return client, ids


def send(client: APIClient, ids: dict[str, int], url: str, body: bytes) -> int:
    for name, pk in ids.items():
        url = url.replace(name, str(pk))
        body = body.replace(f'"{name}"'.encode(), str(pk).encode())
    method = (
        client.patch if url.startswith("/api/llm/models/") and url.count("/") > 4 else client.post
    )
    with transaction.atomic():
        response = method(url, body, content_type="application/json")
        transaction.set_rollback(True)
    return response.status_code


FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(call=REQUESTS)
@example(call=("/api/exports/", EXPLICIT[2])).via("NaN")
@example(call=("/api/llm/jobs/", EXPLICIT[4])).via("1e999")
@example(call=("/api/llm/models/", EXPLICIT[5])).via("10,000-digit integer")
@example(call=("/api/evaluation/monte-carlo/", EXPLICIT[6])).via("nested 100,000 deep")
@example(call=("/api/exports/", EXPLICIT[8])).via("10 MB")
@example(call=("/api/exports/", b'{"project": @project, "format": "prm800k", "seed": 1e19}'))
@example(call=("/api/exports/", b'{"project": 9223372036854775807, "format": "prm800k"}'))
@example(call=("/api/llm/models/", b'{"project": @project, "name": "a\\u0000b"}'))
def test_api_bodies_never_answer_500(objects, call):
    client, ids = objects
    url, body = call
    assert send(client, ids, url, body) < 500


def test_a_bad_api_body_answers_400_naming_the_field(objects):
    client, ids = objects
    response = client.post(
        "/api/exports/",
        b'{"project": %d, "format": "prm800k", "seed": NaN}' % ids[PROJECT],
        content_type="application/json",
    )
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "seed: NaN is not a JSON number"},
    )


# Forms with JSON in a field: the model config page, the export page --------------------------


def post_as_admin(client, url: str, data: dict[str, str]):
    client.force_login(Job.objects.get().created_by)  # the project's admin
    return client.post(url, data)


@pytest.mark.parametrize(
    ("sampling", "error"),
    [
        ('{"temperature": NaN}', "Enter valid JSON: temperature: NaN is not a JSON number"),
        (
            '{"seed": 1' + "0" * 5000 + "}",
            "Enter valid JSON: seed: is an integer of more than 4300 digits",
        ),
        ('{"stop": ["a\\u0000"]}', "Enter valid JSON: stop[0]: contains a NUL character (\\u0000)"),
        ("[" * 10_000 + "]" * 10_000, "Enter valid JSON: is nested more than 32 levels deep"),
    ],
)
def test_a_bad_json_field_in_a_form_is_a_form_error(client, objects, sampling, error):
    # given
    _, ids = objects
    # when
    response = post_as_admin(
        client,
        f"/projects/{ids[PROJECT]}/llm/models/new/",
        {
            "name": "m",
            "kind": "transformers",
            "path_or_endpoint": "/m",
            "dtype": "auto",
            "default_sampling": sampling,
            "options": "{}",
            "use_chat_template": "on",
        },
    )
    # then
    assert response.status_code == 400  # the form again, with its errors
    assert response.context["form"].errors == {"default_sampling": [error]}
    assert ModelConfig.objects.count() == 1


@pytest.mark.parametrize(
    ("held_out", "error"),
    [
        ('{"unique_id": "a\\u0000"}', "line 1: unique_id: contains a NUL character (\\u0000)"),
        ('{"id": 1' + "0" * 5000 + "}", "line 1: id: is an integer of more than 4300 digits"),
        ('{"a": ' + "[" * 40 + "]" * 40 + "}", "line 1: is nested more than 32 levels deep"),
    ],
)
def test_a_bad_held_out_line_on_the_export_page_is_a_form_error(client, objects, held_out, error):
    # given
    _, ids = objects
    # when
    response = post_as_admin(
        client,
        f"/projects/{ids[PROJECT]}/export/",
        {
            "format": "prm800k",
            "file_format": "jsonl",
            "zero_is": "good",
            "grades": "trace",
            "score_threshold": "0.5",
            "min_agreement": "0",
            "test_fraction": "0",
            "seed": "0",
            "pairs_per_problem": "5",
            "held_out": held_out,
        },
    )
    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"held_out": [error]}
    assert Job.objects.count() == 1
