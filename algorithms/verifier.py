"""Math-equivalence of final answers, decided by `math_verify` in a small pool of child processes.

sympy can run for a very long time on pathological input (and code inside C extensions does not
see signals), and math_verify's own timeout relies on SIGALRM, which only works on a process's
main thread. Each child limits every pair with its own alarm; the parent also waits with a
deadline and kills a child that misses it. This works from any thread. The children are plain
subprocesses speaking JSON lines, so they do not depend on the host program's ``__main__`` the
way multiprocessing's spawn does.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

_CHUNK_SIZE = 64
# Extra time the parent grants beyond the in-worker alarms before it declares a worker stuck.
_GUARD_SLACK_S = 1.0


def verify_pairs(pairs: Sequence[tuple[str, str]], timeout_s: float) -> list[bool]:
    """Whether each (predicted, truth) pair of LaTeX answers is equivalent, decided in the pool
    in chunks; False for a pair not decided within `timeout_s`."""
    chunks = [
        list(pairs[start : start + _CHUNK_SIZE]) for start in range(0, len(pairs), _CHUNK_SIZE)
    ]

    def grade_chunk(chunk: list[tuple[str, str]]) -> list[bool]:
        outcome = _POOL.run(chunk, timeout_s)
        if outcome is None:
            # Some pair in the chunk hung and its process was killed: find it one pair at a time.
            outcome = [(_POOL.run([pair], timeout_s) or [False])[0] for pair in chunk]
        return outcome

    if len(chunks) <= 1:
        outcomes = [grade_chunk(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=_POOL.size) as threads:
            outcomes = list(threads.map(grade_chunk, chunks))
    return [equivalent for outcome in outcomes for equivalent in outcome]


# --- the parent side: a pool of verifier processes ---------------------------------------------


class VerifierUnavailable(RuntimeError):
    """The verifier process could not start (e.g. math_verify is not installed)."""


class _WorkerFailure(Exception):
    """A verifier process missed its deadline, died, or answered garbage."""


class _VerifierProcess:
    """One child running this module's `_serve`, fed one JSON line per chunk."""

    def __init__(self) -> None:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_IMPORT_ROOT), environment.get("PYTHONPATH")])
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
        )
        self._pending = b""
        try:
            ready = self._read_line(time.monotonic() + _START_TIMEOUT_S)
        except _WorkerFailure as failure:
            self.kill()
            raise VerifierUnavailable(f"the answer verifier did not start: {failure}") from None
        if ready != _READY:
            self.kill()
            raise VerifierUnavailable(f"the answer verifier said {ready!r} instead of ready")

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def verify(self, pairs: list[tuple[str, str]], timeout_s: float) -> list[bool]:
        deadline = time.monotonic() + timeout_s * len(pairs) + _GUARD_SLACK_S
        request = json.dumps({"pairs": pairs, "timeout_s": timeout_s}).encode() + b"\n"
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(request)
            self._process.stdin.flush()
        except OSError as error:
            raise _WorkerFailure("verifier process is gone") from error
        line = self._read_line(deadline)
        try:
            results = json.loads(line)
        except ValueError:
            raise _WorkerFailure(f"verifier process answered {line!r}") from None
        if not isinstance(results, list) or len(results) != len(pairs):
            raise _WorkerFailure(f"verifier process answered {results!r}")
        return [bool(result) for result in results]

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()

    def _read_line(self, deadline: float) -> bytes:
        assert self._process.stdout is not None
        descriptor = self._process.stdout.fileno()
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
                raise _WorkerFailure("verifier process missed its deadline")
            data = os.read(descriptor, 65536)
            if not data:
                raise _WorkerFailure("verifier process exited")
            self._pending += data
        line, self._pending = self._pending.split(b"\n", 1)
        return line


class _VerifierPool:
    """Up to `size` verifier processes, started on first use; a stuck one is killed and a fresh
    one started by the next caller. Callers beyond `size` wait, so deadlines never count time
    spent queued."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle = self._empty_slots()

    def _empty_slots(self) -> queue.LifoQueue[_VerifierProcess | None]:
        # Each entry is an idle process, or None for a free slot with no process started yet.
        slots: queue.LifoQueue[_VerifierProcess | None] = queue.LifoQueue()
        for _ in range(self.size):
            slots.put(None)
        return slots

    def forget_processes(self) -> None:
        """In a forked child (e.g. a Celery prefork worker): the parent's processes and their
        pipes are not ours to use, so start afresh."""
        self._idle = self._empty_slots()

    def close(self) -> None:
        """Stop the idle processes (at interpreter exit)."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                worker.kill()

    def run(self, pairs: list[tuple[str, str]], timeout_s: float) -> list[bool] | None:
        """Results for `pairs`, or None when the chunk could not be decided in time.

        Raises VerifierUnavailable when no verifier process can be started."""
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                worker = _VerifierProcess()
            results = worker.verify(pairs, timeout_s)
        except _WorkerFailure:
            if worker is not None:
                worker.kill()
            self._idle.put(None)
            return None
        except BaseException:
            self._idle.put(worker)
            raise
        self._idle.put(worker)
        return results


_IMPORT_ROOT = Path(__file__).resolve().parents[1]
_READY = b"ready"
_START_TIMEOUT_S = 120.0
_POOL = _VerifierPool(size=min(2, os.cpu_count() or 1))
os.register_at_fork(after_in_child=_POOL.forget_processes)
atexit.register(_POOL.close)


# --- the child side: runs as ``python -m algorithms.verifier`` ---------------------------


class _VerifyTimeout(BaseException):
    """A BaseException so that the broad ``except Exception`` inside sympy cannot swallow it."""


def _serve() -> None:
    # Keep the protocol on its own descriptor; anything the libraries print goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # math_verify warns that its own signal-based timeout is disabled; the timeout here is ours.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    _verify_with_math_verify("$1$", "$1$")  # pay for the first use of sympy and the LaTeX parser
    protocol.write(_READY.decode() + "\n")
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        timeout_s = float(request["timeout_s"])
        results = [
            _verify_with_alarm(predicted, truth, timeout_s) for predicted, truth in request["pairs"]
        ]
        protocol.write(json.dumps(results) + "\n")
        protocol.flush()


def _verify_with_alarm(predicted: str, truth: str, timeout_s: float) -> bool:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise _VerifyTimeout

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return _verify_with_math_verify(predicted, truth)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _VerifyTimeout:
        return False
    finally:
        signal.signal(signal.SIGALRM, previous_handler)


def _verify_with_math_verify(predicted: str, truth: str) -> bool:
    """Both answers as LaTeX math text (``$...$``); the parent prepares them."""
    from math_verify import parse, verify

    try:
        gold = parse(truth, parsing_timeout=None)
        target = parse(predicted, parsing_timeout=None)
        if not gold or not target:
            return False
        return bool(verify(gold, target, timeout_seconds=None))
    except Exception:
        return False


if __name__ == "__main__":
    _serve()
