import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.models import Project
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import (
    FILE_FORMATS,
    GRADE_CHOICES,
    TRACE_KINDS,
    ExportOptionError,
    ExportOptions,
    held_out_from_text,
)
from annotation.datasets.export.pipeline import MANIFEST_NAME, export_to_directory
from annotation.problems.models import Origin


class Command(BaseCommand):
    help = "Export a project's data into OUT (a directory): one file per split and manifest.json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="Directory for the files and the manifest.")
        parser.add_argument("--project", required=True)
        parser.add_argument("--format", required=True, choices=sorted(EXPORT_FORMATS))
        parser.add_argument("--file-format", default="jsonl", choices=FILE_FORMATS)
        parser.add_argument(
            "--zero-is", default="good", choices=["good", "bad"], help="How a 0 rating counts."
        )
        parser.add_argument("--grades", default="trace", choices=GRADE_CHOICES)
        parser.add_argument("--annotator", help="Username, with --grades annotator.")
        parser.add_argument("--run", type=int, help="Job id of a model run, with --grades run.")
        parser.add_argument("--score-threshold", type=float, default=0.5)
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument(
            "--origin",
            action="append",
            choices=Origin.values,
            help="Trace origins to export (repeat; default: the format's).",
        )
        parser.add_argument("--after-error", choices=["drop", "keep"])
        parser.add_argument("--test-fraction", type=float, default=0.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--held-out-file",
            type=Path,
            help="Problems never written to train: ids or texts, one a line, or JSONL rows "
            "with unique_id / problem (e.g. MATH-500's test.jsonl).",
        )
        parser.add_argument("--dedupe", action="store_true", help="Remove duplicate rows.")
        parser.add_argument("--pairs-per-problem", type=int, default=5)
        parser.add_argument(
            "--job", type=int, action="append", help="Only traces of this job (repeat)."
        )
        parser.add_argument(
            "--tree-round", type=int, help="Only traces derived from this tree job."
        )
        parser.add_argument(
            "--kind", action="append", choices=TRACE_KINDS, help="Only this kind (repeat)."
        )
        parser.add_argument(
            "--include-unfaithful",
            action="store_true",
            help="sft-journey: keep rewrites that failed their fidelity check.",
        )
        parser.add_argument(
            "--include-no-trial",
            action="store_true",
            help="sft-journey: keep long thoughts that make no trial.",
        )
        parser.add_argument(
            "--include-unverified",
            action="store_true",
            help="sft-journey: keep loops that ended without a verified correct answer.",
        )
        parser.add_argument(
            "--one-per-problem",
            action="store_true",
            help="sft-shortcut, sft-paired: one correct solution (pair) per problem.",
        )
        parser.add_argument(
            "--exclude-unanswered",
            action="store_true",
            help="dpo: leave unanswered samples out (default: rejected responses).",
        )
        parser.add_argument(
            "--soft",
            action="store_true",
            help="trl-stepwise, math-shepherd: float labels (e.g. Monte-Carlo scores).",
        )
        parser.add_argument(
            "--review",
            default="not_rejected",
            choices=["accepted", "not_rejected", "all"],
            help="People's work by its review (default: all but rejected work).",
        )
        parser.add_argument(
            "--keep-unlabeled",
            action="store_true",
            help="prm800k: also write traces nobody rated (labeler and ratings null).",
        )
        parser.add_argument(
            "--chosen-path-only",
            action="store_true",
            help="stepwise formats: the chosen path only, no row per rated alternative.",
        )
        parser.add_argument(
            "--keep-gold-items",
            action="store_true",
            help="step-label formats: also the labels of gold items (quality control, screening).",
        )
        parser.add_argument(
            "--keep-failed-screening",
            action="store_true",
            help="step-label formats: also the labels of people who failed screening.",
        )
        parser.add_argument("--chunk-size", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = Project.objects.get(name=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"no project named {options['project']!r}") from None
        held_out_file: Path | None = options["held_out_file"]
        if held_out_file is not None and not held_out_file.is_file():
            raise CommandError(f"--held-out-file: {held_out_file}: no such file")
        try:
            export_options = ExportOptions(
                format=options["format"],
                file_format=options["file_format"],
                zero_is=options["zero_is"],
                grades=options["grades"],
                annotator=options["annotator"],
                run=options["run"],
                score_threshold=options["score_threshold"],
                min_agreement=options["min_agreement"],
                origins=tuple(options["origin"]) if options["origin"] else None,
                after_error=options["after_error"],
                test_fraction=options["test_fraction"],
                seed=options["seed"],
                held_out=held_out_from_text(held_out_file.read_text()) if held_out_file else (),
                dedupe=options["dedupe"],
                pairs_per_problem=options["pairs_per_problem"],
                jobs=tuple(options["job"] or ()),
                tree_round=options["tree_round"],
                kinds=tuple(options["kind"] or ()),
                include_unfaithful=options["include_unfaithful"],
                include_no_trial=options["include_no_trial"],
                include_unverified=options["include_unverified"],
                one_per_problem=options["one_per_problem"],
                exclude_unanswered=options["exclude_unanswered"],
                soft_labels=options["soft"],
                review=options["review"],
                keep_unlabeled=options["keep_unlabeled"],
                chosen_path_only=options["chosen_path_only"],
                keep_gold_items=options["keep_gold_items"],
                keep_failed_screening=options["keep_failed_screening"],
            )
            manifest = export_to_directory(
                project=project,
                options=export_options,
                directory=options["out"],
                chunk_size=options["chunk_size"],
            )
        except ExportOptionError as error:
            raise CommandError(str(error)) from None
        for split, info in manifest["splits"].items():
            self.stdout.write(f"{split}: {info['rows']} rows in {options['out'] / info['name']}")
        for split, why in manifest.get("omitted_splits", {}).items():
            self.stdout.write(f"{split}: omitted: {why}")
        self.stdout.write(f"manifest: {options['out'] / MANIFEST_NAME}")
        self.stdout.write(json.dumps(manifest["counts"]))
        for reason, entry in manifest["left_out"].items():
            self.stdout.write(f"left out ({reason}): {entry['count']}: {entry['why']}")
