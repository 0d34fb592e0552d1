"""Private PostgreSQL, Redis and RabbitMQ servers that a test starts, restarts and stops.

Fault tests restart these, never the machine's shared servers: each runs on free ports with
its data in a temporary directory, and is stopped when the test ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dj_database_url
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from tests.support.worker import wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivatePostgres:
    """A throwaway cluster: `initdb`, then `pg_ctl start/stop` on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="stepwise-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self.data = self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/stepwise"

    def _run(self, *command: str) -> None:
        subprocess.run(_as_postgres_user(list(command)), check=True, capture_output=True)

    def create(self) -> PrivatePostgres:
        initdb = str(PG_BIN / "initdb")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "stepwise")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = str(PG_BIN / "pg_ctl")
        log = str(self.directory / "server.log")
        self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: every client's connection is cut, as in a real restart."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server with no persistence: a restart loses every message, as a crash would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="stepwise-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: accepts_connections(self.port), 60, what="the private redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRabbitMQ:
    """A second RabbitMQ node of its own: node name, ports, data, logs, config and Erlang
    cookie (its own HOME); durable queues and persistent messages survive its restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="stepwise-rabbitmq-"))
        self.node = f"stepwise{self.port}@localhost"
        (self.directory / "home").mkdir()
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq.conf").write_text(f"listeners.tcp.default = {self.port}\n")
        self.env = {
            **os.environ,
            "HOME": str(self.directory / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_USE_LONGNAME": "false",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.directory / "node.pid"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return (RABBITMQ_BIN / "rabbitmq-server").exists()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> PrivateRabbitMQ:
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._started, 180, what=f"RabbitMQ node {self.node}", interval_s=1)
        return self

    def _started(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.directory / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"RabbitMQ node {self.node} exited:\n{log}")
        return accepts_connections(self.port)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, "stop"],
            env=self.env,
            capture_output=True,
            timeout=120,
        )
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def using_database(url: str) -> Iterator[None]:
    """Point this process's default database connection at `url` for a while (the test
    process then reads and writes the same database as the workers it starts)."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    parsed = dj_database_url.parse(url)
    connection.close()
    connection.settings_dict.update({k: parsed[k] for k in ("NAME", "USER", "HOST", "PORT")})
    ContentType.objects.clear_cache()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        ContentType.objects.clear_cache()


@contextmanager
def using_broker(url: str) -> Iterator[None]:
    """Send this process's Celery messages (jobs started by the test) to the broker at `url`."""
    from kombu import pools

    from workers.celery_app import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset_pools() -> None:
        """Close the connections to the broker before; the next message opens new ones."""
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reset_pools()
    app.conf.broker_url, app.conf.broker_transport_options = url, {}
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url, app.conf.broker_transport_options = saved
