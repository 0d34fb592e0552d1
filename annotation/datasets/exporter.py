"""Dataset exports into one text stream (the round-trip formats and quick looks).

Training exports with splits, files and a manifest are in annotation.datasets.export.
"""

import json
from collections import Counter
from collections.abc import Callable
from typing import IO

from annotation.core.models import Project
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import iter_rows
from annotation.datasets.export.selection import Splitter

__all__ = ["EXPORT_FORMATS", "export_dataset"]


def export_dataset(
    *,
    project: Project,
    format_name: str,
    out: IO[str],
    chunk_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
    options: ExportOptions | None = None,
) -> int:
    """Write one JSON line per row (every split together); returns the number of rows."""
    options = options or ExportOptions(format=format_name)
    count = 0
    for _, row in iter_rows(
        project,
        options,
        Splitter(options),
        Counter(),
        chunk_size=chunk_size,
        on_progress=(lambda done, total: on_progress(done)) if on_progress else None,
    ):
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")
        count += 1
    return count
