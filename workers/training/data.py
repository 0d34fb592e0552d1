"""The train split of an export, copied from Django storage into the run's directory with
its sha256 checked against the manifest, then read with `datasets`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from annotation.training.params import ExportInput
from workers.backends.base import BackendError

COPY_CHUNK = 1 << 20


def fetch_train_file(export: ExportInput, directory: Path) -> Path:
    """The train file at `directory`, byte for byte what the manifest describes."""
    target = directory / Path(export.file).name
    if target.exists() and _sha256(target) == export.sha256:
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


def _sha256(path: Path) -> str:
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
