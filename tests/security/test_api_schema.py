"""The API against its own schema: schemathesis (a fuzzer nobody here wrote) runs against a
live server as production runs it (gunicorn, DEBUG off), once per role, with a bounded number
of examples: no 500 and no response outside the schema. Its coverage phase (every boundary and
wrong type the schema defines: nulls, wrong JSON types, lengths one past a cap) runs as the
admin on a model config's and a project's writes (JSON-object fields, in forms and JSON),
where the 500s were; on all 20 writes it is ~5,600 cases, minutes, too long for `make test`.
The stateful phase would follow the schema's links, which it has none of, so it is not run.
The schema and its docs page are for logged-in users only."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from annotation.core.models import Role
from annotation.core.tokens import token_create
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create, prompt_template_create
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, trace_with_steps

BIN = Path(sys.executable).parent
EXAMPLES = "2"  # per operation and role: the whole run stays within about a minute
# The operations the coverage phase runs on (as the admin): JSON-object fields, nulls and
# wrong types in forms and JSON, where the 500s were (each is a few hundred cases).
COVERED = ("POST /api/llm/models/", "PATCH /api/projects/{id}/")


def test_the_schema_and_its_page_are_for_logged_in_users_only(db, client):
    # given
    anonymous = [client.get("/api/schema/").status_code, client.get("/api/docs/").status_code]
    # when
    client.force_login(MembershipFactory(role=Role.ANNOTATOR).user)
    logged_in = [client.get("/api/schema/").status_code, client.get("/api/docs/").status_code]
    # then
    assert all(status in (401, 403) for status in anonymous), anonymous
    assert logged_in == [200, 200]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{user}{password}@{host}/{db['NAME']}"


@pytest.fixture
def live_gunicorn(transactional_db, tmp_path: Path) -> Iterator[str]:
    """gunicorn on the test database, DEBUG off, its broker a memory one (no worker takes the
    jobs the fuzzer starts), its files in a temporary directory."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": "memory://",
        "DEBUG": "false",
        # The tests' key: a token keeps a hash of the user's session made with it.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "STEPWISE_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "STEPWISE_API_USER_RATE": "100000/minute",
        "BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "2",
    }
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", "python:annotation.gunicorn_conf", "annotation.wsgi"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gunicorn.log", "wb"),  # noqa: SIM115  # closed with the process
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _world() -> dict[str, str]:
    """A project with one member per role, a model, a prompt, problems and a trace; an API
    token for each member."""
    project = ProjectFactory(name="fuzzed")
    model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/models/gen"
    )
    prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    trace_with_steps(ProblemFactory(project=project), ["One.", "Two."])
    tokens = {}
    for role in (Role.ANNOTATOR, Role.RESEARCHER, Role.ADMIN):
        user = MembershipFactory(project=project, role=role).user
        tokens[str(role)] = token_create(user=user)[1]
    return tokens


def _fuzz(
    base: str, token: str, workdir: Path, phases: str, operations: list[str]
) -> subprocess.CompletedProcess[str]:
    # The schema as this role gets it (it is for logged-in users only).
    request = urllib.request.Request(
        f"{base}/api/schema/?format=json", headers={"Authorization": f"Token {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        (workdir / "schema.json").write_bytes(response.read())
    return subprocess.run(
        [
            BIN / "schemathesis",
            "run",
            str(workdir / "schema.json"),
            "--url",
            base,
            "--header",
            f"Authorization: Token {token}",
            # Revoking its own token would leave the rest of the run unauthenticated.
            "--exclude-name",
            "DELETE /api/tokens/{id}/",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            *operations,
            "--phases",
            phases,
            "--max-examples",
            EXAMPLES,
            "--seed",
            "31",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            # Its example database in a temporary directory, never the repository's root.
            "--generation-database",
            str(workdir / "examples.db"),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(shutil.which("schemathesis", path=str(BIN)) is None, reason="dev extra")
def test_schemathesis_finds_no_500_and_no_schema_violation_for_any_role(
    live_gunicorn: str, tmp_path: Path
) -> None:
    # given
    tokens = _world()
    results: dict[str, Any] = {}
    # when
    for role, token in tokens.items():
        workdir = tmp_path / role
        workdir.mkdir()
        results[role] = _fuzz(live_gunicorn, token, workdir, "examples,fuzzing", [])
    covered = [arg for name in COVERED for arg in ("--include-name", name)]
    (tmp_path / "coverage").mkdir()
    results["admin, coverage"] = _fuzz(
        live_gunicorn, tokens[str(Role.ADMIN)], tmp_path / "coverage", "coverage", covered
    )
    # then
    failed = {
        role: run.stdout[-4000:] + run.stderr[-2000:]
        for role, run in results.items()
        if run.returncode != 0
    }
    assert failed == {}, "\n\n".join(f"{role}:\n{out}" for role, out in failed.items())
