from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from annotation.core.models import Membership, Project, Role
from annotation.datasets.demo_content import demo_content
from annotation.datasets.importer import import_dataset
from annotation.datasets.small_world import DEMO_MODEL_DIR, small_world_demo
from annotation.llm.services import prompt_templates_install_defaults

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_PROJECT = "Demo: school math"
DEMO_TEST_FRACTION = 0.2
# One login per role; the password is the username followed by "-demo".
DEMO_USERS = [
    ("admin", Role.ADMIN),
    ("annotator", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
    ("reviewer", Role.REVIEWER),
    ("researcher", Role.RESEARCHER),
]
GUIDELINES = """\
Grade every step **in the context of the steps before it**:

- **+1** the step is correct and moves towards the answer;
- **0** the step is correct but does not help (or is a reasonable guess);
- **-1** the step is wrong, or builds on a wrong step.

Mark *unsure* when you cannot decide. Math renders like $\\frac{a}{b}$.
"""
RECORD_GUIDELINES = """\
Write down **every** thought as you solve the problem for the first time, in order:

- an *attempt* for each try, right or wrong;
- a *reflection* when you check or doubt what you did;
- a *backtrack* when you abandon an earlier thought (say why), then a *correction*;
- an *explanation* for the common-sense facts you would normally leave unsaid;
- a *conclusion* with the final answer, e.g. $\\boxed{42}$.

Do not tidy up afterwards: the detours are what the data is for.
"""


def demo_password(username: str) -> str:
    return f"{username}-demo"


class Command(BaseCommand):
    help = (
        "Create the demo project, its problems, one user per role, the tiny demo model's "
        "configs and a demo round (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model-dir",
            type=Path,
            default=settings.VAR_DIR / "demo-model",
            help="The demo model's directory (built by `python -m workers.demo_model DIR`).",
        )
        parser.add_argument(
            "--small-world-model-dir",
            type=Path,
            default=DEMO_MODEL_DIR,
            help="The small-world model (committed; `python -m workers.small_world_model DIR`).",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        project, _ = Project.objects.get_or_create(
            name=DEMO_PROJECT,
            defaults={
                "guidelines": GUIDELINES,
                "record_guidelines": RECORD_GUIDELINES,
                "overlap": 2,
                # its exports keep a fifth of the problems out of train: a model trained on
                # day one can be evaluated on them
                "export_test_fraction": DEMO_TEST_FRACTION,
            },
        )
        if not project.record_guidelines:
            project.record_guidelines = RECORD_GUIDELINES
            project.save(update_fields=["record_guidelines"])
        users = get_user_model()
        people = {}
        for username, role in DEMO_USERS:
            user, created = users.objects.get_or_create(
                username=username, defaults={"is_staff": role == Role.ADMIN}
            )
            if created:
                user.set_password(demo_password(username))
                user.is_superuser = role == Role.ADMIN
                user.save()
            Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
            people[username] = user
        for name, format_name in [("problems.jsonl", "math"), ("solutions.jsonl", "processbench")]:
            with (DEMO_DIR / name).open("rb") as stream:
                import_dataset(project=project, format_name=format_name, stream=stream)
        model_dir: Path = options["model_dir"]
        content = demo_content(
            project=project,
            researcher=people["researcher"],
            annotator=people["annotator"],
            model_dir=model_dir,
        )
        world, world_model = small_world_demo(model_dir=options["small_world_model_dir"])
        for username, role in DEMO_USERS:
            Membership.objects.get_or_create(
                project=world, user=people[username], defaults={"role": role}
            )
        prompt_templates_install_defaults(project=world, user=people["researcher"])
        self.stdout.write(f"Demo project {DEMO_PROJECT!r} is ready.")
        self.stdout.write(
            f"Demo project {world.name!r} is ready: its model {world_model.name!r} solves part "
            "of its problems and slips on the rest."
        )
        self.stdout.write(
            f"Demo models {content.generator.name!r} and {content.scorer.name!r} read "
            f"{content.generator.path_or_endpoint} (tiny, random weights: their text is noise)."
        )
        world_dir: Path = options["small_world_model_dir"]
        if not (world_dir / "config.json").is_file():
            self.stderr.write(
                f"No small-world model in {world_dir}: build it with "
                f"`.venv/bin/python -m workers.small_world_model {world_dir}`."
            )
        if not (model_dir / "config.json").is_file():
            self.stderr.write(
                f"No model in {model_dir} yet: build it with "
                f"`.venv/bin/python -m workers.demo_model {model_dir}` (make run does)."
            )
