"""The first day on `make run`'s embedded default, in headless Chromium: a SQLite file, the
filesystem broker and one solo worker, each started the way the Makefile starts it (no
DATABASE_URL, no CELERY_BROKER_URL, a var/ directory of its own).

While an admin imports a PRM800K file from the Import page, an annotator grades and submits
and a researcher starts a long-thought job; then a reviewer reviews and the admin exports what
was imported. No request answers 5xx, and no log mentions a locked database.

The test process's own Django (PostgreSQL) is not used: the site runs in subprocesses, and the
SQLite file is read directly at the end (table names from the models' metadata).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from annotation.core.models import Project
from annotation.datasets.management.commands.load_demo import DEMO_PROJECT
from annotation.jobs.models import Job
from annotation.problems.models import Trace
from tests.conftest import PRM800K_DIR
from tests.support.worker import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.models]

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERY = str(Path(sys.executable).with_name("celery"))
JOB_ENDS_WITHIN_MS = 300_000  # a guard against a stuck job, not a speed check
# Copies of PRM800K's sample rows (each a problem of its own), so that the import runs long
# enough for the others' writes to meet it.
COPIES = 40
LOCK_WORDS = re.compile(r"database is locked|database table is locked|OperationalError")


@dataclass
class FirstDay:
    base: str
    var: Path
    server_log: Path
    worker_log: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def logs(self) -> str:
        return self.server_log.read_text(errors="replace") + self.worker_log.read_text(
            errors="replace"
        )

    def value(self, sql: str, *args: object) -> int:
        """One number from the site's SQLite file."""
        with sqlite3.connect(self.var / "stepwise.sqlite3", timeout=30) as db:
            return int(db.execute(sql, args).fetchone()[0])


def make_run_environment(var: Path) -> dict[str, str]:
    """What `make run` gives its processes: the defaults, in a var/ of the test's own."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    # PYTHONPATH: this checkout's code, whichever checkout the venv was installed from
    env.update({"STEPWISE_VAR_DIR": str(var), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(BASE_DIR)})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def first_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstDay]:
    var = tmp_path_factory.mktemp("make-run-var")
    (var / "secret_key").write_text("first-day-secret-" + "x" * 40)
    (var / "log").mkdir()
    env = make_run_environment(var)
    demo_model = var / "demo-model"

    def manage(*args: str) -> None:
        subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)

    # make demo: migrate, the demo model, load_demo
    manage("migrate", "--noinput", "-v", "0")
    subprocess.run(
        [PYTHON, "-m", "workers.demo_model", str(demo_model)], cwd=BASE_DIR, env=env, check=True
    )
    manage("load_demo", "--model-dir", str(demo_model))
    day = FirstDay(
        base=f"http://127.0.0.1:{free_port()}",
        var=var,
        server_log=var / "log" / "server.log",
        worker_log=var / "log" / "worker.log",
    )
    # make run's worker (in the foreground here, so that the test can stop it)
    worker = [CELERY, "-A", "workers.celery_app", "worker", "-Q", "default,gpu", "--pool", "solo"]
    worker += ["--concurrency", "1", "--loglevel", "INFO", "--logfile", str(day.worker_log)]
    day.processes.append(subprocess.Popen(worker, cwd=BASE_DIR, env=env, start_new_session=True))
    # make run's server; without the autoreloader, which would poll every file every second
    address = day.base.removeprefix("http://")
    with day.server_log.open("ab") as log:
        day.processes.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "runserver", address, "--noreload"],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        wait_until(lambda: answers(f"{day.base}/login/"), 120, what="the server", interval_s=0.5)
        wait_until(
            lambda: day.worker_log.exists() and " ready." in day.worker_log.read_text(),
            120,
            what="the worker",
            interval_s=0.5,
        )
        yield day
    finally:
        for process in day.processes:
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in day.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=30)


@dataclass
class Person:
    page: Page
    failures: list[str]


def person(browser: Browser, day: FirstDay, username: str) -> Person:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(60_000)  # the machine is loaded; pages wait for SQLite's lock
    page = context.new_page()
    failures: list[str] = []

    def on_response(response: Response) -> None:
        if response.status >= 500:
            failures.append(
                f"{username}: {response.status} {response.request.method} {response.url}"
            )

    page.on("response", on_response)
    page.on("pageerror", lambda error: failures.append(f"{username}: page error {error}"))
    page.goto(f"{day.base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{day.base}/")
    return Person(page, failures)


def prm800k_file(path: Path) -> Path:
    rows = [json.loads(line) for line in (PRM800K_DIR / "prm800k_raw_samples.jsonl").open()]
    with path.open("w") as out:
        for copy in range(COPIES):
            for row in rows:
                row = json.loads(json.dumps(row))
                row["question"]["problem"] += f" (copy {copy})"
                out.write(json.dumps(row) + "\n")
    return path


def watch_end(page: Page, state: str = "Succeeded") -> None:
    """The job page, loaded once, reaches its end by itself, without Cancel."""
    page.evaluate("() => { window.__sameDocument = true; }")
    expect(page.get_by_test_id("job-state")).to_have_text(state, timeout=JOB_ENDS_WITHIN_MS)
    expect(page.get_by_test_id("job-cancel")).to_have_count(0)
    assert page.evaluate("() => window.__sameDocument") is True, "the page was reloaded"


def test_everyone_works_at_once_on_make_runs_sqlite_and_filesystem_broker(
    first_day: FirstDay, browser: Browser, tmp_path: Path
) -> None:
    day = first_day
    base = day.base
    admin = person(browser, day, "admin")
    annotator = person(browser, day, "annotator")
    researcher = person(browser, day, "researcher")
    demo_id = day.value(f"SELECT id FROM {Project._meta.db_table} WHERE name = ?", DEMO_PROJECT)

    # the admin makes a project and starts an import of a PRM800K file from the Import page
    admin.page.get_by_test_id("new-project").click()
    admin.page.fill("input[name=name]", "Day one")
    admin.page.fill("input[name=overlap]", "1")
    admin.page.get_by_role("button", name="Create the project").click()
    admin.page.wait_for_url(re.compile(r"/projects/\d+/settings/$"))
    project_id = int(re.search(r"/projects/(\d+)/", admin.page.url).group(1))  # type: ignore[union-attr]
    admin.page.goto(f"{base}/projects/{project_id}/import/")
    admin.page.select_option("select[name=format]", "prm800k")
    admin.page.set_input_files("input[name=file]", str(prm800k_file(tmp_path / "day-one.jsonl")))
    admin.page.get_by_role("button", name="Import").click()
    admin.page.wait_for_url(re.compile(r"/jobs/\d+/$"))

    # meanwhile the annotator grades a demo solution and submits it
    page = annotator.page
    page.goto(f"{base}/projects/{demo_id}/work/")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    for button in page.locator("#steps > li.step:not(.alternative) .grade-good").all():
        button.click()
    page.locator("[data-finish=solution]").click()
    expect(page.locator("#save-status")).to_have_text("All changes saved", timeout=60_000)
    page.locator("#submit").click()
    page.wait_for_url(f"{base}/projects/{demo_id}/work/")

    # and the researcher starts a long-thought job from the demo round
    page = researcher.page
    page.goto(f"{base}/projects/{demo_id}/trees/long-thoughts/start/")
    page.locator("select[name=tree_job] option").nth(1).wait_for(state="attached")
    page.select_option("select[name=tree_job]", index=1)
    page.fill("input[name=k]", "2")
    page.fill("input[name=max_paths]", "1")
    page.select_option("select[name=rewriter]", label="demo-tiny-lm@v1")
    page.fill("input[name=max_tokens]", "8")
    page.locator("form.stack button[type=submit], form.card button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/trees/jobs/\d+/$"))

    # the import and the researcher's job end on their pages
    watch_end(admin.page)
    expect(admin.page.locator("[data-result=traces_created] td")).to_have_text(str(6 * COPIES))
    watch_end(researcher.page)

    # a reviewer reviews the annotator's work
    reviewer = person(browser, day, "reviewer")
    page = reviewer.page
    page.goto(f"{base}/projects/{demo_id}/review/")
    page.locator("main a[href*='/review/']").first.click()
    card = page.locator(".review-card").first
    card.get_by_role("button", name="Accept").click()
    expect(page.locator(".message.success")).to_contain_text("accepted")

    # the admin exports what was imported
    page = admin.page
    page.goto(f"{base}/projects/{project_id}/export/")
    page.select_option("select[name=format]", "prm800k")
    page.get_by_role("button", name="Export").click()
    page.wait_for_url(re.compile(r"/exports/\d+/$"))
    watch_end(page)
    expect(page.get_by_test_id("export-file").first).to_be_visible()

    # then: no 5xx, no lock in any log, and the file holds what the pages said
    failures = [f for p in (admin, annotator, researcher, reviewer) for f in p.failures]
    assert failures == []
    logs = day.logs()
    assert LOCK_WORDS.findall(logs) == [], logs[-4000:]
    assert not re.search(r'" 5\d\d ', logs), logs[-4000:]
    traces = Trace._meta.db_table
    problems = Trace._meta.get_field("problem").related_model._meta.db_table  # type: ignore[union-attr]
    in_project = f"SELECT id FROM {problems} WHERE project_id = ?"
    assert (
        day.value(f"SELECT count(*) FROM {traces} WHERE problem_id IN ({in_project})", project_id)
        == 6 * COPIES
    )
    jobs = Job._meta.db_table
    assert day.value(f"SELECT count(*) FROM {jobs} WHERE status IN ('failed', 'cancelled')") == 0
