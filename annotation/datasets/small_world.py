"""The small world (algorithms/small_world.py) as a dataset of a project: its problems written
in the MATH format and imported through the importer like any file, so they become problems
with a reference solution, a level and an answer through the problems services. Held-out test
problems carry the subject HELD_OUT_SUBJECT and ids under `small-world/test/`; an export or an
evaluation leaves them out of training by those ids (see `held_out_ids`)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from algorithms import small_world
from annotation.core.models import Project
from annotation.datasets.importer import ImportReport, import_dataset
from annotation.problems.models import Problem

TRAIN_SUBJECT = small_world.SUBJECT
HELD_OUT_SUBJECT = f"{small_world.SUBJECT}: held out"


def small_world_problems(*, train: int, test: int, seed: int = 0) -> list[small_world.Problem]:
    return [
        *small_world.generate(train, seed=seed, split="train"),
        *small_world.generate(test, seed=seed, split="test"),
    ]


def math_records(problems: Sequence[small_world.Problem]) -> bytes:
    """The problems as MATH-format JSONL (problem, solution, answer, subject, level, id)."""
    lines = [
        json.dumps(
            {
                "problem": p.text,
                "solution": p.solution(),
                "answer": str(p.answer),
                "subject": HELD_OUT_SUBJECT if p.split == "test" else TRAIN_SUBJECT,
                "level": p.level,
                "unique_id": p.unique_id,
            }
        )
        for p in problems
    ]
    return ("\n".join(lines) + "\n").encode()


def small_world_import(*, project: Project, train: int, test: int, seed: int = 0) -> ImportReport:
    """Import `train` training and `test` held-out problems of the seed (again: no duplicates)."""
    records = math_records(small_world_problems(train=train, test=test, seed=seed))
    return import_dataset(project=project, format_name="math", stream=io.BytesIO(records))


def held_out_ids(project: Project) -> list[str]:
    """The external ids of the project's held-out small-world problems."""
    return list(
        Problem.objects.filter(project=project, subject=HELD_OUT_SUBJECT)
        .order_by("external_id")
        .values_list("external_id", flat=True)
    )
