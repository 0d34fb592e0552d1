"""Script payloads in a problem, a step and a comment render as text on workspace pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from annotation.core.models import Project, Role
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.reviews import assignment_review
from annotation.workspace.services.saves import grading_submit
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALL_RENDERED = (
    "() => document.querySelectorAll('.user-content[data-render]:not([data-rendered])')"
    ".length === 0"
)
PAYLOADS = "\n\n".join(
    [
        "<script>window.__xss = 'script'</script>",
        "<img src=x onerror=\"window.__xss = 'onerror'\">",
        "[click me](javascript:window.__xss='link')",
        "<a href=\"javascript:window.__xss='a'\">raw link</a>",
        "$\\href{javascript:window.__xss='href'}{x}$",
        "$$\\url{javascript:window.__xss='url'}$$",
        '<div hx-get="/logout/" hx-trigger="load">htmx</div>',
        "\"><svg onload=window.__xss='svg'>",
    ]
)
DANGEROUS = """() => [...document.querySelectorAll('.user-content *')].filter((el) =>
    ['SCRIPT', 'IMG', 'SVG', 'IFRAME'].includes(el.tagName.toUpperCase()) ||
    [...el.attributes].some((a) => a.name.startsWith('on') || a.name.startsWith('hx-') ||
      /^\\s*javascript:/i.test(a.value))).length"""


def test_payloads_render_as_text(live_server, page_watch: PageWatch):
    # given a problem, a step, a critique and a review comment full of payloads
    project = Project.objects.create(name="xss", guidelines=PAYLOADS)
    ann, rev = UserFactory(username="ann"), UserFactory(username="rev")
    MembershipFactory(project=project, user=ann, role=Role.ANNOTATOR)
    MembershipFactory(project=project, user=rev, role=Role.REVIEWER)
    problem = ProblemFactory(project=project, text=f"Problem.\n\n{PAYLOADS}", answer=PAYLOADS)
    trace = trace_with_steps(problem, [f"Step one.\n\n{PAYLOADS}", "Step two."])
    claim = assignment_claim_next(project=project, user=ann, kind=ItemKind.GRADE)
    nodes = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    grading_submit(
        assignment=claim,
        version=1,
        draft={"grades": {nodes[0]: {"rating": -1, "critique": f"Critique.\n\n{PAYLOADS}"}}},
        finish_reason="found_error",
    )
    claim.refresh_from_db()
    assignment_review(assignment=claim, reviewer=rev, decision="rejected", comment=PAYLOADS)
    page = page_watch.page
    base = live_server.url
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    for username, path in [("ann", f"/work/{claim.pk}/"), ("rev", f"/review/traces/{trace.pk}/")]:
        page.context.clear_cookies()
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "pw-for-tests")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")

        # when the page renders them
        page.goto(f"{base}{path}")
        page.wait_for_function(ALL_RENDERED)
        page.click("details.ground-truth summary")
        for link in page.locator(".user-content a").all():
            link.click(modifiers=["Control"])  # any link left must not run script
        page.wait_for_timeout(300)

        # then they show as text and nothing ran
        expect(page.locator(".problem-card")).to_contain_text(
            "<script>window.__xss = 'script'</script>"
        )
        expect(page.locator(".problem-card")).to_contain_text('onerror="window.__xss')
        assert page.evaluate(DANGEROUS) == 0
        assert page_watch.xss_canary() is None
        assert dialogs == []
        assert page_watch.page_errors == []

    # the critique and the review comment were on the review page, as text
    expect(page.locator(".review-table")).to_contain_text(
        "<script>window.__xss = 'script'</script>"
    )
    expect(page.locator(".review-card")).to_contain_text("<svg onload=window.__xss='svg'>")
    expect(page).to_have_url(f"{base}/review/traces/{trace.pk}/")  # htmx did not log us out
