"""Mark (or unmark) screening and QC items from a file of trace ids, or from the flags of
imported PRM800K rows."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.models import Project
from annotation.problems.models import Trace
from annotation.workspace.models import GoldKind
from annotation.workspace.quality_views import ids_from_text
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.gold import gold_mark_many, gold_unmark

PRM800K_FLAGS = {
    GoldKind.QC: "is_quality_control_question",
    GoldKind.SCREENING: "is_initial_screening_question",
}


class Command(BaseCommand):
    help = (
        "Mark the traces whose ids FILE lists (one a line, or separated by spaces or commas; "
        "'#' starts a comment) as screening or QC items of a project, with their gold grades."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", type=Path, help="The trace ids.")
        parser.add_argument("--project", required=True, help="The project's name or id.")
        parser.add_argument("--kind", choices=GoldKind.values, default=GoldKind.QC)
        parser.add_argument(
            "--source",
            help="The grade source whose grades are the gold (default: the one imported "
            "dataset that graded each trace, e.g. its PRM800K labeler).",
        )
        parser.add_argument("--unmark", action="store_true", help="Unmark the traces instead.")
        parser.add_argument(
            "--from-prm800k-flags",
            action="store_true",
            help="Instead of a file: the imported PRM800K rows flagged as --kind "
            "(is_quality_control_question or is_initial_screening_question).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = self._project(options["project"])
        kind = options["kind"]
        if options["from_prm800k_flags"]:
            flag = f"metadata__prm800k__{PRM800K_FLAGS[kind]}"
            ids = list(
                Trace.objects.filter(problem__project=project, **{flag: True}).values_list(
                    "pk", flat=True
                )
            )
        elif options["file"] is None:
            raise CommandError("give FILE, or --from-prm800k-flags")
        else:
            path: Path = options["file"]
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            try:
                ids = ids_from_text(path.read_text(encoding="utf-8"), field=str(path))
            except WorkspaceError as error:
                raise CommandError(str(error)) from None
        try:
            if options["unmark"]:
                done = gold_unmark(project=project, trace_ids=ids)
                self.stdout.write(f"{done} trace(s) are no longer gold items.")
                return
            marked = gold_mark_many(
                project=project, trace_ids=ids, kind=kind, source_name=options["source"]
            )
        except WorkspaceError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{len(marked)} trace(s) marked as {kind} items of {project.name}.")

    def _project(self, key: str) -> Project:
        project = Project.objects.filter(name=key).first()
        if project is None and key.isdigit():
            project = Project.objects.filter(pk=int(key)).first()
        if project is None:
            raise CommandError(f"--project: no project named {key!r}")
        return project
