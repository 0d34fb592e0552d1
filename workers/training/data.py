"""The data of a run in its directory: the train split of an export, copied from Django
storage with its sha256 checked against the manifest; or a GRPO run's problem set, written
from the database on the first attempt and kept, so that a resumed run reads the same rows.
Both are read with `datasets`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from algorithms.prompts import render_prompt
from annotation.jobs.boundary import in_project
from annotation.jobs.models import Job
from annotation.problems.models import Problem
from annotation.training.params import ExportInput, GRPOParams
from workers.backends.base import BackendError

COPY_CHUNK = 1 << 20
PROBLEM_SET_NAME = "problems.jsonl"


def fetch_train_file(export: ExportInput, directory: Path) -> Path:
    """The train file at `directory`, byte for byte what the manifest describes."""
    target = directory / Path(export.file).name
    if target.exists() and file_sha256(target) == export.sha256:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with default_storage.open(export.file, "rb") as source, partial.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except FileNotFoundError:
        raise BackendError(
            f"the train file of export {export.job} ({export.file}) is gone from storage",
            retryable=False,
        ) from None
    if digest.hexdigest() != export.sha256:
        partial.unlink()
        raise BackendError(
            f"the train file of export {export.job} does not match its manifest's sha256 "
            f"{export.sha256}; the file was changed after the export",
            retryable=False,
        )
    partial.replace(target)
    return target


def write_problem_set(job: Job, params: GRPOParams, directory: Path) -> Path:
    """The problems as GRPO rows (prompt, problem, answer, problem_id), in the order of the
    job's parameters; written once, renamed into place when complete. A problem deleted
    since the job started is left out."""
    target = directory / PROBLEM_SET_NAME
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    ids = list(params.problems.problem_ids)
    problems = in_project(job, Problem, ids).only("pk", "text", "answer").in_bulk()
    if not problems:
        raise BackendError("every problem of the job was deleted since it started", retryable=False)
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        for pk in ids:
            if (problem := problems.get(pk)) is not None:
                out.write(json.dumps(problem_row(problem, params), ensure_ascii=False) + "\n")
    partial.replace(target)
    return target


def problem_row(problem: Problem, params: GRPOParams) -> dict[str, Any]:
    """A problem rendered with the job's sample prompt, as a chat turn when the base model
    samples with its chat template (TRL then applies it), else as plain text."""
    text = render_prompt(params.prompt.text, {"problem": problem.text})
    prompt: Any = [{"role": "user", "content": text}] if params.base.use_chat_template else text
    return {
        "prompt": prompt,
        "problem": problem.text,
        "answer": problem.answer or "",
        "problem_id": problem.pk,
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_rows(path: Path, cache_dir: Path) -> Any:
    """A `datasets.Dataset` of the file's rows, in file order (JSONL, gzip JSONL or Parquet)."""
    import datasets

    builder = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(builder, data_files=str(path), cache_dir=str(cache_dir))["train"]
