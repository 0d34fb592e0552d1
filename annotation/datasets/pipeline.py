"""An import's parsing in a process of its own, beside the writes (two cores instead of one:
a thread would share the GIL with the writer).

The child is a plain subprocess, ``python -m annotation.datasets.pipeline``, as the answer
verifier's are (algorithms/verifier.py): it does not depend on the host program's ``__main__``
(Celery, manage.py, pytest), and it is never a fork of a process holding a database
connection; it opens none. It gets the file's bytes through a pipe, fed by a thread here, so
any stream works (an upload in memory, a file in storage). It sends frames (length, pickle)
on its stdout: questions about problems and grade sources, which the writer answers on its
stdin, and chunks of encoded rows (`rows.py`). A thread here reads the next frames while the
writer writes. Pipes are bounded and the reading ahead too, so at most a few chunks are in
flight whatever the file's size.

It dies with the import: the writer kills it on leaving, whatever the reason (done, a bad
record, a database error, a cancel, Ctrl-C), and the kernel kills it should this process die
(PR_SET_PDEATHSIG on Linux; elsewhere a write to the closed pipe ends it).
"""

import ctypes
import gc
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple

import django

from annotation.datasets.errors import RecordError

_FRAME = struct.Struct("!Q")
_FEED_BLOCK = 1 << 20
_ROOT = Path(__file__).resolve().parents[2]


class Options(NamedTuple):
    format_name: str
    chunk_size: int
    skip_invalid: bool
    grade_answers: bool
    binary: bool
    layout: str  # reader.record_layout's, found by the parent (a pipe cannot seek)


class ParsingProcess:
    """The parent's end: the child's messages, answers to its questions."""

    def __init__(self, process: subprocess.Popen[bytes], reader: ThreadPoolExecutor) -> None:
        self.process = process
        self._reader = reader
        self._skipped: tuple[int, list[dict[str, Any]]] = (0, [])

    def messages(self) -> Iterator[tuple[str, Any]]:
        """The child's messages up to its end; a bad record's RecordError is raised here.

        The next two frames (a question and a chunk of rows) are read and unpickled in a
        thread while the writer handles this one: so the database is not kept waiting for
        them between two chunks' writes."""
        assert self.process.stdout is not None
        read = partial(_read_frame, self.process.stdout, self.process)
        ahead = deque([self._reader.submit(read), self._reader.submit(read)])
        while True:
            kind, body = ahead.popleft().result()
            if kind == "error":
                raise RecordError(*body)
            if kind == "skipped":
                self._skipped = body
                return
            ahead.append(self._reader.submit(read))
            yield kind, body

    def reply(self, answer: Any) -> None:
        assert self.process.stdin is not None
        _write_frame(self.process.stdin, answer)

    def skipped(self) -> tuple[int, list[dict[str, Any]]]:
        """How many invalid records the child skipped, and the first ones' errors."""
        return self._skipped


@contextmanager
def parsing_process(stream: IO[bytes], options: Options) -> Iterator[ParsingProcess]:
    data_out, data_in = os.pipe()
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(_ROOT), environment.get("PYTHONPATH")])
    )
    environment.setdefault("DJANGO_SETTINGS_MODULE", "annotation.settings")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(os.getpid()), str(data_out), repr(tuple(options))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(data_out,),
            env=environment,
        )
    finally:
        os.close(data_out)
    feeder = threading.Thread(target=_feed, args=(stream, data_in), name="import-feed", daemon=True)
    feeder.start()
    reader = ThreadPoolExecutor(1, thread_name_prefix="import-read")
    try:
        yield ParsingProcess(process, reader)
    finally:
        process.kill()  # done or not: nothing of it must outlive the import
        process.wait()
        reader.shutdown(cancel_futures=True)  # a read under way ends at the pipe's end
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        feeder.join()


def _feed(stream: IO[bytes], descriptor: int) -> None:
    """The file's bytes into the child's pipe; stops when the child is gone."""
    try:
        while block := stream.read(_FEED_BLOCK):
            view = memoryview(block)
            while view:
                view = view[os.write(descriptor, view) :]
    except OSError:  # BrokenPipeError: the child was stopped
        pass
    finally:
        os.close(descriptor)


def _write_frame(pipe: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_FRAME.pack(len(data)))
    pipe.write(data)
    pipe.flush()


def _read_frame(pipe: IO[bytes], process: subprocess.Popen[bytes] | None = None) -> Any:
    header = pipe.read(_FRAME.size)
    if len(header) < _FRAME.size:
        code = process.wait() if process is not None else None
        raise EOFError(f"the import's parsing process stopped (exit code {code})")
    (length,) = _FRAME.unpack(header)
    return pickle.loads(pipe.read(length))


# --- the child: ``python -m annotation.datasets.pipeline PARENT_PID DATA_FD OPTIONS`` ----------


def _die_with(parent: int) -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # gone before the line above
        os._exit(1)


class _Counted:
    """A binary stream that counts the bytes read through it (a pipe has no tell())."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readline(self, size: int = -1) -> bytes:
        line = self.raw.readline(size)
        self.count += len(line)
        return line

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


def _child(parent: int, data_descriptor: int, options: Options) -> None:
    django.setup()  # then what needs the models (this process was started with none loaded)
    from annotation.datasets.parsing import (
        IMPORT_FORMATS,
        batched,
        parsed_records,
        produce,
    )
    from annotation.datasets.reader import iter_records
    from annotation.datasets.rows import RowBuilder

    # What this process makes (decoded JSON, records, encoded rows) holds no cycle: reference
    # counting frees it. The cyclic collector, which took a tenth of the time walking the
    # chunks in flight and everything setup loaded, runs only once the objects alive have
    # grown by about a chunk's, and no more over what setup loaded.
    gc.freeze()
    gc.set_threshold(100_000)
    out = os.fdopen(os.dup(1), "wb")  # frames only: anything printed goes to stderr
    os.dup2(2, 1)
    replies: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def read_replies() -> None:
        # A thread, so that an answer never waits on this process sending rows (no deadlock
        # whatever the pipes hold).
        try:
            while True:
                replies.put(_read_frame(sys.stdin.buffer))
        except (EOFError, OSError):
            replies.put(None)

    def reply() -> Any:
        answer = replies.get()
        if answer is None:  # the parent is gone
            os._exit(1)
        return answer

    threading.Thread(target=read_replies, daemon=True).start()
    skipped: list[dict[str, Any]] = []
    count = 0

    def on_invalid(error: RecordError) -> None:
        nonlocal count
        count += 1
        if len(skipped) < 1000:  # importer.MAX_REPORTED_ERRORS; the report caps it again
            skipped.append(error.as_dict())

    data = _Counted(os.fdopen(data_descriptor, "rb", buffering=_FEED_BLOCK))
    records = parsed_records(
        iter_records(data, layout=options.layout),  # type: ignore[arg-type]
        IMPORT_FORMATS[options.format_name].parse,
        on_invalid if options.skip_invalid else None,
    )
    try:
        produce(
            batched(records, options.chunk_size),
            RowBuilder(binary=options.binary, grade_answers=options.grade_answers),
            lambda message: _write_frame(out, message),
            reply,
            ahead=True,
            position=lambda: data.count,
        )
    except RecordError as error:
        _write_frame(out, ("error", (error.line, error.field, error.message)))
        return
    _write_frame(out, ("skipped", (count, skipped)))


if __name__ == "__main__":
    import ast

    _parent, _descriptor = int(sys.argv[1]), int(sys.argv[2])
    _die_with(_parent)
    try:
        _child(_parent, _descriptor, Options(*ast.literal_eval(sys.argv[3])))
    except BrokenPipeError:  # the writer stopped reading: it failed or was cancelled
        os._exit(1)
    os._exit(0)  # not waiting for the thread blocked on reading replies
