"""Every text a person can write into the store has a cap, on every write path.

The REST API's request bodies are read from its OpenAPI schema (every write operation, every
string property, nested and in lists), the pages' forms from every form class of the project:
a text without a length of its own is a gap. Then each kind of path is tried one character
beyond its cap: the API answers 400 naming the field, a form names the field."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from django import forms
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

import annotation
from annotation.core.bodies import StrictJSONFormField
from annotation.core.columns import TEXT_MAX_CHARS
from annotation.core.models import Role
from annotation.jobs.models import Job
from annotation.llm.services import model_config_create, prompt_template_create
from tests.factories import MembershipFactory, ProblemFactory

# Strings that are not text a person writes: a file (its size is STEPWISE_MAX_UPLOAD_BYTES).
NOT_TEXT = {("POST", "/api/imports/", "file")}
FORMATS_NOT_TEXT = {"binary", "uuid", "date-time", "date"}


def _api_texts_without_cap() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def resolved(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def gaps(node: dict[str, Any], path: str) -> list[str]:
        node = resolved(node)
        found = [
            g
            for key in ("allOf", "oneOf", "anyOf")
            for n in node.get(key, [])
            for g in gaps(n, path)
        ]
        kind = node.get("type")
        text = "enum" not in node and node.get("format") not in FORMATS_NOT_TEXT
        if kind == "string" and text and "maxLength" not in node:
            found.append(path)
        for name, child in node.get("properties", {}).items():
            if not child.get("readOnly"):
                found += gaps(child, f"{path}.{name}" if path else name)
        if kind == "array":
            found += gaps(node.get("items", {}), f"{path}[]")
        return found

    missing = []
    for url, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"post", "put", "patch"} or "requestBody" not in operation:
                continue
            for content in operation["requestBody"]["content"].values():
                for field in gaps(content["schema"], ""):
                    if (method.upper(), url, field.removesuffix("[]")) not in NOT_TEXT:
                        missing.append(f"{method.upper()} {url} {field}")
    return sorted(set(missing))


def _form_classes() -> list[type[forms.BaseForm]]:
    for module in pkgutil.walk_packages(annotation.__path__, "annotation."):
        if ".migrations" not in module.name and ".management" not in module.name:
            importlib.import_module(module.name)

    def below(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *below(sub))]

    return sorted(
        {c for c in below(forms.BaseForm) if c.__module__.startswith("annotation.")},
        key=lambda c: f"{c.__module__}.{c.__name__}",
    )


def test_every_text_of_an_api_request_has_a_cap():
    assert _api_texts_without_cap() == []


def test_every_text_field_of_a_form_has_a_cap():
    missing = [
        f"{form.__module__}.{form.__name__}.{name}"
        for form in _form_classes()
        for name, field in form.base_fields.items()
        if isinstance(field, forms.CharField)
        and (field.max_length is None or field.max_length > TEXT_MAX_CHARS)
    ]
    assert missing == []


# Each kind of write path, one character beyond its cap ---------------------------------------


@pytest.fixture
def lab(db) -> dict[str, Any]:
    membership = MembershipFactory(role=Role.ADMIN)
    project = membership.project
    model = model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/models/gen"
    )
    prompt = prompt_template_create(
        project=project, name="solve", purpose="sample", text="Solve {{ problem }}"
    )
    api = APIClient()
    api.force_authenticate(membership.user)
    return {
        "api": api,
        "user": membership.user,
        "project": project,
        "job": {
            "project": project.pk,
            "kind": "sample",
            "params": {
                "model": model.pk,
                "prompt": prompt.pk,
                "problem_ids": [ProblemFactory(project=project).pk],
            },
        },
    }


TOO_LONG = "x" * (TEXT_MAX_CHARS + 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "k" * 21, "params": {}}, "kind"),
        ({"kind": "best_of_n", "params": {"note": TOO_LONG}}, "params.note"),
    ],
)
def test_a_job_start_beyond_a_cap_is_a_400_naming_the_field(lab, body, field):
    response = lab["api"].post("/api/jobs/", {"project": lab["project"].pk, **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"annotator": "a" * 151}, "annotator"), ({"held_out": [TOO_LONG]}, "held_out")],
)
def test_an_export_beyond_a_cap_is_a_400_naming_the_field(lab, extra, field):
    body = {"project": lab["project"].pk, "format": "prm800k", **extra}
    response = lab["api"].post("/api/exports/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("llm/start/sample/", {"subject": "s" * 101}, "subject"),
        ("trees/start/", {"prompt": TOO_LONG}, "prompt"),
        ("export/", {"held_out": TOO_LONG}, "held_out"),
        ("llm/models/new/", {"options": '{"a": "' + TOO_LONG + '"}'}, "options"),
    ],
)
def test_a_form_beyond_a_cap_names_the_field(client, lab, path, data, field):
    client.force_login(lab["user"])
    response = client.post(f"/projects/{lab['project'].pk}/{path}", data)
    assert response.status_code in (200, 400)
    assert field in response.context["form"].errors
    assert Job.objects.count() == 0


def test_the_json_form_field_counts_characters():
    field = StrictJSONFormField(max_length=10)
    with pytest.raises(forms.ValidationError):
        field.clean('{"a": "bcdefghij"}')
    assert field.clean('{"a": 1}') == {"a": 1}
