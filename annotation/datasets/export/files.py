"""Row sinks: JSONL (optionally gzip) and Parquet, hashing the bytes as they are written.

Memory stays bounded: JSONL writes blocks of lines; Parquet buffers one row group.
"""

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

PARQUET_ROW_GROUP = 5000
JSONL_BLOCK = 256 * 1024  # lines are hashed and written in blocks of about this size


@dataclass(frozen=True)
class FileInfo:
    name: str
    rows: int
    sha256: str
    bytes: int


class RowSink(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> FileInfo: ...


class _HashingFile:
    """A write-only binary file that hashes and counts what goes through it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw: IO[bytes] = path.open("wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
            self.closed = True


class JsonlSink:
    def __init__(self, path: Path, *, compress: bool = False) -> None:
        self.path = path
        self.file = _HashingFile(path)
        # mtime=0 and no file name in the header: the same rows give the same bytes.
        self.out: Any = (
            gzip.GzipFile(filename="", fileobj=self.file, mode="wb", mtime=0)
            if compress
            else self.file
        )
        self.rows = 0
        self.pending: list[bytes] = []  # lines not yet written, about JSONL_BLOCK bytes
        self.pending_size = 0

    def write(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False).encode() + b"\n"
        self.pending.append(line)
        self.pending_size += len(line)
        self.rows += 1
        if self.pending_size >= JSONL_BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.out.write(b"".join(self.pending))
            self.pending, self.pending_size = [], 0

    def close(self) -> FileInfo:
        self._flush()
        if self.out is not self.file:
            self.out.close()
        self.file.close()
        return FileInfo(self.path.name, self.rows, self.file.sha.hexdigest(), self.file.size)


class ParquetSink:
    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.schema = schema
        self.file = _HashingFile(path)
        self.writer = pq.ParquetWriter(self.file, schema)
        self.buffer: list[dict[str, Any]] = []
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self.buffer.append(row)
        self.rows += 1
        if len(self.buffer) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.buffer:
            self.writer.write_table(pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self) -> FileInfo:
        self._flush()
        self.writer.close()
        self.file.close()
        return FileInfo(self.path.name, self.rows, self.file.sha.hexdigest(), self.file.size)


def open_sink(directory: Path, stem: str, file_format: str, format_name: str) -> RowSink:
    if file_format == "parquet":
        return ParquetSink(directory / f"{stem}.parquet", parquet_schema(format_name))
    if file_format == "jsonl.gz":
        return JsonlSink(directory / f"{stem}.jsonl.gz", compress=True)
    return JsonlSink(directory / f"{stem}.jsonl")


def parquet_schema(format_name: str) -> Any:
    """The Parquet columns of each format (fields outside them stay in the JSONL export);
    ``<format>:soft`` is a format with Monte-Carlo soft labels."""
    import pyarrow as pa

    text = pa.string()
    messages = pa.list_(pa.struct([("role", text), ("content", text)]))
    completion = [("text", text), ("rating", pa.int8()), ("flagged", pa.bool_())]
    schemas = {
        "trl-stepwise": [
            ("prompt", text),
            ("completions", pa.list_(text)),
            ("labels", pa.list_(pa.bool_())),
        ],
        "openr": [("question", text), ("process", text), ("label", pa.list_(text))],
        "qwen-prm": [("messages", messages), ("labels", pa.list_(pa.int8()))],
        "math-shepherd": [("input", text), ("label", text), ("task", text)],
        "trl-stepwise:soft": [
            ("prompt", text),
            ("completions", pa.list_(text)),
            ("labels", pa.list_(pa.float64())),
        ],
        "math-shepherd:soft": [
            ("input", text),
            ("label", text),
            ("task", text),
            ("soft_labels", pa.list_(pa.float64())),
        ],
        "processbench": [
            ("id", text),
            ("generator", text),
            ("problem", text),
            ("steps", pa.list_(text)),
            ("final_answer_correct", pa.bool_()),
            ("label", pa.int32()),
        ],
        "sft-shortcut": [("messages", messages)],
        "sft-journey": [("messages", messages)],
        "dpo": [("prompt", messages), ("chosen", messages), ("rejected", messages)],
        "math": [
            ("problem", text),
            ("solution", text),
            ("answer", text),
            ("subject", text),
            ("level", pa.int32()),
            ("unique_id", text),
        ],
        "gsm8k": [("question", text), ("answer", text)],
        "prm800k": [
            ("labeler", text),
            ("timestamp", text),
            ("generation", pa.int32()),
            ("is_quality_control_question", pa.bool_()),
            ("is_initial_screening_question", pa.bool_()),
            (
                "question",
                pa.struct(
                    [
                        ("problem", text),
                        ("ground_truth_answer", text),
                        ("ground_truth_solution", text),
                        ("pre_generated_steps", pa.list_(text)),
                        ("pre_generated_answer", text),
                        ("pre_generated_verifier_score", pa.float64()),
                    ]
                ),
            ),
            (
                "label",
                pa.struct(
                    [
                        (
                            "steps",
                            pa.list_(
                                pa.struct(
                                    [
                                        ("completions", pa.list_(pa.struct(completion))),
                                        (
                                            "human_completion",
                                            pa.struct([*completion, ("source", text)]),
                                        ),
                                        ("chosen_completion", pa.int32()),
                                    ]
                                )
                            ),
                        ),
                        ("total_time", pa.int64()),
                        ("finish_reason", text),
                    ]
                ),
            ),
        ],
    }
    return pa.schema(schemas[format_name])
