"""No request answers 500: an id in a path that is not a number is a 404 from the URL
resolver; a null or a value of the wrong JSON type in a JSON field, sent as JSON, form-encoded
or multipart, is a 400 naming the field; every view answers only its own methods (405)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from annotation.core.bodies import BodyError
from annotation.core.methods import declared_methods
from annotation.core.models import Role
from annotation.jobs.typed_json import ParamsError
from annotation.llm.services import model_config_create
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture
def admin_client(db) -> tuple[APIClient, Any]:
    project = ProjectFactory(name="no 500")
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    model = model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/models/gen"
    )
    client = APIClient()
    client.force_authenticate(admin)
    return client, model


# Ids in paths --------------------------------------------------------------------------------

NOT_AN_ID = ["abc", "null", "x", "1.5", "-1", "1e3", "%00"]
DETAIL_URLS = [
    "/api/jobs/{}/",
    "/api/jobs/{}/cancel/",
    "/api/llm/models/{}/",
    "/api/projects/{}/",
    "/api/projects/{}/members/",
    "/api/problems/{}/",
    "/api/traces/{}/",
    "/api/grades/{}/",
    "/api/imports/{}/",
    "/api/exports/{}/",
    "/api/tokens/{}/",
]


@pytest.mark.parametrize("url", DETAIL_URLS)
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "post"])
def test_an_id_that_is_not_a_number_is_a_404(admin_client, url, method):
    client, _ = admin_client
    for value in NOT_AN_ID:
        response = getattr(client, method)(url.format(value), {}, format="json")
        assert response.status_code == 404, (url.format(value), response.status_code)


# Nulls and wrong types in JSON fields ----------------------------------------------------------


def _patch(client: APIClient, url: str, encoding: str, field: str, value: str) -> Any:
    if encoding == "json":
        return client.patch(url, f'{{"{field}": {value}}}', content_type="application/json")
    if encoding == "form":
        body = urllib.parse.urlencode({field: value})
        return client.patch(url, body, content_type="application/x-www-form-urlencoded")
    return client.patch(url, {field: value}, format="multipart")


WRONG = ["null", "false", "true", "1", '"text"', "[]", "[1]"]


@pytest.mark.parametrize("field", ["options", "default_sampling"])
@pytest.mark.parametrize("value", WRONG)
@pytest.mark.parametrize("encoding", ["json", "form", "multipart"])
def test_a_json_field_that_is_not_an_object_is_a_400_naming_it(
    admin_client, field, value, encoding
):
    # given
    client, model = admin_client
    url = f"/api/llm/models/{model.pk}/"
    # when
    response = _patch(client, url, encoding, field, value)
    # then
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in response.json(), response.json()
    model.refresh_from_db()
    assert (model.options, model.default_sampling, model.version) == ({}, {}, 1)


@pytest.mark.parametrize("field", ["options", "default_sampling"])
def test_a_json_object_in_a_form_field_is_read_as_an_object(admin_client, field):
    client, model = admin_client
    value = '{"max_tokens": 64}' if field == "default_sampling" else "{}"
    response = _patch(client, f"/api/llm/models/{model.pk}/", "multipart", field, value)
    assert response.status_code == 200, response.content[:300]
    assert response.json()[field] == ({"max_tokens": 64} if field == "default_sampling" else {})


# Methods --------------------------------------------------------------------------------------


def _function_views(patterns: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _function_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = pattern.callback
            if not hasattr(view, "cls") and not hasattr(view, "view_class"):
                yield prefix + str(pattern.pattern), view


def _sample_path(route: str) -> str:
    path = route.replace("^", "").replace("$", "")
    for converter in ("int", "str", "path", "slug"):
        while f"<{converter}:" in path:
            start = path.index(f"<{converter}:")
            path = path[:start] + ("1" if converter == "int" else "x") + path[path.index(">") + 1 :]
    return "/" + path


FUNCTION_VIEWS = sorted(
    (_sample_path(route), view)
    for route, view in _function_views(get_resolver().url_patterns)
    if not route.startswith("admin/")
)


@pytest.mark.parametrize("path", ["/", "/api/", "/api/projects/", "/login/", "/api/schema/"])
def test_trace_is_refused(db, client, path):
    client.force_login(UserFactory(is_superuser=True))
    assert client.generic("TRACE", path).status_code == 405


@pytest.mark.parametrize("path,view", FUNCTION_VIEWS, ids=[path for path, _ in FUNCTION_VIEWS])
def test_a_function_view_answers_only_its_methods(db, client, path, view):
    # given: a site admin, who passes every access check
    client.force_login(UserFactory(is_superuser=True))
    allowed = declared_methods(view)
    # when
    refused = {
        method: client.generic(method, path).status_code
        for method in ("TRACE", "PUT", "PATCH", "DELETE", "PROPFIND", "OPTIONS")
        if method not in allowed
    }
    # then
    assert set(refused.values()) <= {405}, refused


def test_an_undeclared_function_view_answers_get_head_and_post():
    home = dict(FUNCTION_VIEWS)["/"]
    assert declared_methods(home) == frozenset({"GET", "HEAD", "POST"})


# One error path -------------------------------------------------------------------------------


class _RaisesFromAService(APIView):
    """A view that lets a service's error through, as a view that forgot to catch it would."""

    error: Exception = Exception()

    def post(self, request: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error,body",
    [
        (DjangoValidationError({"rewrite_prompt": "is not in project A"}), "rewrite_prompt"),
        (ParamsError("sampling.max_tokens", "is too large"), "sampling.max_tokens"),
        (BodyError("text", "is longer than 10 characters"), "text"),
        (DjangoValidationError("no field"), "non_field_errors"),
    ],
)
def test_a_service_error_reaching_the_api_is_a_400_naming_the_field(db, error, body):
    # given
    view = _RaisesFromAService.as_view(error=error)
    request = APIRequestFactory().post("/", {}, format="json")
    force_authenticate(request, UserFactory())
    # when
    response = view(request)
    # then
    assert response.status_code == 400
    assert list(response.data) == [body]
