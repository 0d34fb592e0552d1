"""A username holding bidi controls (a row from before names were validated) is isolated in
<bdi> wherever a page shows it, so it cannot reorder the text around it, and each control shows
as its code point (annotation/core/templatetags/shown_visibly.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from annotation.core.models import Project, Role
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.saves import grading_submit
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Shows as "admin" followed by whatever comes next, reversed, unless isolated.
TRICKY_NAME = "\u202enimda"
SHOWN_NAME = "⟦U+202E⟧nimda"
ISOLATION = "(el) => getComputedStyle(el).unicodeBidi"


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_usernames_are_isolated(live_server, page_watch: PageWatch):
    # given an annotator with an override in her name whose grading waits for review
    project = Project.objects.create(name="bidi")
    ann, rev = UserFactory(username=TRICKY_NAME), UserFactory(username="rev")
    MembershipFactory(project=project, user=ann, role=Role.ANNOTATOR)
    MembershipFactory(project=project, user=rev, role=Role.REVIEWER)
    trace = trace_with_steps(ProblemFactory(project=project), ["Step one."])
    claim = assignment_claim_next(project=project, user=ann, kind=ItemKind.GRADE)
    node = str(trace.steps.get().node_id)
    grading_submit(
        assignment=claim,
        version=1,
        draft={"grades": {node: {"rating": 1}}},
        finish_reason="solution",
    )
    page = page_watch.page
    base = live_server.url

    # when she looks at any page, then her name in the menu bar is isolated
    log_in(page, base, TRICKY_NAME)
    name = page.locator("header.nav bdi")
    assert name.text_content() == SHOWN_NAME
    assert name.evaluate(ISOLATION) == "isolate"

    # and when the reviewer opens her work, her name in the table's header is isolated
    page.context.clear_cookies()
    log_in(page, base, "rev")
    page.goto(f"{base}/review/traces/{trace.pk}/")
    header = page.locator("thead th bdi")
    assert header.text_content() == SHOWN_NAME
    assert header.evaluate(ISOLATION) == "isolate"
    assert page_watch.page_errors == []
