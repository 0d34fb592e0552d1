"""Pages the site takes from other projects (Swagger UI, Django admin, DRF's browsable API and
its login page) work under the site's Content-Security-Policy, with no violation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.factories import ProjectFactory, UserFactory

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_docs_admin_and_browsable_api(live_server, page_watch: PageWatch):
    # given an admin, signed in through DRF's login page
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    ProjectFactory(name="p")
    page = page_watch.page
    base = live_server.url
    page.goto(f"{base}/api/auth/login/?next=/api/projects/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("[type=submit]")
    page.wait_for_url(f"{base}/api/projects/")

    # when she reads the browsable API, then it lists the project
    expect(page.locator(".response-info")).to_contain_text('"name": "p"')

    # and the API docs list the operations, the admin lists the users
    page.goto(f"{base}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    page.goto(f"{base}/admin/auth/user/")
    expect(page.locator("#result_list")).to_contain_text("boss")

    # and logging out from the browsable API works (a form, not an inline handler)
    page.goto(f"{base}/api/projects/")
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{base}/api/projects/")
    expect(page.locator(".response-info")).to_contain_text("HTTP 403 Forbidden")
    assert page_watch.page_errors == []
