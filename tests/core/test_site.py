"""Small things every page relies on: an icon at /favicon.ico, the API schema shown in a
browser (not downloaded) and still served as YAML or JSON to clients that ask for them."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


def test_a_browser_is_shown_the_schema(client):
    client.force_login(UserFactory())
    page = client.get("/api/schema/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert page.status_code == 200
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert page["Content-Disposition"].startswith("inline")
    assert "openapi: 3." in page.content.decode()


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("*/*", "application/vnd.oai.openapi"),
        ("application/json", "application/json"),
        ("application/yaml", "application/yaml"),
    ],
)
def test_clients_get_the_schema_they_ask_for(client, accept, content_type):
    client.force_login(UserFactory())
    response = client.get("/api/schema/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == content_type
