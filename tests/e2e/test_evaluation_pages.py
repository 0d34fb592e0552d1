"""The evaluation pages in headless Chromium against the real server and PostgreSQL: the
comparison table with its calibration plot, the best-of-N plot, the human-AI queue, and
starting a Monte-Carlo job."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from annotation.core.models import Project, Role
from annotation.evaluation.analyses import analysis_start
from annotation.evaluation.models import SuggestionSetting
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from tests.support.data import import_processbench_rows, prompt
from workers.tasks import run_job

if TYPE_CHECKING:
    from conftest import PageWatch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"
# (ProcessBench label, PRM scores): 8 records, alternately calibration and evaluation traces.
RECORDS = [
    (1, [0.9, 0.3, 0.8]),
    (-1, [0.9, 0.8, 0.7]),
    (-1, [0.8, 0.9, 0.6]),
    (0, [0.2, 0.9, 0.9]),
    (2, [0.7, 0.75, 0.4]),
    (2, [0.95, 0.5, 0.55]),
    (-1, [0.7, 0.8, 0.9]),
    (1, [0.8, 0.1, 0.9]),
]


@pytest.fixture
def setup(db):
    project = Project.objects.create(name="evaluation e2e")
    for name, role in [("res", Role.RESEARCHER), ("adm", Role.ADMIN)]:
        MembershipFactory(project=project, user=UserFactory(username=name), role=role)
    traces = import_processbench_rows(
        project, [label for label, _ in RECORDS], lambda i: f"Problem {i}: is $x^{i} > 0$?"
    )
    for name, shift in (("tiny PRM <i>a</i>", 0.0), ("tiny judge", 0.05)):
        source = GradeSource.objects.create(kind=SourceKind.PRM, name=name)
        Grade.objects.bulk_create(
            Grade(
                node_id=step.node_id,
                source=source,
                trace=trace,
                score=min(1.0, scores[step.position] + shift),
            )
            for trace, (_, scores) in zip(traces, RECORDS, strict=True)
            for step in trace.steps.all()
        )
    return project, traces


def analysed(project: Project, kind: str) -> None:
    """The stored whole-project analysis the page shows, computed here (the task's body)."""
    run_job.run(analysis_start(project=project, kind=kind, user=None).pk)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_comparison_table_and_calibration_plot(live_server, setup, page_watch: PageWatch):
    project, _ = setup
    page = page_watch.page
    log_in(page, live_server.url, "res")
    # the project page links to the evaluation
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("text=Scorer evaluation")
    page.wait_for_url(re.compile(r"/evaluation/$"))
    # nothing stored yet: the page offers to compute it as a job, which runs here
    page.get_by_test_id("analysis-refresh").click()
    expect(page.locator(".message")).to_contain_text("The analysis runs as job #")
    (job,) = Job.objects.filter(project=project, kind="scorer_comparison")
    run_job.run(job.pk)
    page.reload()
    expect(page.get_by_test_id("analysis-status")).to_contain_text("no grade written since")
    table = page.get_by_test_id("comparison")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").first).to_have_text("tiny PRM <i>a</i>")
    expect(rows.nth(1).locator("td").first).to_have_text("tiny judge")
    for row in range(2):
        for metric in ("step_accuracy", "auroc", "error_acc", "correct_acc", "pb_f1"):
            cell = rows.nth(row).locator(f"td[data-metric={metric}]")
            expect(cell).to_have_text(re.compile(r"^[01]\.\d{3}$"))
    plot = page.get_by_test_id("calibration-plot").locator("svg")
    expect(plot).to_be_visible()
    expect(plot.locator("g.series")).to_have_count(2)
    expect(plot.locator("line.diagonal")).to_have_count(1)
    assert plot.locator("g.series[data-series='tiny PRM <i>a</i>'] circle").count() >= 3
    assert page.locator("svg i").count() == 0  # the name stayed text
    assert page_watch.page_errors == []


def test_best_of_n_plot(live_server, setup, page_watch: PageWatch):
    project, _ = setup
    prm = GradeSource.objects.get(name="tiny judge")
    for p, answers in enumerate([["4", "5", "5", "4"], ["1", "2", "2", "2"]]):
        problem = ProblemFactory(project=project, answer=answers[1])
        for s, answer in enumerate(answers):
            trace = trace_with_steps(
                problem,
                [f"sample {p}.{s}", f"so {answer}"],
                origin="model_sample",
                final_answer=answer,
                is_correct=answer == answers[1],
            )
            for step in trace.steps.all():
                Grade.objects.create(
                    node_id=step.node_id, source=prm, trace=trace, score=0.9 if s == 1 else 0.4
                )
    analysed(project, "best_of_n")
    page = page_watch.page
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/projects/{project.pk}/evaluation/")
    page.keyboard.press("b")
    page.wait_for_url(re.compile(r"/evaluation/best-of-n/$"))
    expect(page.get_by_test_id("problems")).to_have_text("2 problems with answer-graded samples.")
    plot = page.get_by_test_id("best-of-n-plot").locator("svg")
    # the two PRM sources by min, last, product and weighted vote, majority vote, the oracle
    expect(plot.locator("g.series")).to_have_count(10)
    oracle = page.locator("tr[data-series='oracle'] td")
    expect(oracle).to_have_text(["oracle", "0.000", "1.000", "1.000"])
    judge = page.locator("tr[data-series='tiny judge (min)'] td")
    expect(judge).to_have_text(["tiny judge (min)", "0.000", "1.000", "1.000"])
    majority = page.locator("tr[data-series='majority vote'] td")
    expect(majority).to_have_text(["majority vote", "0.000", "0.000", "0.500"])
    assert plot.locator("g.series[data-series='oracle'] circle").count() == 3
    assert page_watch.page_errors == []


def test_queue_orders_by_disagreement_and_switches_suggestions(
    live_server, setup, page_watch: PageWatch
):
    project, traces = setup
    analysed(project, "disagreement_queue")
    page = page_watch.page
    log_in(page, live_server.url, "adm")
    page.goto(f"{live_server.url}/projects/{project.pk}/evaluation/queue/")
    rows = page.get_by_test_id("disagreement").locator("tbody tr")
    expect(rows).to_have_count(len(traces))
    # record 5 has a step scored 0.5 and 0.55: the most uncertain trace comes first
    expect(rows.first).to_have_attribute("data-trace", str(traces[5].pk))
    checkbox = page.locator("input[name=shown]")
    expect(checkbox).not_to_be_checked()
    checkbox.check()
    page.click("text=Save")
    expect(page.locator(".message")).to_have_text(
        "Machine suggestions are now shown to annotators."
    )
    expect(page.locator("input[name=shown]")).to_be_checked()
    project.refresh_from_db()
    assert project.show_machine_suggestions is True
    assert SuggestionSetting.objects.filter(project=project, shown=True).count() == 1


def test_starting_a_monte_carlo_job_from_the_page(live_server, setup, page_watch: PageWatch):
    project, traces = setup
    model_config_create(
        project=project, name="policy", kind="transformers", path_or_endpoint="/models/tiny"
    )
    prompt(project, PromptPurpose.SAMPLE)
    page = page_watch.page
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/projects/{project.pk}/evaluation/monte-carlo/")
    page.select_option("select[name=mode]", "binary_search")
    page.select_option("select[name=model]", label="policy@v1")
    page.select_option("select[name=prompt]", index=1)
    page.fill("input[name=n]", "4")
    page.fill("input[name=limit]", "3")
    page.click("text=Start the job")
    page.wait_for_url(re.compile(r"/evaluation/jobs/\d+/rollouts/$"))
    job = Job.objects.get(project=project, kind=JobKind.MONTE_CARLO)
    assert job.params["trace_ids"] == [t.pk for t in traces[:3]]
    assert (job.params["mode"], job.params["n"]) == ("binary_search", 4)
    expect(page.locator("h1")).to_have_text(f"Monte-Carlo labels job {job.pk}")
    # queued (no worker here): the page says so, and will show the rollouts when the job ends
    expect(page.get_by_test_id("job-phase")).to_have_text("Waiting for a worker to take the job.")
    expect(page.get_by_test_id("outputs-pending")).to_be_visible()
    # the evaluation page lists the job
    page.goto(f"{live_server.url}/projects/{project.pk}/evaluation/")
    page.click(f"text=#{job.pk}")
    page.wait_for_url(f"{live_server.url}/evaluation/jobs/{job.pk}/rollouts/")


def test_rollouts_page_shows_each_completion_rendered(live_server, setup, page_watch: PageWatch):
    from annotation.evaluation.services import monte_carlo_job_start
    from workers.runners.monte_carlo import run_monte_carlo

    project, _ = setup
    problem = ProblemFactory(project=project, answer="2")
    trace = trace_with_steps(problem, ["Let $x = 1$.", "Then $x + 1 = 2$."])
    job = monte_carlo_job_start(
        project=project,
        user=None,
        model=model_config_create(
            project=project, name="policy", kind="transformers", path_or_endpoint="/m"
        ),
        prompt=prompt(project, PromptPurpose.SAMPLE),
        trace_ids=[trace.pk],
        n=2,
    )
    Job.objects.filter(pk=job.pk).update(status="running")

    def policy(prompts, n):
        return [[("So $\\boxed{2}$.", 4), ("<script>window.__xss = 1</script> 3", 4)]] * len(
            prompts
        )

    run_monte_carlo(job, policy)
    Job.objects.filter(pk=job.pk).update(status="succeeded")  # as the task does after the runner
    page = page_watch.page
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/evaluation/jobs/{job.pk}/rollouts/")
    rows = page.get_by_test_id("rollouts").locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.locator("td.good")).to_have_count(2)
    expect(rows.locator("td.bad")).to_have_count(2)
    page.wait_for_function(
        "() => document.querySelectorAll('.user-content[data-render]:not([data-rendered])')"
        ".length === 0"
    )
    assert page.locator(".rollout-text .katex").count() == 2
    assert page_watch.xss_canary() is None
