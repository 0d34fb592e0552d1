"""Grade-save latency: concurrent simulated annotators autosaving grades through gunicorn.

A database of its own is created, migrated and dropped here. Each simulated annotator owns one
claimed trace of `steps` steps and saves `saves` times through the real autosave endpoint
(PUT /api/work/<id>/draft, session cookie + CSRF, versioned) with the body the editor sends
(static/js/workspace.js: grades, finish, version; `--send-time` adds the `time_spent_ms` an API
client may send, which costs the time-on-item statements): the first `steps` saves rate one
more step each, the rest change a rating, so every acknowledged save sends exactly one new grade
version. Between saves an annotator "thinks" for a random time (default 0.3 to 1.0 s: the editor
debounces keystrokes by 0.8 s). Baseline, in the same run: one annotator alone, same server.
Then every annotator makes `warmup` untimed saves (each gunicorn thread opens its database
connection on its first request, as a server does once after start), then `saves` timed ones.

Per-save cost first, in this process (Django's test client, no server, nothing else running
in the bench): the statements a save sends to PostgreSQL (libpq's trace: BEGIN, COMMIT and
COPY included), this process's CPU per save (Python: middleware, view, services, psycopg) and
its database backend's CPU per save; and each annotator's claim through the real queue (its
statements and time). These do not depend on the machine's load the way wall times do.

Figures: p50/p95/p99 latency of saves, errors (non-200 answers or failed connections), grades
sent (acknowledged) vs. written (Grade rows in the database), lost = acknowledged but not
written, plus final-state mismatches (current grades differing from the last acknowledged
draft); CPU per save of the server's processes and of this database's backends; lock waits
sampled from pg_stat_activity during the run (backends of this database waiting for a
heavyweight lock, against all active ones); the load average.
Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/grade_latency.py
[--annotators 50] [--saves 20] [--warmup 2] [--steps 10] [--workers 4] [--threads 4] [--keep]
[--send-time] [--cost-only]. At size: `--database NAME [--project ID]` uses a filled database as
it is (e.g. the 1,000,000-step one `bench/page_scale.py --keep` leaves,
stepwise_bench_pages_1000000): the annotators join its project (by default the one with the
most traces) and claim their traces there through the real queue; nothing is dropped.
`--cost-only` measures the per-save cost and the claims only (no server): run it from a
checkout of other code for an A/B of the save path.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "stepwise_bench_grades"
PASSWORD = "bench-password"


class ClientInfo(TypedDict):
    """One annotator's claim, made by setup_data for a client."""

    assignment: int
    user: int
    session: str | None
    nodes: list[str]


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return database_url(admin_url, BENCH_DB)


def drop_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClaimCost(TypedDict):
    """One claim through the queue, in this process: its wall time and statements sent."""

    ms: float
    statements: int


def setup_data(
    annotators: int, steps: int, project_id: int | None = None
) -> tuple[list[ClientInfo], list[ClaimCost]]:
    """Project, users, traces and one claim per user; returns what each client needs, and
    what each claim cost. With `project_id`, the project and its traces exist: users join it
    and claim there."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from annotation.core.models import Membership, Project, Role
    from annotation.core.statements import statements_sent
    from annotation.problems.models import Problem
    from annotation.problems.services import NewTrace, path_steps, trace_create
    from annotation.problems.tree import text_digest
    from annotation.workspace.models import ItemKind
    from annotation.workspace.services.claims import assignment_claim_next

    users = get_user_model()
    clients: list[ClientInfo] = []
    claims: list[ClaimCost] = []
    run = secrets.token_hex(3)  # user names of their own in a database used before
    if project_id is not None:
        # The saves rate steps in any order (a -1 before later ratings), as the bench's own
        # project allows: the rule that stops at the first error would refuse them.
        Project.objects.filter(pk=project_id).update(stop_at_first_bad_step=False)
        project = Project.objects.get(pk=project_id)
    else:
        project = Project.objects.create(
            name="bench grades", overlap=1, stop_at_first_bad_step=False
        )
    for index in range(annotators if project_id is None else 0):
        text = f"Bench problem {index}: what is ${index} + 1$?"
        problem = Problem.objects.create(
            project=project,
            external_id=f"p{index}",
            text=text,
            text_digest=text_digest(text),
            answer=str(index + 1),
            source="bench",
        )
        texts = [
            f"Step {position + 1} of problem {index}: $x_{position} = {position}$."
            for position in range(steps)
        ]
        trace_create(NewTrace(problem_id=problem.pk, origin="imported", steps=path_steps(texts)))
    for index in range(annotators):
        user = users.objects.create_user(username=f"bench{run}-{index}", password=PASSWORD)
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        started = time.perf_counter()
        with statements_sent() as sent:
            claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
        claims.append({"ms": (time.perf_counter() - started) * 1000, "statements": len(sent)})
        assert claim is not None and claim.trace is not None
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "annotation.core.auth_backends.UserBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        path_nodes = [
            str(n) for n in claim.trace.steps.order_by("position").values_list("node_id", flat=True)
        ]
        clients.append(
            {
                "assignment": claim.pk,
                "user": user.pk,
                "session": session.session_key,
                "nodes": path_nodes,
            }
        )
    return clients, claims


class Annotator:
    def __init__(
        self, host: str, port: int, info: ClientInfo, seed: int, send_time: bool = False
    ) -> None:
        self.host, self.port = host, port
        self.send_time = send_time
        self.assignment = info["assignment"]
        self.nodes: list[str] = list(info["nodes"])
        csrf = secrets.token_hex(16)  # 32 characters: an unmasked CSRF secret
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Cookie": f"sessionid={info['session']}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Host": f"{host}:{port}",
        }
        self.rng = random.Random(seed)
        self.version = 1
        self.grades: dict[str, dict[str, int]] = {}
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.sent = 0
        self.connection: http.client.HTTPConnection | None = None

    def _request(self, body: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.connection.request(
                    "PUT", f"/api/work/{self.assignment}/draft", body, self.headers
                )
                response = self.connection.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def body(self, index: int) -> tuple[bytes, dict[str, dict[str, int]]]:
        """The editor's autosave body for save `index`, and the grades it sends."""
        position = index % len(self.nodes)
        rating = 1 if index < len(self.nodes) else self.rng.choice([0, -1])
        if self.grades.get(self.nodes[position], {}).get("rating") == rating:
            rating = 0 if rating == -1 else -1  # always a change: one new grade version
        wanted = {**self.grades, self.nodes[position]: {"rating": rating}}
        body: dict[str, object] = {"version": self.version, "grades": wanted, "finish": None}
        if self.send_time:
            body["time_spent_ms"] = index
        return json.dumps(body).encode(), wanted

    def save(self, index: int) -> None:
        body, wanted = self.body(index)
        started = time.perf_counter()
        try:
            status, payload = self._request(body)
        except OSError as error:
            self.errors.append(f"connection: {error}")
            return
        self.latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            self.errors.append(f"{status}: {payload[:200]!r}")
            return
        self.version = json.loads(payload)["version"]
        self.grades = wanted
        self.sent += 1

    def run(self, saves: range, think: tuple[float, float], start: threading.Barrier) -> None:
        start.wait()
        for index in saves:
            time.sleep(self.rng.uniform(*think))
            self.save(index)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run_clients(
    annotators: list[Annotator], saves: range, think: tuple[float, float]
) -> list[Annotator]:
    barrier = threading.Barrier(len(annotators))
    threads = [threading.Thread(target=a.run, args=(saves, think, barrier)) for a in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return annotators


def process_cpu_s(pid: int) -> float:
    """CPU time (user + system) a process used so far; 0 when it is gone (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(server_pid: int) -> float:
    """CPU time used so far by gunicorn's master and its workers."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if int(entry) == server_pid or parent == server_pid:
                total += process_cpu_s(int(entry))
    return total


def backends_cpu_s(url: str) -> dict[int, float]:
    """Per backend of this database (other than the asking one), its CPU time so far: the
    machine's other databases (other sessions' tests and builds) are left out."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return {pid: process_cpu_s(pid) for (pid,) in pids}


class LockSampler(threading.Thread):
    """Samples, every 20 ms, what the active backends of this database wait for
    (pg_stat_activity's wait_event_type: Lock is a row or table lock held by another
    transaction, LWLock a buffer or WAL latch, IO the disk; none is running on a CPU)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopped = threading.Event()
        self.samples = 0
        self.waits: dict[str, int] = {}
        self.events: dict[str, int] = {}

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopped.is_set():
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type, 'running'), wait_event, count(*) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1, 2"
                ).fetchall()
                self.samples += 1
                for kind, event, count in rows:
                    self.waits[kind] = self.waits.get(kind, 0) + count
                    if kind == "Lock":
                        self.events[event] = self.events.get(event, 0) + count
                time.sleep(0.02)

    def figures(self) -> dict[str, object]:
        active = sum(self.waits.values())
        return {
            "lock_samples": self.samples,
            "active_backend_samples": active,
            "backend_samples_by_wait": self.waits,
            "lock_waits": self.events,
            "lock_wait_share": round(self.waits.get("Lock", 0) / active, 4) if active else 0.0,
        }


def save_cost(info: ClientInfo, saves: int, send_time: bool) -> dict[str, object]:
    """One annotator's saves through the autosave view in this process (Django's test client,
    the session cookie as the browser's), once every step is rated (each save re-rates one, as
    most of the run's saves do): the statements each sends (five saves, traced), then over
    `saves` more untraced: Python CPU per save and the backend's CPU per save."""
    from django.db import connection
    from django.test import Client

    from annotation.core.statements import statements_sent

    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["sessionid"] = str(info["session"])
    annotator = Annotator("", 0, info, seed=0, send_time=send_time)  # it writes the bodies
    url = f"/api/work/{info['assignment']}/draft"

    def put(index: int) -> None:
        body, wanted = annotator.body(index)
        response = client.put(url, body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        annotator.version, annotator.grades = response.json()["version"], wanted

    rated = len(annotator.nodes)
    for index in range(rated):  # every step rated once; then each save re-rates one
        put(index)
    traced = []
    for index in range(rated, rated + 5):
        with statements_sent() as sent:
            put(index)
        traced.append(sent)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    python_ms, wall_ms = [], []
    backend_before = process_cpu_s(backend)
    for index in range(rated + 5, rated + 5 + saves):
        started, cpu = time.perf_counter(), time.thread_time()
        put(index)
        python_ms.append((time.thread_time() - cpu) * 1000)
        wall_ms.append((time.perf_counter() - started) * 1000)
    backend_ms = (process_cpu_s(backend) - backend_before) * 1000 / saves
    return {
        "statements_per_save": statistics.median(len(sent) for sent in traced),
        "statements": [sql[:90] for sql in traced[-1]],
        "python_cpu_ms_per_save": round(statistics.median(python_ms), 2),
        "db_cpu_ms_per_save": round(backend_ms, 2),
        "wall_ms_per_save": round(statistics.median(wall_ms), 2),
        "saves": saves,
    }


def wait_for_server(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", "/login/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2, help="untimed saves per annotator first")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--think-min", type=float, default=0.3)
    parser.add_argument("--think-max", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--database", help="use this filled database as it is (see above)")
    parser.add_argument("--project", type=int, help="with --database: its project to grade in")
    parser.add_argument("--send-time", action="store_true", help="saves send time_spent_ms")
    parser.add_argument("--cost-saves", type=int, default=50, help="saves of the cost measure")
    parser.add_argument("--cost-only", action="store_true", help="no server: cost and claims")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not admin_url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at a PostgreSQL server")
    load_before = [round(x, 2) for x in os.getloadavg()]
    if args.database:
        args.keep = True
        url = database_url(admin_url, args.database)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT p.project_id FROM problems_trace t "
                "JOIN problems_problem p ON p.id = t.problem_id "
                "GROUP BY p.project_id ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()
        project_id = args.project or (row[0] if row else None)
    else:
        url = recreate_database(admin_url)
        project_id = None
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "annotation.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")})
    sys.path.insert(0, str(ROOT))
    if not args.database:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    annotators = 0 if args.cost_only else args.annotators
    infos, claims = setup_data(annotators + 2, args.steps, project_id)
    cost = save_cost(infos[-1], args.cost_saves, args.send_time)
    claim_ms = [claim["ms"] for claim in claims]
    figures: dict[str, object] = {
        "load_before": load_before,
        **{key: value for key, value in cost.items() if key != "statements"},
        "claims": len(claims),
        "claim_p50_ms": round(percentile(claim_ms, 50), 2),
        "claim_max_ms": round(max(claim_ms), 2),
        "statements_per_claim": statistics.median(claim["statements"] for claim in claims),
        "send_time": args.send_time,
        "database": args.database or BENCH_DB,
        "project": project_id,
    }
    print(
        f"one save, in this process: {cost['statements_per_save']} statements, "
        f"{cost['python_cpu_ms_per_save']} ms of Python CPU, {cost['db_cpu_ms_per_save']} ms "
        f"of its backend's CPU ({cost['wall_ms_per_save']} ms wall); a claim: "
        f"{figures['statements_per_claim']} statements, p50 {figures['claim_p50_ms']} ms"
    )
    for sql in cost["statements"]:  # type: ignore[attr-defined]
        print("   ", sql)
    if not args.cost_only:
        figures.update(serve_and_save(args, url, env, infos[:-2], infos[-2]))
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(admin_url)
    print(json.dumps(figures))


def serve_and_save(
    args: argparse.Namespace,
    url: str,
    env: dict[str, str],
    infos: list[ClientInfo],
    alone: ClientInfo,
) -> dict[str, object]:
    """The saves through gunicorn: the `alone` annotator by itself first (the baseline), then
    every annotator of `infos` at once; their figures."""
    host, port = "127.0.0.1", free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "annotation.wsgi",
            "--config",
            "python:annotation.gunicorn_conf",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    sampler = LockSampler(url)
    try:
        wait_for_server(host, port, server)
        think = (args.think_min, args.think_max)
        [baseline] = run_clients(
            [Annotator(host, port, alone, 0, args.send_time)], range(args.saves), think
        )
        clients = [
            Annotator(host, port, info, seed, args.send_time) for seed, info in enumerate(infos, 1)
        ]
        # Warm-up, not timed: every gunicorn thread opens its database connection on its first
        # request, which a server that has been up for a while has long done.
        run_clients(clients, range(args.warmup), think)
        for client in clients:
            client.latencies.clear()
        server_before, backends_before = server_cpu_s(server.pid), backends_cpu_s(url)
        sampler.start()
        started = time.perf_counter()
        run_clients(clients, range(args.warmup, args.warmup + args.saves), think)
        elapsed = time.perf_counter() - started
        sampler.stopped.set()
        server_after, backends_after = server_cpu_s(server.pid), backends_cpu_s(url)
        for client in [baseline, *clients]:
            if client.connection is not None:
                client.connection.close()
    finally:
        sampler.stopped.set()
        server.terminate()
        server.wait(timeout=30)
    sampler.join(timeout=5)

    from annotation.grading.models import Grade

    latencies = [ms for c in clients for ms in c.latencies]
    errors = [e for c in clients for e in c.errors]  # warm-up errors count too
    sent = sum(c.sent for c in clients)
    written = Grade.objects.filter(source__user_id__in=[info["user"] for info in infos]).count()
    mismatches = 0
    for client, info in zip(clients, infos, strict=True):
        current = {
            str(node): rating
            for node, rating in Grade.objects.filter(
                source__user_id=info["user"], is_current=True
            ).values_list("node_id", "rating")
        }
        mismatches += current != {n: g["rating"] for n, g in client.grades.items()}
    database_s = sum(t - backends_before.get(pid, 0.0) for pid, t in backends_after.items())
    alone_p50, alone_p99 = percentile(baseline.latencies, 50), percentile(baseline.latencies, 99)
    figures = {
        "annotators": len(clients),
        "saves_per_annotator": args.saves,
        "warmup_saves_per_annotator": args.warmup,
        "requests": len(latencies),
        "duration_s": round(elapsed, 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "baseline_p50_ms": round(alone_p50, 2),
        "baseline_p99_ms": round(alone_p99, 2),
        "p50_vs_baseline": round(percentile(latencies, 50) / alone_p50, 2),
        "p99_vs_baseline": round(percentile(latencies, 99) / alone_p99, 2),
        "cpu_ms_per_save_server": round((server_after - server_before) * 1000 / len(latencies), 2),
        "cpu_ms_per_save_database": round(database_s * 1000 / len(latencies), 2),
        **sampler.figures(),
        "errors": len(errors),
        "grades_sent": sent,
        "grades_written": written,
        "lost": max(0, sent - written) + mismatches,
        "final_state_mismatches": mismatches,
        "gunicorn": f"{args.workers} workers x {args.threads} threads, annotation.gunicorn_conf",
        "target_p99_ms": 50,
    }
    for error in errors[:5]:
        print("error:", error)
    print(
        f"{figures['requests']} saves by {len(clients)} annotators in {elapsed:.1f} s: "
        f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms "
        f"(alone: p50 {figures['baseline_p50_ms']} ms); errors {len(errors)}; "
        f"grades sent {sent}, written {written}, lost {figures['lost']}; CPU per save: server "
        f"{figures['cpu_ms_per_save_server']} ms, database {figures['cpu_ms_per_save_database']} "
        f"ms; lock waits {figures['lock_wait_share']:.1%} of active backend samples"
    )
    return figures


if __name__ == "__main__":
    main()
