"""Two ways of making a long thought side by side in headless Chromium: a proposal-critique
loop and a policy-critic dialogue on the same problem, each with its actions, steps linking to
the loop's tree (whose rows say each node's kind)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Project, Role
from annotation.jobs.models import JobKind
from annotation.problems.models import Origin, Trace
from tests.factories import MembershipFactory, ProblemFactory, UserFactory
from tests.trees.conftest import dialogue_result, proposal_result, steered_round

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


@pytest.fixture
def setup(db):
    project = Project.objects.create(name="methods e2e")
    researcher = UserFactory(username="res")
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    problem = ProblemFactory(project=project, text="Solve $3x = 6$.", answer="2")
    proposal = steered_round(problem, JobKind.PROPOSAL_CRITIQUE, proposal_result(problem))
    dialogue = steered_round(problem, JobKind.POLICY_CRITIC, dialogue_result(problem))
    return (
        problem,
        Trace.objects.get(job=proposal, origin=Origin.LONG_THOUGHT),
        Trace.objects.get(job=dialogue, origin=Origin.LONG_THOUGHT),
    )


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "res")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_both_methods_side_by_side_on_one_problem(live_server, setup, page: Page) -> None:
    # given the proposal-critique long thought of a problem
    problem, proposal, dialogue = setup
    base = live_server.url
    log_in(page, base)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/trees/thoughts/{proposal.pk}/")
    expect(page.locator("[data-testid=thought-method]")).to_contain_text(
        "Method: proposal-critique"
    )
    expect(page.locator("[data-testid=transcript] [data-testid=turn]")).to_have_count(4)

    # when: from it, the methods side by side, the dialogue chosen on the right
    page.click("[data-testid=methods-link]")
    page.wait_for_url(f"**/trees/problems/{problem.pk}/methods/?a={proposal.pk}")
    page.select_option("[data-testid=choose-b]", str(dialogue.pk))
    page.click("[data-testid=methods-form] button[type=submit]")
    page.wait_for_url(f"**/trees/problems/{problem.pk}/methods/?a={proposal.pk}&b={dialogue.pk}*")

    # then: the two long thoughts, each with its method, actions and steps
    sides = page.locator("[data-testid=method-side]")
    expect(sides).to_have_count(2)
    left, right = sides.nth(0), sides.nth(1)
    expect(left).to_have_attribute("data-method", "proposal_critique")
    expect(right).to_have_attribute("data-method", "policy_critic")
    expect(left.locator("h2 a")).to_have_text("proposal-critique")
    expect(right.locator("h2 a")).to_have_text("policy-critic")
    expect(left.locator("[data-testid=side-actions]")).to_have_text(
        "1 reflection, 1 backtrack, 0 wrong answers"
    )
    expect(right.locator("[data-testid=side-actions]")).to_have_text(
        "1 reflection, 0 backtracks, 0 wrong answers"
    )
    assert left.locator("[data-testid=side-step]").evaluate_all(
        "els => els.map((e) => e.dataset.kind)"
    ) == ["step", "backtrack", "backtrack", "reflection", "conclusion"]  # the backtrack in words
    assert right.locator("[data-testid=side-step]").evaluate_all(
        "els => els.map((e) => e.dataset.kind)"
    ) == ["step", "reflection", "step"]
    expect(right.locator("[data-testid=side-step]").nth(1)).to_contain_text(
        "Wait, this doesn't look right: 3 * 3 is 9."
    )
    # both columns are on screen at once, side by side
    left_box, right_box = left.bounding_box(), right.bounding_box()
    assert left_box is not None and right_box is not None
    assert left_box["x"] + left_box["width"] <= right_box["x"]
    assert abs(left_box["y"] - right_box["y"]) < 1

    # a step links to its node in the loop's tree, whose rows say each node's kind
    left.locator("[data-testid=side-step]").nth(1).locator("a").click()
    page.wait_for_selector("[data-tree-view][data-ready=true]")
    page.click("[data-action=expand-all]")
    expect(page.locator(".tree-row[data-index='2']")).to_have_attribute("data-kind", "backtrack")
    expect(page.locator("[data-role=detail] [data-fact=kind]")).to_have_text("backtrack")
    assert errors == []
