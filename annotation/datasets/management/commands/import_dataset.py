import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.models import Project
from annotation.datasets.errors import RecordError
from annotation.datasets.importer import IMPORT_FORMATS, MAX_REPORTED_ERRORS, import_dataset


class Command(BaseCommand):
    help = "Import a dataset file into a project (all-or-nothing unless --skip-invalid)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="Project name (created if new).")
        parser.add_argument("--format", required=True, choices=sorted(IMPORT_FORMATS))
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help=(
                "Import the valid records and write the bad ones to an error report "
                f"(the first {MAX_REPORTED_ERRORS}, then a count of the others)."
            ),
        )
        parser.add_argument(
            "--error-report",
            type=Path,
            help="Where --skip-invalid writes its report (default: PATH.errors.jsonl).",
        )
        parser.add_argument(
            "--no-grade-answers",
            action="store_true",
            help="Do not check final answers against the ground truth.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        project, _ = Project.objects.get_or_create(name=options["project"])

        def progress(done: int, total: int | None) -> None:
            if total and options["verbosity"] > 1:
                self.stderr.write(f"\r{100 * done // total}%", ending="")

        try:
            with path.open("rb") as stream:
                report = import_dataset(
                    project=project,
                    format_name=options["format"],
                    stream=stream,
                    skip_invalid=options["skip_invalid"],
                    grade_answers=not options["no_grade_answers"],
                    on_progress=progress,
                )
        except RecordError as error:
            raise CommandError(f"{path}: {error}; nothing was imported") from None
        if report.invalid_records:
            report_path = Path(
                options["error_report"] or path.with_name(path.name + ".errors.jsonl")
            )
            with report_path.open("w") as out:
                out.writelines(report.error_lines())
            listed = len(report.errors)
            where = "see" if listed == report.invalid_records else f"the first {listed} are in"
            self.stderr.write(
                f"{report.invalid_records} invalid records skipped; {where} {report_path}"
            )
        self.stdout.write(json.dumps(report.as_dict()))
        sys.stdout.flush()
