"""The small world (algorithms/small_world.py) as a dataset of a project: its problems written
in the MATH format and imported through the importer like any file, so they become problems
with a reference solution, a level and an answer through the problems services. Held-out test
problems carry the subject HELD_OUT_SUBJECT and ids under `small-world/test/`; an export or an
evaluation leaves them out of training by those ids (see `held_out_ids`)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

from algorithms import small_world
from algorithms.choices import NO_SCORER_HEAD
from annotation.core.models import Project
from annotation.datasets.importer import ImportReport, import_dataset
from annotation.llm.models import ModelConfig
from annotation.llm.services import model_config_create, model_config_update
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


# The demo ---------------------------------------------------------------------------------------

DEMO_PROJECT = "Demo: small world"
DEMO_TRAIN = 200
DEMO_TEST = 50
# The model committed beside the demo's data (built by `python -m workers.small_world_model`).
DEMO_MODEL_DIR = Path(__file__).resolve().parent / "demo" / "small-world-model"
GENERATOR = "small-world-tiny"
# The same model read as a Math-Shepherd PRM: its "+"/"-" logits at the step tag were never
# trained, so its scores only order candidates at random.
SCORER = "small-world-tiny-untrained-prm"
# A Math-Shepherd PRM trained from Monte-Carlo labels in this world: the PRM stage of
# `manage.py run_small_world_experiment` (docs/small_world.md), its model committed here.
DEMO_PRM_DIR = Path(__file__).resolve().parent / "demo" / "small-world-prm"
TRAINED_SCORER = "small-world-tiny-prm"
# Room for a level-5 solution (about 110 tokens); sampled as the model was trained, without
# the chat template: sample, tree and Monte-Carlo jobs continue the prompt text itself.
SAMPLING = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 160}
GUIDELINES = """\
Each problem is a chain of operations on whole numbers. A step is **+1** when it applies the
problem's next operation to the previous result and computes it exactly, **-1** otherwise
(also when it builds on a wrong result). The last step states the answer as $\\boxed{n}$.
"""


def small_world_demo(
    *, model_dir: Path = DEMO_MODEL_DIR, prm_dir: Path = DEMO_PRM_DIR
) -> tuple[Project, ModelConfig]:
    """The small-world demo project: its problems, prompts and the tiny model's configs
    (idempotent). Returns the project and the generator's config."""
    project, _ = Project.objects.get_or_create(
        name=DEMO_PROJECT, defaults={"guidelines": GUIDELINES, "overlap": 1}
    )
    small_world_import(project=project, train=DEMO_TRAIN, test=DEMO_TEST)
    generator = small_world_config(project, GENERATOR, model_dir=model_dir)
    prm = "math-shepherd"
    small_world_config(project, SCORER, model_dir=model_dir, head=prm)
    small_world_config(project, TRAINED_SCORER, model_dir=prm_dir, head=prm)
    return project, generator


def small_world_config(
    project: Project,
    name: str,
    *,
    model_dir: Path = DEMO_MODEL_DIR,
    head: str = NO_SCORER_HEAD,
    chat_template: bool = False,
) -> ModelConfig:
    """The project's config `name` reading the small world's model (created if missing,
    pointed at `model_dir` if it reads another): sampled as the model was trained, without
    the chat template unless asked."""
    path = str(model_dir.resolve())
    config = ModelConfig.objects.filter(project=project, name=name).first()
    if config is None:
        return model_config_create(
            project=project,
            name=name,
            kind="transformers",
            path_or_endpoint=path,
            dtype="float32",
            default_sampling=SAMPLING,
            scorer_head=head,
            use_chat_template=chat_template,
        )
    if config.path_or_endpoint != path:
        return model_config_update(config=config, path_or_endpoint=path)
    return config
