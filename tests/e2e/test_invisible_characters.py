"""Invisible characters left in a problem and a step are shown as marks on the grading page,
after render.js has rendered the text (annotation/core/templatetags/shown_visibly.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from annotation.core.models import Project, Role
from annotation.core.text_policy import INVISIBLE
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from tests.e2e.pages import ALL_RENDERED, log_in
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MARKS = """() => [...document.querySelectorAll('.user-content .invisible-char')].map(
    (el) => [el.textContent, el.title])"""


def test_invisible_characters_show_as_marks_after_rendering(live_server, page_watch: PageWatch):
    # given a problem and a step that hold a zero-width space, one also in math
    project = Project.objects.create(name="invisible")
    ann = UserFactory(username="ann")
    MembershipFactory(project=project, user=ann, role=Role.ANNOTATOR)
    problem = ProblemFactory(project=project, text="What is **6 times 7**?\u200b", answer="42")
    trace_with_steps(problem, ["It is 4\u200b2, so $x = 42$.", "Done."])
    claim = assignment_claim_next(project=project, user=ann, kind=ItemKind.GRADE)
    assert claim is not None
    page = page_watch.page
    log_in(page, live_server.url, "ann")

    # when the grading page renders them
    page.goto(f"{live_server.url}/work/{claim.pk}/")
    page.wait_for_function(ALL_RENDERED)

    # then each is a mark with its code point, the markdown and math around it still rendered
    marks = page.evaluate(MARKS)
    assert marks[:2] == [
        ["⟦U+200B⟧", "U+200B: an invisible character"],
        ["⟦U+200B⟧", "U+200B: an invisible character"],
    ]
    assert page.locator(".problem-card .user-content strong").first.text_content() == "6 times 7"
    assert page.locator(".user-content .katex").count() >= 1
    shown = page.evaluate("() => document.querySelector('main').innerText")
    assert INVISIBLE.search(shown) is None
    assert page_watch.page_errors == []
