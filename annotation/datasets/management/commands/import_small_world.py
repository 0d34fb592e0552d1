from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.models import Project
from annotation.datasets.small_world import HELD_OUT_SUBJECT, small_world_import


class Command(BaseCommand):
    help = (
        "Import small-world problems (chains of integer operations in words, exact answers) "
        "into a project: training problems and held-out test problems, the same for a seed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project name (created if new).")
        parser.add_argument("--train", type=int, default=200, help="Training problems.")
        parser.add_argument(
            "--test",
            type=int,
            default=50,
            help=f"Held-out problems (subject {HELD_OUT_SUBJECT!r}).",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("train", "test", "seed"):
            if options[name] < 0:
                raise CommandError(f"--{name} must be 0 or more, got {options[name]}")
        if options["train"] + options["test"] == 0:
            raise CommandError("--train and --test are both 0: nothing to import")
        project, _ = Project.objects.get_or_create(name=options["project"])
        report = small_world_import(
            project=project, train=options["train"], test=options["test"], seed=options["seed"]
        )
        self.stdout.write(
            f"{report.problems_created} new small-world problems in {project.name!r} "
            f"({options['train']} training, {options['test']} held out, seed {options['seed']})."
        )
