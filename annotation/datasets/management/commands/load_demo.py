from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation.core.models import Membership, Project, Role
from annotation.datasets.importer import import_dataset

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_PROJECT = "Demo: school math"
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


def demo_password(username: str) -> str:
    return f"{username}-demo"


class Command(BaseCommand):
    help = "Create the demo project, its problems and one user per role (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        project, _ = Project.objects.get_or_create(
            name=DEMO_PROJECT, defaults={"guidelines": GUIDELINES, "overlap": 2}
        )
        users = get_user_model()
        for username, role in DEMO_USERS:
            user, created = users.objects.get_or_create(
                username=username, defaults={"is_staff": role == Role.ADMIN}
            )
            if created:
                user.set_password(demo_password(username))
                user.is_superuser = role == Role.ADMIN
                user.save()
            Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        for name, format_name in [("problems.jsonl", "math"), ("solutions.jsonl", "processbench")]:
            with (DEMO_DIR / name).open("rb") as stream:
                import_dataset(project=project, format_name=format_name, stream=stream)
        self.stdout.write(f"Demo project {DEMO_PROJECT!r} is ready.")
