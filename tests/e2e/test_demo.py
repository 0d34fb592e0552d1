"""The first day, in headless Chromium, from `load_demo` alone with the tiny demo model built
in the session and a real Celery worker:

- a researcher runs a sample, an expand, a score, a tree and a long-thought job from the
  browser, and each job page reaches "Succeeded" with its outputs and without Cancel, with no
  reload;
- an admin makes a project, adds a member with a role, imports a file and exports it, through
  the pages only;
- no page of the demo shows unrendered TeX.

With STEPWISE_SCREENSHOTS=DIR set, the pages are also saved as PNGs at 1366 and 800 px wide.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from annotation.core.models import Project
from annotation.jobs.models import Job, JobKind
from annotation.problems.models import Trace
from annotation.trees.models import TreeNode
from tests.support.worker import WorkerProcess
from workers.demo_model import build_demo_model

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.models]

SUCCEEDED_WITHIN_MS = 300_000  # a guard against a stuck job, not a speed check
ALL_RENDERED = (
    "() => document.querySelectorAll('.user-content[data-render]:not([data-rendered])')"
    ".length === 0"
)
SHOTS = os.environ.get("STEPWISE_SCREENSHOTS")
WIDTHS = (1366, 800)
# Text a person reads: not code, not form fields.
VISIBLE_TEXT = """() => {
  const skip = "pre, code, script, style, template, textarea, select, option, noscript";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => {
      const parent = node.parentElement;
      if (!parent || parent.closest(skip)) return NodeFilter.FILTER_REJECT;
      return parent.getClientRects().length ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT;
    },
  });
  const parts = [];
  while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
  return parts.join(" ");
}"""
RAW_TEX = re.compile(
    r"\$[^$\s][^$]*?\$"  # $...$ left as text
    r"|\\(?:frac|dfrac|boxed|cdot|circ|binom|sqrt|times|neq?|le|ge)\b"  # TeX commands
    r"|\\[()\[\]]"  # \( \) \[ \]
)


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_model(tmp_path_factory.mktemp("demo") / "demo-model")


@pytest.fixture(scope="module")
def worker(shared_worker: WorkerProcess) -> WorkerProcess:
    return shared_worker


@pytest.fixture
def demo(transactional_db: None, demo_model: Path) -> Project:
    call_command("load_demo", model_dir=demo_model, stdout=io.StringIO())
    return Project.objects.get(name="Demo: school math")


def log_in(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def shoot(page: Page, name: str) -> None:
    """Save the page at each width when STEPWISE_SCREENSHOTS names a directory."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1280, "height": 900}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def watch_succeed(page: Page) -> None:
    """The job page, loaded once, reaches Succeeded by itself, shows its outputs, no Cancel."""
    expect(page.get_by_test_id("job-state")).to_have_text("Succeeded", timeout=SUCCEEDED_WITHIN_MS)
    expect(page.get_by_test_id("job-cancel")).to_have_count(0)
    expect(page.get_by_test_id("outputs-pending")).to_have_count(0)
    assert page.evaluate("() => window.__sameDocument") is True, "the page was reloaded"
    page.wait_for_function(ALL_RENDERED)


def submit_and_watch(page: Page, job_url: re.Pattern[str]) -> int:
    page.locator("form.stack button[type=submit], form.card button[type=submit]").first.click()
    page.wait_for_url(job_url)
    page.evaluate("() => { window.__sameDocument = true; }")
    job_id = int(re.search(r"/(\d+)/$", page.url).group(1))  # type: ignore[union-attr]
    watch_succeed(page)
    return job_id


def test_a_researcher_runs_every_model_job_from_the_browser_on_the_demo_model(
    live_server, demo: Project, worker: WorkerProcess, page: Page
) -> None:
    base = live_server.url
    log_in(page, base, "researcher")
    llm_job = re.compile(r"/llm/jobs/\d+/$")

    # a sample job: 2 problems, 2 samples each
    page.goto(f"{base}/projects/{demo.pk}/llm/")
    page.click("text=Sample solutions")
    page.select_option("select[name=model]", label="demo-tiny-lm@v1")
    page.select_option("select[name=prompt]", label="step-by-step solution")
    page.fill("input[name=n]", "2")
    page.fill("input[name=limit]", "2")
    page.fill("input[name=max_tokens]", "8")
    sample = submit_and_watch(page, llm_job)
    expect(page.get_by_test_id("output")).to_have_count(4)
    expect(page.get_by_test_id("demo-model-note")).to_be_visible()
    shoot(page, "job-sample")

    # an expansion of the demo's thought record
    page.goto(f"{base}/projects/{demo.pk}/llm/")
    page.click("text=Expand records")
    page.select_option("select[name=mode]", "expand")
    page.select_option("select[name=model]", label="demo-tiny-lm@v1")
    page.select_option("select[name=prompt]", label="o1-journey expansion")
    page.fill("input[name=limit]", "1")
    page.fill("input[name=max_tokens]", "8")
    submit_and_watch(page, llm_job)
    expect(page.get_by_test_id("output")).to_have_count(1)
    expect(page.get_by_test_id("output")).to_contain_text("Source: Human thought record")
    shoot(page, "job-expand")

    # the demo PRM scores the imported solutions
    page.goto(f"{base}/projects/{demo.pk}/llm/")
    page.click("text=Score steps")
    page.select_option("select[name=scorer]", label="demo-tiny-prm@v1")
    page.select_option("select[name=origin]", "imported")
    score = submit_and_watch(page, llm_job)
    expect(page.get_by_test_id("scored")).to_have_count(3)
    expect(page.locator("[data-result=grades] td")).to_have_text("11")

    # a small tree of one problem
    page.goto(f"{base}/projects/{demo.pk}/trees/")
    page.click("text=Build trees")
    page.select_option("select[name=model]", label="demo-tiny-lm@v1")
    page.select_option("select[name=scorer]", label="demo-tiny-prm@v1")
    for name, value in [("limit", "1"), ("width", "2"), ("keep", "2"), ("max_depth", "2")]:
        page.fill(f"input[name={name}]", value)
    page.fill("input[name=max_tokens]", "6")
    tree = submit_and_watch(page, re.compile(r"/trees/jobs/\d+/$"))
    expect(page.get_by_test_id("round-problem")).to_have_count(1)
    expect(page.get_by_test_id("round-link")).to_have_attribute("href", f"/trees/rounds/{tree}/")
    expect(page.get_by_test_id("job-chunks")).to_be_visible()
    shoot(page, "job-tree")

    # long thoughts from the demo round, rewritten by the demo model
    demo_round = Job.objects.get(project=demo, kind=JobKind.TREE, params__recorded=True)
    page.goto(f"{base}/projects/{demo.pk}/trees/")
    page.click("text=Derive long thoughts")
    page.select_option("select[name=tree_job]", str(demo_round.pk))
    page.fill("input[name=k]", "2")
    page.fill("input[name=max_paths]", "1")
    page.select_option("select[name=rewriter]", label="demo-tiny-lm@v1")
    page.fill("input[name=max_tokens]", "8")
    thoughts = submit_and_watch(page, re.compile(r"/trees/jobs/\d+/$"))
    # both demo trees have a correct leaf: a shortcut, a draft and a rewrite of the first
    # correct path each
    expect(page.get_by_test_id("output")).to_have_count(6)
    shoot(page, "job-long-thought")

    # and the database agrees with the pages
    assert Trace.objects.filter(job_id=sample).count() == 4
    assert Job.objects.get(pk=score).result["traces"] == 3
    assert TreeNode.objects.filter(job_id=tree, index=0).count() == 1
    assert Trace.objects.filter(job_id=thoughts, metadata__kind="rewrite").count() == 2


def test_an_admin_makes_a_project_adds_a_member_imports_and_exports_through_the_pages(
    live_server, demo: Project, worker: WorkerProcess, page: Page, tmp_path: Path
) -> None:
    base = live_server.url
    log_in(page, base, "admin")

    # a new project
    page.get_by_test_id("new-project").click()
    page.fill("input[name=name]", "Fractions")
    page.fill("textarea[name=guidelines]", "Grade each step; $\\frac{1}{2}$ is a half.")
    page.fill("input[name=overlap]", "1")
    page.get_by_role("button", name="Create the project").click()
    page.wait_for_url(re.compile(r"/projects/\d+/settings/$"))
    project = Project.objects.get(name="Fractions")
    shoot(page, "project-settings")

    # a member with a role
    member_form = page.get_by_test_id("member-form")
    member_form.locator("input[name=username]").fill("annotator")
    member_form.locator("select[name=role]").select_option("reviewer")
    member_form.get_by_role("button", name="Add").click()
    row = page.locator("[data-testid=member][data-username=annotator]")
    expect(row.locator("select[name=role]")).to_have_value("reviewer")
    assert project.memberships.get(user__username="annotator").role == "reviewer"

    # an import
    data = tmp_path / "fractions.jsonl"
    rows = [
        {
            "problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
            "solution": "$\\boxed{\\frac{3}{4}}$",
            "subject": "Prealgebra",
            "level": 1,
            "unique_id": "fractions/1.json",
        },
        {
            "problem": "What is $\\frac{2}{3}$ of $9$?",
            "solution": "$\\boxed{6}$",
            "subject": "Prealgebra",
            "level": 1,
            "unique_id": "fractions/2.json",
        },
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page.goto(f"{base}/projects/{project.pk}/")
    page.click("text=Import data")
    page.select_option("select[name=format]", "math")
    page.set_input_files("input[name=file]", str(data))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    page.evaluate("() => { window.__sameDocument = true; }")
    watch_succeed(page)
    expect(page.locator("[data-result=problems_created] td")).to_have_text("2")

    # an export of what was imported
    page.goto(f"{base}/projects/{project.pk}/")
    page.click("text=Export data")
    page.select_option("select[name=format]", "math")
    page.get_by_role("button", name="Export").click()
    page.wait_for_url(re.compile(r"/exports/\d+/$"))
    page.evaluate("() => { window.__sameDocument = true; }")
    watch_succeed(page)
    files = page.get_by_test_id("export-file")
    expect(files).to_have_count(2)  # the train split and the manifest
    expect(page.get_by_test_id("left-out-none")).to_be_visible()
    shoot(page, "job-export")
    link = files.first.locator("a")
    expect(link).to_have_text("math-train.jsonl")
    body = page.request.get(f"{base}{link.get_attribute('href')}").text()
    assert [json.loads(line)["unique_id"] for line in body.splitlines()] == [
        "fractions/1.json",
        "fractions/2.json",
    ]
    page.click("text=Export data")
    shoot(page, "export-page")

    # an export of the demo that leaves traces out says which and why
    page.goto(f"{base}/projects/{demo.pk}/export/")
    page.select_option("select[name=format]", "trl-stepwise")
    page.get_by_role("button", name="Export").click()
    page.wait_for_url(re.compile(r"/exports/\d+/$"))
    page.evaluate("() => { window.__sameDocument = true; }")
    watch_succeed(page)
    reasons = page.get_by_test_id("left-out").locator("tr[data-reason]")
    expect(reasons).to_have_count(2)
    # (the job's result is JSONB, whose key order is its own: compare as a set)
    assert {r.get_attribute("data-reason") for r in reasons.all()} == {
        "not_fully_graded",
        "after_error",
    }
    shoot(page, "job-export-left-out")


def demo_pages(project: Project) -> dict[str, list[tuple[str, str]]]:
    """(name, path) of every page of the demo, by the user who sees it."""
    p = project.pk
    round_job = Job.objects.get(project=project, kind=JobKind.TREE, params__recorded=True)
    thought_job = Job.objects.get(project=project, kind=JobKind.LONG_THOUGHT)
    problems = TreeNode.objects.filter(job=round_job, index=0).values_list("problem_id", flat=True)
    thoughts = Trace.objects.filter(job=thought_job).order_by("pk")
    models = project.model_configs.order_by("pk")
    prompts = project.prompt_templates.order_by("pk")
    researcher = [
        ("home", "/"),
        ("project", f"/projects/{p}/"),
        ("llm", f"/projects/{p}/llm/"),
        *[(f"start-{k}", f"/projects/{p}/llm/start/{k}/") for k in ("sample", "expand", "score")],
        *[(f"model-{m.pk}", f"/llm/models/{m.pk}/") for m in models],
        *[(f"prompt-{t.pk}", f"/llm/prompts/{t.pk}/") for t in prompts],
        ("trees", f"/projects/{p}/trees/"),
        ("trees-start", f"/projects/{p}/trees/start/"),
        ("thoughts-start", f"/projects/{p}/trees/long-thoughts/start/"),
        ("round", f"/trees/rounds/{round_job.pk}/"),
        *[
            (f"tree-{i}", f"/trees/rounds/{round_job.pk}/problems/{pid}/")
            for i, pid in enumerate(sorted(problems))
        ],
        *[(f"thought-{t.metadata['kind']}", f"/trees/thoughts/{t.pk}/") for t in thoughts],
        ("outputs", f"/projects/{p}/trees/outputs/"),
        ("stats", f"/projects/{p}/trees/stats/"),
        ("compare", f"/projects/{p}/trees/compare/?a={round_job.pk}&b={round_job.pk}"),
        ("evaluation", f"/projects/{p}/evaluation/"),
        ("best-of-n", f"/projects/{p}/evaluation/best-of-n/"),
        ("monte-carlo", f"/projects/{p}/evaluation/monte-carlo/"),
        ("human-ai-queue", f"/projects/{p}/evaluation/queue/"),
        ("training", f"/projects/{p}/training/"),
        *[(f"train-{m}", f"/projects/{p}/training/start/{m}/") for m in ("sft", "dpo", "grpo")],
        ("training-evaluate", f"/projects/{p}/training/evaluate/"),
        ("jobs", f"/projects/{p}/jobs/"),
        *[(f"job-{j.kind}-{j.pk}", f"/jobs/{j.pk}/") for j in project.jobs.order_by("pk")],
        ("tokens", "/account/tokens/"),
    ]
    admin = [
        ("import", f"/projects/{p}/import/"),
        ("export", f"/projects/{p}/export/"),
        ("settings", f"/projects/{p}/settings/"),
        ("dashboard", f"/projects/{p}/dashboard/"),
        ("quality", f"/projects/{p}/quality/"),
        ("review", f"/projects/{p}/review/"),
    ]
    reviewer = [
        ("review-as-reviewer", f"/projects/{p}/review/"),
        ("dashboard-as-reviewer", f"/projects/{p}/dashboard/"),
        ("quality-as-reviewer", f"/projects/{p}/quality/"),
    ]
    annotator = [("work", f"/projects/{p}/work/")]
    return {"researcher": researcher, "admin": admin, "reviewer": reviewer, "annotator": annotator}


def raw_tex_on(page: Page) -> list[str]:
    page.wait_for_function(ALL_RENDERED)
    if page.locator("[data-tree-view]").count():
        page.wait_for_selector("[data-tree-view][data-ready=true]")
        page.click("[data-action=expand-all]")
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    return RAW_TEX.findall(page.evaluate(VISIBLE_TEXT))


def test_no_page_of_the_demo_shows_unrendered_tex(live_server, demo: Project, page: Page) -> None:
    base = live_server.url
    found: dict[str, list[str]] = {}
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for username, pages in demo_pages(demo).items():
        log_in(page, base, username)
        for name, path in pages:
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (name, path)
            if raw := raw_tex_on(page):
                found[name] = raw
            if name in ("tree-0", "thought-draft", "thought-rewrite", "round", "trees"):
                shoot(page, f"page-{name}")
        if username == "annotator":  # the grading and thought-record editors of a claim
            for key in ("n", "r"):
                page.goto(f"{base}/projects/{demo.pk}/work/")
                page.keyboard.press(key)
                page.wait_for_url(re.compile(r"/work/\d+/$"))
                if raw := raw_tex_on(page):
                    found[f"claim-{key}"] = raw
    assert found == {}, f"unrendered TeX: {found}"
    # a leaf of the demo tree: its detail panel shows the answer and the judge's reason
    log_in(page, base, "researcher")
    round_job = Job.objects.get(project=demo, kind=JobKind.TREE, params__recorded=True)
    problem = min(TreeNode.objects.filter(job=round_job).values_list("problem_id", flat=True))
    page.goto(f"{base}/trees/rounds/{round_job.pk}/problems/{problem}/#node-10")
    page.wait_for_selector("[data-tree-view][data-ready=true]")
    expect(page.locator("[data-testid=detail-reason] math")).to_have_count(1)
    expect(page.locator("[data-fact='final answer'] math")).to_have_count(1)
    found_detail = raw_tex_on(page)
    shoot(page, "page-tree-detail")
    assert found_detail == []
    assert errors == []
