from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.models import Project
from annotation.datasets.exporter import EXPORT_FORMATS, export_dataset


class Command(BaseCommand):
    help = "Export a project's data as JSONL in a dataset format."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path)
        parser.add_argument("--project", required=True)
        parser.add_argument("--format", required=True, choices=sorted(EXPORT_FORMATS))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = Project.objects.get(name=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"no project named {options['project']!r}") from None
        with options["out"].open("w", encoding="utf-8") as out:
            count = export_dataset(project=project, format_name=options["format"], out=out)
        self.stdout.write(f"{count} rows written to {options['out']}")
