"""Final-answer extraction and math-equivalence grading.

Equivalence is decided by `math_verify` in a small pool of child processes: sympy can run for
a very long time on pathological input (and code inside C extensions does not see signals), and
math_verify's own timeout relies on SIGALRM, which only works on a process's main thread. Each
child limits every pair with its own alarm; the parent also waits with a deadline and kills a
child that misses it. This works from any thread. The children are plain subprocesses speaking
JSON lines, so they do not depend on the host program's ``__main__`` the way multiprocessing's
spawn does.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import re
import select
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from types import FrameType

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_HEADING = re.compile(r"^[ \t]*#[ \t]*Answer[ \t]*$", re.MULTILINE)
_ANSWER_PHRASE = re.compile(r"the\s+answer\s+is\s*:?", re.IGNORECASE)
_GSM8K_MARK = "####"
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
# Full-width forms of ASCII (U+FF01..U+FF5E: digits, punctuation, letters) and the ideographic
# space, folded to ASCII as NFKC would; the rest of NFKC is not applied (it would read x² as x2).
_FULL_WIDTH = {code: unicodedata.normalize("NFKC", chr(code)) for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = " "

_CHUNK_SIZE = 64
# Extra time the parent grants beyond the in-worker alarms before it declares a worker stuck.
_GUARD_SLACK_S = 1.0


def extract_answer(text: str) -> str | None:
    """The final answer of a solution, or None when it states none.

    Looks, in order, for the last ``\\boxed{...}`` / ``\\fbox{...}``, the line after a PRM800K
    ``# Answer`` heading, the text after the last "the answer is", the text after a GSM8K ``####``.
    """
    extractors: tuple[Callable[[str], str | None], ...] = (
        _last_boxed,
        _after_answer_heading,
        _after_answer_phrase,
        _after_gsm8k_mark,
    )
    for extractor in extractors:
        answer = extractor(text)
        if answer:
            return answer
    return None


def answers_equivalent(predicted: str, truth: str, *, timeout_s: float = 5.0) -> bool:
    """Whether two final answers are mathematically equivalent; False when undecided in time."""
    return answers_equivalent_many([(predicted, truth)], timeout_s=timeout_s)[0]


def answers_equivalent_many(
    pairs: Sequence[tuple[str, str]], *, timeout_s: float = 5.0
) -> list[bool]:
    """`answers_equivalent` for many (predicted, truth) pairs, sent to the pool in chunks."""
    results = [False] * len(pairs)
    pending: list[int] = []
    pairs = [(normalise_answer(predicted), normalise_answer(truth)) for predicted, truth in pairs]
    for index, (predicted, truth) in enumerate(pairs):
        if not predicted.strip() or not truth.strip():
            continue
        if _normalise_whitespace(predicted) == _normalise_whitespace(truth):
            results[index] = True
        elif (numbers := _plain_numbers(predicted, truth)) is not None:
            results[index] = numbers[0] == numbers[1]
        else:
            pending.append(index)
    chunks = [pending[start : start + _CHUNK_SIZE] for start in range(0, len(pending), _CHUNK_SIZE)]

    def grade_chunk(chunk: list[int]) -> list[bool]:
        outcome = _POOL.run([pairs[i] for i in chunk], timeout_s)
        if outcome is None:
            # Some pair in the chunk hung and its process was killed: find it one pair at a time.
            outcome = [(_POOL.run([pairs[i]], timeout_s) or [False])[0] for i in chunk]
        return outcome

    if len(chunks) == 1:
        outcomes = [grade_chunk(chunks[0])]
    else:
        with ThreadPoolExecutor(max_workers=_POOL.size) as threads:
            outcomes = list(threads.map(grade_chunk, chunks))
    for chunk, outcome in zip(chunks, outcomes, strict=True):
        for index, equivalent in zip(chunk, outcome, strict=True):
            results[index] = equivalent
    return results


def normalise_answer(answer: str) -> str:
    """The form answers are compared in: NFC, with full-width ASCII forms folded to ASCII."""
    return unicodedata.normalize("NFC", answer.translate(_FULL_WIDTH))


def grade_answer(solution_text: str, truth: str | None) -> tuple[str | None, bool | None]:
    """(extracted answer, whether it matches truth); correctness is None when either is missing."""
    answer = extract_answer(solution_text)
    if answer is None or truth is None or not truth.strip():
        return answer, None
    return answer, answers_equivalent(answer, truth)


def _last_boxed(text: str) -> str | None:
    for match in reversed(list(_BOX_COMMAND.finditer(text))):
        argument = _command_argument(text, match.end())
        if argument is not None:
            return argument
    return None


def _command_argument(text: str, position: int) -> str | None:
    """The argument of a LaTeX command ending at `position`: a balanced {...} group, or the bare
    token of ``\\boxed 5``."""
    after = text[position:]
    stripped = after.lstrip()
    if stripped.startswith("{"):
        open_at = position + len(after) - len(stripped)
        return _braced_group(text, open_at)
    if len(stripped) < len(after) and stripped:
        token = re.match(r"[^\s$]+", stripped)
        return token.group(0) if token else None
    return None


def _braced_group(text: str, open_at: int) -> str | None:
    depth = 0
    index = open_at
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2  # an escaped character such as \{ is never structural
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index].strip()
        index += 1
    return None


def _after_answer_heading(text: str) -> str | None:
    headings = list(_ANSWER_HEADING.finditer(text))
    if not headings:
        return None
    for line in text[headings[-1].end() :].splitlines():
        if line.strip():
            return _clean_inline_answer(line)
    return None


def _after_answer_phrase(text: str) -> str | None:
    phrases = list(_ANSWER_PHRASE.finditer(text))
    if not phrases:
        return None
    return _clean_inline_answer(_rest_of_line(text, phrases[-1].end()))


def _after_gsm8k_mark(text: str) -> str | None:
    position = text.rfind(_GSM8K_MARK)
    if position < 0:
        return None
    return _clean_inline_answer(_rest_of_line(text, position + len(_GSM8K_MARK)))


def _rest_of_line(text: str, position: int) -> str:
    return text[position:].split("\n", 1)[0]


def _clean_inline_answer(answer: str) -> str:
    """Strip whitespace, a sentence's final period and enclosing $ signs."""
    previous = None
    while answer != previous:
        previous = answer
        answer = _strip_dollars(answer.strip().rstrip(".").strip())
    return answer


def _strip_dollars(answer: str) -> str:
    """`answer` without enclosing $ or $$ delimiters (an escaped \\$ is a dollar sign, kept)."""
    while len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$" and answer[-2] != "\\":
        answer = answer[1:-1].strip()
    return answer


# A decimal, with optional thousands separators ("1,000" but not the pair "1,2").
_PLAIN_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def _plain_numbers(predicted: str, truth: str) -> tuple[Fraction, Fraction] | None:
    """Both answers as exact numbers when both are plain decimals (no pool needed)."""
    a, b = predicted.strip(), truth.strip()
    if _PLAIN_NUMBER.match(a) and _PLAIN_NUMBER.match(b):
        return Fraction(a.replace(",", "")), Fraction(b.replace(",", ""))
    return None


def _normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


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


# --- the child side: runs as ``python -m algorithms.answers`` ---------------------------


class _VerifyTimeout(BaseException):
    """A BaseException so that the broad ``except Exception`` inside sympy cannot swallow it."""


def _serve() -> None:
    # Keep the protocol on its own descriptor; anything the libraries print goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # math_verify warns that its own signal-based timeout is disabled; the timeout here is ours.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    _verify_with_math_verify("1", "1")  # pay for the first use of sympy and the LaTeX parser
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
    from math_verify import parse, verify

    try:
        gold = parse(_as_math_text(truth), parsing_timeout=None)
        target = parse(_as_math_text(predicted), parsing_timeout=None)
        if not gold or not target:
            return False
        return bool(verify(gold, target, timeout_seconds=None))
    except Exception:
        return False


def _as_math_text(answer: str) -> str:
    """A bare LaTeX answer wrapped in $...$ so that math_verify reads it as LaTeX."""
    answer = _strip_dollars(answer.strip())
    return answer if _UNESCAPED_DOLLAR.search(answer) else f"${answer}$"


if __name__ == "__main__":
    _serve()
