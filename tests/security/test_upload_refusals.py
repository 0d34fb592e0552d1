"""An import upload refused names its reason at once, on the Import page (a 400 page with the
form and the reason under the file) and in the API (a 400 naming the field): too large, a NUL
or another hidden character in its name, a name not ending in .jsonl or .json, a byte-order
mark, a JSON array in a file named .jsonl. Nothing is kept and no job starts."""

from __future__ import annotations

import json
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from annotation.core.models import Role
from annotation.jobs.models import Job
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

LINE = json.dumps({"problem": "What is 1 + 1?", "answer": "2"}).encode() + b"\n"
REFUSED = [
    ("a\x00b.jsonl", LINE, "the file name contains a NUL character (U+0000)"),
    ("a\x1bb.jsonl", LINE, "the file name contains a control character (U+001B)"),
    ("data\u200b.jsonl", LINE, "the file name contains an invisible character, U+200B"),
    ("data.csv", LINE, "the file name 'data.csv' does not end in .jsonl (JSON lines"),
    ("data.jsonl", b"\xef\xbb\xbf" + LINE, "the file starts with a byte-order mark (U+FEFF"),
    ("data.jsonl", b"[\n" + LINE + b"]\n", "the file is a JSON array ([...]) but its name ends"),
    ("data.jsonl", b"", "The submitted file is empty."),
]


@pytest.fixture
def admin():
    return MembershipFactory(role=Role.ADMIN)


@pytest.mark.parametrize(("name", "data", "reason"), REFUSED)
def test_the_import_page_names_the_reason(client, admin, name, data, reason):
    # given
    client.force_login(admin.user)
    # when
    response = client.post(
        f"/projects/{admin.project.pk}/import/",
        {"format": "math", "file": SimpleUploadedFile(name, data)},
    )
    # then the form comes back with the reason under the file
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["file"]
    assert errors["file"][0].startswith(reason)
    assert reason in unescape(response.content.decode())
    assert Job.objects.count() == 0


@pytest.mark.parametrize(("name", "data", "reason"), REFUSED)
def test_the_api_names_the_field_and_the_reason(admin, name, data, reason):
    # given
    api = APIClient()
    api.force_authenticate(admin.user)
    # when
    response = api.post(
        "/api/imports/",
        {"project": admin.project.pk, "format": "math", "file": SimpleUploadedFile(name, data)},
        format="multipart",
    )
    # then
    assert response.status_code == 400
    body = response.json()
    message = body["file"][0] if "file" in body else body["detail"].removeprefix("file: ")
    assert message.startswith(reason)
    assert Job.objects.count() == 0


def test_the_import_page_names_the_size_limit(client, admin, settings):
    # given
    settings.STEPWISE_MAX_UPLOAD_BYTES = 1000
    client.force_login(admin.user)
    # when
    response = client.post(
        f"/projects/{admin.project.pk}/import/",
        {"format": "math", "file": SimpleUploadedFile("big.jsonl", LINE * 100)},
    )
    # then
    assert response.status_code == 400
    page = unescape(response.content.decode())
    assert "more than STEPWISE_MAX_UPLOAD_BYTES = 1,000 bytes allows" in page
    assert f'href="/projects/{admin.project.pk}/import/"' in page
    assert Job.objects.count() == 0


def test_the_import_page_takes_a_good_file(client, admin):
    client.force_login(admin.user)
    response = client.post(
        f"/projects/{admin.project.pk}/import/",
        {"format": "math", "file": SimpleUploadedFile("good.jsonl", LINE)},
    )
    assert response.status_code == 302
    assert Job.objects.get().params["filename"] == "good.jsonl"


def test_the_import_page_asks_for_a_file(client, admin):
    client.force_login(admin.user)
    response = client.post(f"/projects/{admin.project.pk}/import/", {"format": "math"})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["Choose a file to import."]
