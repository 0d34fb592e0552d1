"""Tree pages in headless Chromium against the live server: a 2,011-node tree (expand, collapse,
click, keyword filter), a long thought linking back to the tree, two rounds side by side."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from algorithms.long_thought import correct_paths, derive_long_thought
from algorithms.tree_search import ProblemSpec, Tree, record_wrong_verdicts
from annotation.core.models import Project, Role
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Problem
from annotation.trees.models import TreeNode
from annotation.trees.services import DerivedThought, long_thoughts_write, tree_round_record
from tests.factories import MembershipFactory, ProblemFactory, UserFactory
from workers.tasks import run_job

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


def big_tree(problem: Problem, *, correct_leaf: int) -> Tree:
    """1 root, 10 first steps, 100 second steps, 1,900 third steps (2,011 nodes); every 7th
    third step says "wait"; leaf ``correct_leaf`` answers correctly, every 10th leaf wrongly."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    for a in range(10):  # ids 1..10, level by level as the search builds them
        tree.add_child(0, f"Step A{a}: set up case {a}.").score = a / 10
    for a in range(10):  # ids 11..110
        for b in range(10):
            second = tree.add_child(1 + a, f"Step B{a}.{b}: reduce case {a}.{b}.")
            second.score = b / 10
            second.pruned = b > 3
    for parent in range(11, 111):
        for c in range(19):
            number = len(tree.nodes)
            word = "Wait, check it" if number % 7 == 0 else "Compute"
            leaf = tree.add_child(parent, f"{word} C{parent}.{c}: the answer is {number}.")
            leaf.score = c / 19
            if number == correct_leaf:
                leaf.final_answer, leaf.is_correct = "7", True
            elif number % 10 == 0:
                leaf.final_answer, leaf.is_correct = str(number), False
                leaf.reason = f"{number} is not the answer"
    record_wrong_verdicts(tree, wrong_below=0.5)  # as a tree job records them
    return tree


@pytest.fixture
def setup(db):
    project = Project.objects.create(name="trees e2e")
    researcher = UserFactory(username="res")
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    problems = [
        ProblemFactory(project=project, text=f"Find $x$ in problem {i}.", answer="7", level=i + 1)
        for i in range(2)
    ]
    first = tree_round_record(
        project=project,
        user=researcher,
        trees=[(p.pk, big_tree(p, correct_leaf=500)) for p in problems],
        label="policy@v1",
    )
    second = tree_round_record(
        project=project,
        user=researcher,
        trees=[(problems[0].pk, big_tree(problems[0], correct_leaf=2000))],
        label="policy@v2",
    )
    # a human grade on node 1 of the first problem's tree
    human = GradeSource.objects.create(kind=SourceKind.HUMAN, name="ann", user=UserFactory())
    node = TreeNode.objects.get(job=first, problem=problems[0], index=1)
    Grade.objects.create(
        node_id=node.node_id, source=human, rating=-1, critique="Case $0$ is empty."
    )
    # and a PRM run's score of it, unrounded as a model gives it
    prm = GradeSource.objects.create(kind=SourceKind.PRM, name="prm run 7")
    Grade.objects.create(node_id=node.node_id, source=prm, score=0.659707248210907)
    return project, problems, first, second


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "res")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def rows(page: Page) -> list[int]:
    return page.eval_on_selector_all(
        ".tree-row",
        "els => els.map((e) => [e.getBoundingClientRect().top, Number(e.dataset.index)])"
        ".sort((a, b) => a[0] - b[0]).map((pair) => pair[1])",
    )


def test_big_tree_expand_collapse_click_and_filter(live_server, setup, page: Page) -> None:
    # given
    _, problems, first, _ = setup
    base = live_server.url
    log_in(page, base)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # when: the tree opens with only the root expanded
    page.goto(f"{base}/trees/rounds/{first.pk}/problems/{problems[0].pk}/")
    page.wait_for_selector("[data-tree-view][data-ready=true]")

    # then
    count = page.locator("[data-role=count]")
    expect(count).to_have_text("2011 nodes · 11 shown")
    assert rows(page) == list(range(11))

    # expand all: every node is in the list, but only the rows in view are in the DOM
    started = time.perf_counter()
    page.click("[data-action=expand-all]")
    expect(count).to_have_text("2011 nodes · 2011 shown")
    expand_ms = (time.perf_counter() - started) * 1000
    in_dom = page.locator(".tree-row").count()
    assert 11 <= in_dom < 80
    assert expand_ms < 2000
    page.locator("[data-role=scroll]").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.tree-row')].some(r => r.dataset.index === '2010')"
    )

    # collapse all, then open node 1 by its toggle
    page.click("[data-action=collapse-all]")
    expect(count).to_have_text("2011 nodes · 11 shown")
    page.click(".tree-row[data-index='1'] .toggle")
    expect(count).to_have_text("2011 nodes · 21 shown")
    assert rows(page) == [0, 1, *range(11, 21), *range(2, 11)]

    # click a node: its text, scores and the human grade show in the panel
    page.click(".tree-row[data-index='1'] .tree-text")
    detail = page.locator("[data-role=detail]")
    expect(detail.locator("[data-testid=detail-title]")).to_have_text("Node 1 · depth 1")
    expect(detail.locator("[data-testid=detail-text]")).to_have_text("Step A0: set up case 0.")
    expect(detail.locator("[data-fact=score]")).to_have_text("0.0000")
    expect(detail.locator("[data-testid=human-grade]")).to_have_text("ann: -1")
    expect(detail.get_by_text("Human grades (1)")).to_be_visible()
    expect(detail.get_by_text("Model scores and imported labels (1)")).to_be_visible()
    expect(detail.locator("[data-testid=machine-grade]")).to_have_text("prm run 7: 0.6597")
    expect(detail.locator("[data-testid=human-critique] math")).to_have_count(1)

    # a judged wrong leaf shows its reason
    page.goto(f"{base}/trees/rounds/{first.pk}/problems/{problems[0].pk}/#node-120")
    page.wait_for_selector("[data-tree-view][data-ready=true]")
    expect(detail.locator("[data-testid=detail-reason]")).to_have_text("120 is not the answer")
    expect(page.locator(".tree-row[data-index='120']")).to_have_attribute("aria-selected", "true")

    # filter by keyword: the matches and their ancestors only
    page.fill("[data-control=keyword]", "wait")
    expected_matches = sum(1 for n in range(111, 2011) if n % 7 == 0)
    shown = 1 + 10 + 100 + expected_matches - 0  # every first/second step has a match below
    expect(count).to_have_text(f"2011 nodes · {shown} shown · {expected_matches} match")
    page.fill("[data-control=keyword]", "")
    expect(count).not_to_contain_text("match")

    # the correct path is bold and green-edged
    page.click("[data-action=collapse-all]")
    page.click("[data-action=expand-path]")
    on_path = page.eval_on_selector_all(
        ".tree-row.on-path", "els => els.map((e) => Number(e.dataset.index))"
    )
    assert sorted(on_path) == [0, 3, 31, 500]
    assert errors == []


def test_round_filter_long_thought_and_compare(live_server, setup, page: Page) -> None:
    # given a long thought derived from the first round's first tree
    project, problems, first, second = setup
    from annotation.trees.selectors.tree import load_tree

    tree = load_tree(first.pk, problems[0])
    thought = derive_long_thought(tree, correct_paths(tree)[0], k=2, seed=3)
    assert thought is not None
    lt_job = tree_round_record(project=project, user=None, trees=[], label="lt")
    _, draft = long_thoughts_write(
        job=lt_job, thoughts=[DerivedThought(problems[0].pk, first.pk, tree, thought, 3, 2)]
    )
    base = live_server.url
    log_in(page, base)

    # the round's problem list filters by keyword and by level
    page.goto(f"{base}/trees/rounds/{first.pk}/?keyword=C31.9%3A")
    expect(page.locator("[data-testid=round-problem]")).to_have_count(2)
    page.goto(f"{base}/trees/rounds/{first.pk}/?level=2")
    expect(page.locator("[data-testid=round-problem]")).to_have_count(1)
    page.goto(f"{base}/trees/rounds/{first.pk}/?keyword=no+such+text")
    expect(page.locator("[data-testid=round-problem]")).to_have_count(0)

    # the long thought: reflections highlighted, each step links to its tree node
    page.goto(f"{base}/trees/thoughts/{draft.pk}/?keywords=wait,answer")
    steps = page.locator("[data-testid=thought-step]")
    expect(steps).to_have_count(len(draft.metadata["tree_nodes"]))
    expect(page.locator("mark.kw[data-keyword=wait]").first).to_be_visible()
    links = page.locator("[data-testid=node-link]")
    first_index = draft.metadata["tree_nodes"][0]
    expect(links.first).to_have_text(f"node {first_index}")
    links.first.click()
    page.wait_for_selector("[data-tree-view][data-ready=true]")
    expect(page.locator("[data-role=detail] [data-testid=detail-title]")).to_contain_text(
        f"Node {first_index} "
    )

    # outputs filtered by keyword and correctness
    page.goto(f"{base}/projects/{project.pk}/trees/outputs/?correct=yes&keyword=Wait")
    expect(page.locator("[data-testid=output]")).to_have_count(1)
    page.goto(f"{base}/projects/{project.pk}/trees/outputs/?correct=no")
    expect(page.locator("[data-testid=output]")).to_have_count(0)

    # two rounds side by side, compared by a job (run here): only the problem both have
    page.goto(f"{base}/projects/{project.pk}/trees/compare/?a={first.pk}&b={second.pk}")
    page.get_by_test_id("analysis-refresh").click()
    expect(page.locator(".message")).to_contain_text("The analysis runs as job #")
    (job,) = Job.objects.filter(project=project, kind=JobKind.ROUND_COMPARISON)
    run_job.run(job.pk)
    page.reload()
    expect(page.get_by_test_id("analysis-status")).to_contain_text("the rounds are as they were")
    compared = page.locator("[data-testid=compare-row]")
    expect(compared).to_have_count(1)
    expect(compared.locator("td").first).to_have_text(problems[0].external_id)
    assert compared.locator("[data-correct]").evaluate_all(
        "els => els.map((e) => e.dataset.correct)"
    ) == ["1", "1"]

    # statistics: one bar per level with outputs
    page.goto(f"{base}/projects/{project.pk}/trees/stats/")
    expect(page.locator("[data-testid=chart-tokens] g.bar")).to_have_count(1)
    expect(page.locator("[data-testid=chart-kw-wait] g.bar")).to_have_count(1)
