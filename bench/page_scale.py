"""Pages at size: every page and API endpoint of the URL map, per role, on PRM800K-shaped
projects of two sizes (100,000 and 1,000,000 steps by default).

For each size a database of its own is created and migrated, then a child process builds the
project fast (the importer's COPY for the PRM800K-shaped file; one INSERT ... SELECT per grade
kind for a PRM run over every path step and Monte-Carlo labels on a tenth of them): human
grades through the grading service on claimed assignments of several annotators, a tree round,
a finished job of every kind in the kinds table (the whole-project analyses run for real, and
their time is reported), and times every GET route of the URL map for each role (annotator,
reviewer, researcher, admin) through Django's test client: server time, the median of
`--repeats` calls after one warm-up call. Routes whose arguments it cannot fill are listed as
skipped.

Printed: the build figures, the slowest pages at the largest size, each page's growth ratio
between the sizes; the last line is one JSON object. Note the machine's load (uptime) beside
the figures: the machine is shared.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
    python bench/page_scale.py [--sizes 100000 1000000] [--repeats 5] [--keep] [--prefix NAME]
        [--reuse] [--routes NAME_PART ...]
`--reuse` times the databases an earlier `--keep` run left (migrated, not rebuilt: a fix's
migration applies to them); `--routes trees-` times only the routes whose name contains it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from prm800k_data import STEPS_PER_TRACE, write_prm800k_file

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("annotator", "reviewer", "researcher", "admin")
ANNOTATORS = 5
CLAIMS_PER_ANNOTATOR = 2
TREE_PROBLEMS = 10
TARGET_MS = 300
TARGET_GROWTH = 1.5


def bench_db(prefix: str, size: int) -> str:
    return f"{prefix}_{size}"


def fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return migrated_database(admin_url, name)


def migrated_database(admin_url: str, name: str) -> str:
    """A kept database brought to the code's migrations."""
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return url


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# Building the project ------------------------------------------------------------------------


def build(steps: int) -> dict[str, Any]:
    """The project and what the pages need; returns the ids and the build's figures."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.core.models import Membership, Project, Role
    from annotation.datasets.importer import import_dataset
    from annotation.grading import services as grading
    from annotation.jobs.models import Job, JobKind, JobStatus

    figures: dict[str, Any] = {}
    started = time.perf_counter()
    project = Project.objects.create(name=f"bench pages {steps}", overlap=1)
    traces = steps // STEPS_PER_TRACE
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prm800k.jsonl"
        write_prm800k_file(path, traces, problems=max(1, traces // 8))
        with path.open("rb") as stream:
            import_dataset(
                project=project, format_name="prm800k", stream=stream, grade_answers=False
            )
    figures["import_s"] = round(time.perf_counter() - started, 1)

    users = get_user_model()
    people: dict[str, list[Any]] = {}
    for role in ("annotator", "reviewer", "researcher", "admin"):
        count = ANNOTATORS if role == "annotator" else 1
        for index in range(count):
            user = users.objects.create_user(username=f"{role}{index}", password="bench")
            Membership.objects.create(project=project, user=user, role=getattr(Role, role.upper()))
            people.setdefault(role, []).append(user)

    def finished(kind: str, **fields: Any) -> Job:
        return Job.objects.create(
            project=project,
            kind=kind,
            status=JobStatus.SUCCEEDED,
            created_by=people["admin"][0],
            **fields,
        )

    # Model-run and Monte-Carlo grades: one statement each over the project's path steps.
    started = time.perf_counter()
    prm = grading.model_run_source(job=finished(JobKind.SCORE), label="bench prm")
    mc = grading.monte_carlo_source(job=finished(JobKind.MONTE_CARLO), description="bench mc")
    with connection.cursor() as cursor:
        for source, extra, where in (
            (prm, "NULL, (abs(hashtext(ts.node_id::text)) %% 1000) / 1000.0", ""),
            (
                mc,
                "CASE WHEN hashtext(ts.node_id::text) %% 4 = 0 THEN -1 ELSE 1 END, "
                "(abs(hashtext(ts.node_id::text)) %% 9) / 8.0",
                "AND t.id %% 10 = 0",
            ),
        ):
            cursor.execute(
                "INSERT INTO grading_grade (node_id, source_id, trace_id, rating, score, "
                "is_current, created_at) "
                f"SELECT ts.node_id, %s, ts.trace_id, {extra}, true, now() "
                "FROM problems_tracestep ts JOIN problems_trace t ON t.id = ts.trace_id "
                "JOIN problems_problem p ON p.id = t.problem_id "
                f"WHERE p.project_id = %s AND ts.on_path {where} ON CONFLICT DO NOTHING",
                [source.pk, project.pk],
            )
        cursor.execute("ANALYZE")
    figures["machine_grades_s"] = round(time.perf_counter() - started, 1)

    # People's grades on claimed work, through the services the workspace calls.
    from annotation.workspace.models import ItemKind
    from annotation.workspace.services.claims import assignment_claim_next

    started = time.perf_counter()
    assignments = []
    for user in people["annotator"]:
        source = grading.person_source(user=user)
        for _ in range(CLAIMS_PER_ANNOTATOR):
            claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
            if claim is None or claim.trace is None:
                break
            assignments.append(claim)
            nodes = claim.trace.steps.filter(on_path=True).values_list("node_id", flat=True)
            grading.person_grades_write(
                source=source,
                trace_id=claim.trace.pk,
                wanted={n: grading.StepGrade(1, False) for n in nodes},
                with_critique=False,
            )
    figures["claims_s"] = round(time.perf_counter() - started, 1)

    # A tree round, then a finished job of every other kind; the analyses run for real.
    from algorithms.long_thought import correct_paths, derive_long_thought
    from annotation.jobs.kinds import kinds
    from annotation.trees.services import DerivedThought, long_thoughts_write, tree_round_record

    problems = list(project.problems.order_by("pk")[:TREE_PROBLEMS])
    trees = [(problem.pk, bench_tree(problem)) for problem in problems]
    tree_job = tree_round_record(
        project=project, user=people["admin"][0], trees=trees, label="bench round"
    )
    # Long thoughts derived from the round's trees (a shortcut and a draft with its detours
    # per tree), as the long-thought job writes them.
    lt_job = finished(JobKind.LONG_THOUGHT, params={"tree_job": tree_job.pk})
    long_thoughts_write(
        job=lt_job,
        thoughts=[
            DerivedThought(pk, tree_job.pk, tree, thought, 0, 2)
            for pk, tree in trees
            for thought in [derive_long_thought(tree, correct_paths(tree)[0], k=2, seed=0)]
        ],
    )
    jobs = {
        JobKind.TREE.value: tree_job,
        JobKind.SCORE.value: prm.job,
        "monte_carlo": mc.job,
        JobKind.LONG_THOUGHT.value: lt_job,
    }
    from annotation.evaluation.analyses import ANALYSES, RoundComparisonParams, analysis_start
    from workers.tasks import run_job

    for kind in kinds():
        if kind in jobs:
            continue
        if kind in ANALYSES:
            started = time.perf_counter()
            params = (
                RoundComparisonParams(round_a=tree_job.pk, round_b=tree_job.pk)
                if kind == JobKind.ROUND_COMPARISON
                else None
            )
            job = analysis_start(
                project=project, kind=kind, user=people["researcher"][0], params=params
            )
            run_job.run(job.pk)
            job.refresh_from_db()
            figures[f"analysis_{kind}_s"] = round(time.perf_counter() - started, 1)
            assert job.status == JobStatus.SUCCEEDED, job.error
            jobs[kind] = job
        else:
            jobs[kind] = finished(kind)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "project": project,
        "people": {role: users_[0] for role, users_ in people.items()},
        "jobs": jobs,
        "assignment": assignments[0] if assignments else None,
        "tree_problem": problems[0].pk,
        **configured(project, people["admin"][0]),
        "figures": figures,
    }


def rebuilt(steps: int) -> dict[str, Any]:
    """What build() returned, read back from a kept database (``--reuse``): the bench's
    project, its first user of each role, the newest job of each kind, the first claim."""
    from django.contrib.auth import get_user_model

    from annotation.core.models import Project
    from annotation.core.tokens import ApiToken
    from annotation.llm.models import ModelConfig, PromptTemplate

    project = Project.objects.get(name=f"bench pages {steps}")
    users = get_user_model().objects
    return {
        "project": project,
        "people": {role: users.get(username=f"{role}0") for role in ROLES},
        "jobs": {job.kind: job for job in project.jobs.order_by("pk")},
        "assignment": project.assignments.order_by("pk").first(),
        "tree_problem": project.problems.order_by("pk")[0].pk,
        "model": ModelConfig.objects.get(project=project, name="bench model").pk,
        "prompt": PromptTemplate.objects.get(project=project, name="bench prompt").pk,
        "token": ApiToken.objects.get(name="bench").pk,
        "figures": {},
    }


def bench_tree(problem: Any) -> Any:
    """Three branches under the root, each with a right and a wrong answer (scored, the wrong
    ones with a stored wrong verdict), so every tree has a correct path and detours."""
    from algorithms.tree_search import ProblemSpec, Tree, record_wrong_verdicts

    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    for branch in range(3):
        child = tree.add_child(0, f"Branch {branch}: let x = {branch}.")
        child.score = 0.6
        right = tree.add_child(child.id, f"So the answer is $\\boxed{{{branch}}}$.")
        right.score, right.final_answer, right.is_correct = 0.8, str(branch), branch == 0
        wrong = tree.add_child(child.id, f"So the answer is $\\boxed{{{branch + 10}}}$.")
        wrong.score, wrong.final_answer, wrong.is_correct = 0.2, str(branch + 10), False
    record_wrong_verdicts(tree, wrong_below=0.5)
    return tree


def configured(project: Any, admin: Any) -> dict[str, Any]:
    """A model config, a prompt and an API token: the arguments of the model, prompt,
    training and token pages."""
    from annotation.core.tokens import token_create
    from annotation.llm.models import ModelConfig, PromptPurpose
    from annotation.llm.services import prompt_template_create

    # A row, not the service: the operator's endpoint policy would refuse any made-up host.
    model = ModelConfig.objects.create(
        project=project,
        name="bench model",
        kind="openai",
        path_or_endpoint="http://127.0.0.1:9/v1",
        served_name="bench",
    )
    prompt = prompt_template_create(
        project=project,
        name="bench prompt",
        purpose=PromptPurpose.SAMPLE,
        text="Solve: {{ problem }}",
    )
    token, _key = token_create(user=admin, name="bench")
    return {"model": model.pk, "prompt": prompt.pk, "token": token.pk}


# Timing the URL map --------------------------------------------------------------------------


def routes() -> list[tuple[str, list[str]]]:
    """(URL name, its arguments' names) of every named route, once per name."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: dict[str, list[str]] = {}

    def walk(patterns: list[Any], prefix_args: list[str]) -> None:
        for entry in patterns:
            args = prefix_args + list(getattr(entry.pattern, "converters", {}).keys())
            if not getattr(entry.pattern, "converters", None):
                args = prefix_args + list(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                if entry.namespace in ("admin", "djdt"):
                    continue
                walk(entry.url_patterns, args)
            elif isinstance(entry, URLPattern) and entry.name:
                found.setdefault(entry.name, [a for a in args if a != "format"])

    walk(get_resolver().url_patterns, [])
    return sorted(found.items())


def arguments(name: str, names: list[str], built: dict[str, Any]) -> dict[str, Any] | None:
    """Values for a route's arguments from the built project; None when one is unknown."""
    from annotation.grading.models import Grade
    from annotation.jobs.kinds import kinds

    project = built["project"]
    jobs = built["jobs"]
    page_kinds = [k for k, row in kinds().items() if row.page == name]
    job = jobs[page_kinds[0]] if page_kinds else jobs["score"]
    trace = project.problems.order_by("pk").first().traces.order_by("pk").first()
    problem_id = trace.problem_id
    if name.startswith("trees-") and "job_id" in names:  # a tree of the round
        job, problem_id = jobs["tree"], built["tree_problem"]
    if name.startswith("trees-methods"):  # a problem with long thoughts
        problem_id = built["tree_problem"]
    assignment = built["assignment"]
    by_model = {
        "trace": lambda: trace.pk,
        "problem": lambda: problem_id,
        "grade": lambda: Grade.objects.filter(trace=trace).order_by("pk")[0].pk,
        "job": lambda: job.pk,
        "project": lambda: project.pk,
        "llm-job": lambda: jobs["sample"].pk,
        "export": lambda: jobs["export"].pk,
        "token": lambda: built["token"],
        "llm-model": lambda: built["model"],
        "project-member": lambda: project.pk,
    }
    fixed = {
        "user_id": built["people"]["annotator"].pk,
        "model_id": built["model"],
        "prompt_id": built["prompt"],
        "token_id": built["token"],
        "kind": "sample",
        "method": "sft",
        "index": 0,
    }
    values: dict[str, Any] = {}
    for arg in names:
        if arg in ("project_id", "project"):
            values[arg] = project.pk
        elif arg == "job_id":
            values[arg] = job.pk
        elif arg == "trace_id":
            values[arg] = trace.pk
        elif arg == "problem_id":
            values[arg] = problem_id
        elif arg in ("assignment_id",) and assignment is not None:
            values[arg] = assignment.pk
        elif arg in fixed:
            values[arg] = fixed[arg]
        elif arg == "pk":
            model = name.removeprefix("api-").rsplit("-", 1)[0]
            if model not in by_model:
                return None
            values[arg] = by_model[model]()
        else:
            return None
    return values


def query(name: str, built: dict[str, Any]) -> str:
    """The query string a page needs to show something: the compare page two rounds (the
    round with itself, whose comparison the build stored)."""
    if name == "trees-compare":
        tree = built["jobs"]["tree"].pk
        return f"?a={tree}&b={tree}"
    return ""


def time_pages(
    built: dict[str, Any], repeats: int, only: list[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Per route and role: status and median server time in ms (of the routes whose name
    contains one of `only`, when given)."""
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    timings: dict[str, Any] = {}
    skipped = []
    clients = {}
    for role in ROLES:
        client = Client(raise_request_exception=False)  # a 500 is a status in the table
        client.force_login(built["people"][role])
        clients[role] = client
    for name, names in routes():
        if only and not any(part in name for part in only):
            continue
        values = arguments(name, names, built)
        if values is None:
            skipped.append(name)
            continue
        try:
            url = reverse(name, kwargs=values) + query(name, built)
        except NoReverseMatch:
            skipped.append(name)
            continue
        for role, client in clients.items():
            client.get(url)  # warm-up
            times, status = [], 0
            for _ in range(repeats):
                started = time.perf_counter()
                status = client.get(url).status_code
                times.append((time.perf_counter() - started) * 1000)
            if status == 405:  # a POST-only route
                break
            timings[f"{name} [{role}]"] = {
                "url": url,
                "status": status,
                "ms": round(statistics.median(times), 1),
            }
    return timings, skipped


def child(size: int, repeats: int, reuse: bool, only: list[str] | None) -> None:
    setup_django()
    import logging

    # 403s and 405s are expected for some roles; a 500 (ERROR) is still printed.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    logging.getLogger("django.security").setLevel(logging.ERROR)
    started = time.perf_counter()
    built = rebuilt(size) if reuse else build(size)
    figures = {**built["figures"], "build_s": round(time.perf_counter() - started, 1)}
    timings, skipped = time_pages(built, repeats, only)
    print(json.dumps({"figures": figures, "pages": timings, "skipped": skipped}))


# The parent: sizes, table, ratios ------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument(
        "--prefix", default="stepwise_bench_pages", help="the databases are PREFIX_SIZE"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the kept databases of an earlier --keep run again (migrated, not rebuilt)",
    )
    parser.add_argument(
        "--routes", nargs="+", help="time only the routes whose URL name contains one of these"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeats, args.reuse, args.routes)
        return
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    runs: dict[int, Any] = {}
    for size in args.sizes:
        load = os.getloadavg()
        name = bench_db(args.prefix, size)
        url = migrated_database(admin_url, name) if args.reuse else fresh_database(admin_url, name)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",  # the test client's host
        }
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(size),
                "--repeats",
                str(args.repeats),
                *(["--reuse"] if args.reuse else []),
                *(["--routes", *args.routes] if args.routes else []),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        runs[size] = json.loads(out.strip().splitlines()[-1])
        runs[size]["load_before"] = [round(x, 2) for x in load]
        runs[size]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        print(f"{size:,} steps: build {runs[size]['figures']}, load {runs[size]['load_before']}")
        if not args.keep:
            drop_database(admin_url, bench_db(args.prefix, size))
    report(runs, args.sizes)


def report(runs: dict[int, Any], sizes: list[int]) -> None:
    small, large = min(sizes), max(sizes)
    pages = runs[large]["pages"]
    rows = []
    for key, entry in pages.items():
        before = runs[small]["pages"].get(key, {}).get("ms")
        ratio = round(entry["ms"] / before, 2) if before and len(sizes) > 1 else None
        rows.append((entry["ms"], key, entry["status"], before, ratio))
    rows.sort(reverse=True)
    print(f"\n{'page [role]':<58} {'status':>6} {f'{small:,}':>10} {f'{large:,}':>10} {'ratio':>6}")
    for ms, key, status, before, ratio in rows:
        print(f"{key:<58} {status:>6} {before or '':>10} {ms:>10} {ratio or '':>6}")
    print(f"skipped (arguments unknown to the bench): {', '.join(runs[large]['skipped'])}")
    over = [key for ms, key, *_ in rows if ms > TARGET_MS]
    grown = [key for _, key, _, _, ratio in rows if ratio is not None and ratio > TARGET_GROWTH]
    summary = {
        "sizes": sizes,
        "build": {size: runs[size]["figures"] for size in sizes},
        "load": {size: [runs[size]["load_before"], runs[size]["load_after"]] for size in sizes},
        "pages": len(rows),
        "slowest_ms": rows[0][0] if rows else None,
        "slowest": rows[0][1] if rows else None,
        "over_target": over,
        "max_growth": max((r[4] for r in rows if r[4] is not None), default=None),
        "grown_over_target": grown,
        "target_ms": TARGET_MS,
        "target_growth": TARGET_GROWTH,
        "ms": {key: {s: runs[s]["pages"].get(key, {}).get("ms") for s in sizes} for key in pages},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
