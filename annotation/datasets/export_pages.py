"""The export page: choose a format and options; the export runs as a job."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotation.core.access import Ability, access_project
from annotation.core.columns import TEXT_MAX_CHARS, USERNAME_MAX_CHARS
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.left_out import left_out_rows
from annotation.datasets.export.options import (
    FILE_FORMATS,
    GRADE_CHOICES,
    TRACE_KINDS,
    ExportOptionError,
    ExportOptions,
    held_out_from_text,
)
from annotation.datasets.export.pipeline import MANIFEST_NAME
from annotation.datasets.export.readme import README_NAME
from annotation.datasets.export.services import start_export
from annotation.jobs.access import access_job
from annotation.jobs.models import JobKind
from annotation.jobs.results import in_reading_order, label_of
from annotation.jobs.views import render_job_page
from annotation.problems.models import Origin
from annotation.workspace.review_filter import review_filter_field


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(name, name) for name in sorted(EXPORT_FORMATS)])
    file_format = forms.ChoiceField(choices=[(name, name) for name in FILE_FORMATS])
    zero_is = forms.ChoiceField(
        choices=[("good", "good (OpenR, Qwen)"), ("bad", "bad (TRL's PRM800K script)")],
        help_text="How a 0 (okay) rating becomes a binary label.",
    )
    grades = forms.ChoiceField(choices=[(name, name) for name in GRADE_CHOICES])
    annotator = forms.CharField(
        required=False,
        max_length=USERNAME_MAX_CHARS,
        help_text="Username, for grades = annotator.",
    )
    run = forms.IntegerField(required=False, help_text="Job id, for grades = run.")
    score_threshold = forms.FloatField(initial=0.5)
    min_agreement = forms.FloatField(initial=0.0, min_value=0.0, max_value=1.0)
    origins = forms.MultipleChoiceField(
        choices=Origin.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: the format's default origins.",
    )
    after_error = forms.ChoiceField(
        choices=[("", "format default"), ("drop", "drop"), ("keep", "keep")], required=False
    )
    test_fraction = forms.FloatField(
        initial=0.0,
        min_value=0.0,
        max_value=0.99,
        help_text="The share of problems kept out of train, in a test split: what a model "
        "trained on this export can be evaluated on (Training and results). 0: all in train.",
    )
    seed = forms.IntegerField(initial=0)
    held_out = forms.CharField(
        required=False,
        max_length=TEXT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Problems kept out of train: ids or texts, one a line, or MATH-style JSONL.",
    )
    dedupe = forms.BooleanField(required=False, help_text="Remove duplicate rows.")
    pairs_per_problem = forms.IntegerField(
        initial=5,
        min_value=1,
        help_text="dpo: pairs of distinct correct and incorrect responses per problem.",
    )
    jobs = forms.CharField(
        required=False,
        max_length=TEXT_MAX_CHARS,
        help_text="Only traces of these jobs: ids separated by commas.",
    )
    tree_round = forms.IntegerField(
        required=False, help_text="Only traces derived from this tree job (a round)."
    )
    kinds = forms.MultipleChoiceField(
        choices=[(kind, kind) for kind in TRACE_KINDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: every kind.",
    )
    include_unfaithful = forms.BooleanField(
        required=False, help_text="sft-journey: keep rewrites that failed their fidelity check."
    )
    include_no_trial = forms.BooleanField(
        required=False, help_text="sft-journey: keep long thoughts that make no trial."
    )
    include_unverified = forms.BooleanField(
        required=False,
        help_text="sft-journey: keep loops that ended without a verified correct answer.",
    )
    one_per_problem = forms.BooleanField(
        required=False,
        help_text="sft-shortcut, sft-paired: one correct solution (pair) per problem.",
    )
    exclude_unanswered = forms.BooleanField(
        required=False, help_text="dpo: leave unanswered samples out (default: rejected responses)."
    )
    soft_labels = forms.BooleanField(
        required=False,
        help_text="trl-stepwise, math-shepherd: float labels (Monte-Carlo scores).",
    )
    keep_unlabeled = forms.BooleanField(
        required=False,
        help_text="prm800k: also write traces nobody rated (labeler and ratings null).",
    )
    chosen_path_only = forms.BooleanField(
        required=False,
        help_text="stepwise formats: the chosen path only, no row per rated alternative.",
    )
    keep_gold_items = forms.BooleanField(
        required=False,
        help_text="step-label formats: also the labels of gold items (quality control, screening).",
    )
    keep_failed_screening = forms.BooleanField(
        required=False,
        help_text="step-label formats: also the labels of people who failed screening.",
    )

    review = review_filter_field(
        "People's work (thought records, annotators' grades) by its review."
    )

    def clean_jobs(self) -> tuple[int, ...]:
        raw = self.cleaned_data["jobs"] or ""
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if bad := [part for part in parts if not part.isdigit()]:
            raise ValidationError(f"{bad[0]!r} is not a job id")
        return tuple(int(part) for part in parts)

    def options(self) -> ExportOptions:
        data = self.cleaned_data
        return ExportOptions(
            format=data["format"],
            file_format=data["file_format"],
            zero_is=data["zero_is"],
            grades=data["grades"],
            annotator=data["annotator"] or None,
            run=data["run"],
            score_threshold=data["score_threshold"],
            min_agreement=data["min_agreement"],
            origins=tuple(data["origins"]) or None,
            after_error=data["after_error"] or None,
            test_fraction=data["test_fraction"],
            seed=data["seed"],
            held_out=held_out_from_text(data["held_out"]),
            dedupe=data["dedupe"],
            pairs_per_problem=data["pairs_per_problem"],
            jobs=data["jobs"],
            tree_round=data["tree_round"],
            kinds=tuple(data["kinds"]),
            include_unfaithful=data["include_unfaithful"],
            include_no_trial=data["include_no_trial"],
            include_unverified=data["include_unverified"],
            one_per_problem=data["one_per_problem"],
            exclude_unanswered=data["exclude_unanswered"],
            soft_labels=data["soft_labels"],
            review=data["review"] or "not_rejected",
            keep_unlabeled=data["keep_unlabeled"],
            chosen_path_only=data["chosen_path_only"],
            keep_gold_items=data["keep_gold_items"],
            keep_failed_screening=data["keep_failed_screening"],
        )


@login_required
def export_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    # the project's test fraction first (the demo's keeps a test split: day one can evaluate)
    form = ExportForm(request.POST or None, initial={"test_fraction": project.export_test_fraction})
    if request.method == "POST" and form.is_valid():
        try:
            job = start_export(project=project, user=request.user, options=form.options())
        except ExportOptionError as error:
            field, _, message = str(error).partition(": ")
            form.add_error(field if field in form.fields else None, message or str(error))
        except ValidationError as error:  # e.g. a run of another project
            for field, texts in error.message_dict.items():
                form.add_error(field if field in form.fields else None, texts)
        else:
            return redirect("job", job.pk)
    exports = project.jobs.filter(kind=JobKind.EXPORT).order_by("-id")[:20]
    return render(
        request, "datasets/export.html", {"project": project, "form": form, "exports": exports}
    )


@login_required
def export_job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """An export job: live until it ends, then its manifest as tables, every file linked, and
    what was left out and why."""
    job = access_job(request.user, job_id)
    if job.kind != JobKind.EXPORT:
        return redirect("job", job.pk)

    def outputs() -> dict[str, object]:
        result = job.result or {}
        manifest = result.get("manifest") or {}
        files = result.get("files") or {}
        counts = manifest.get("counts") or {}
        # a paired export (sft-paired) describes its first format's files in paired.splits
        paired = (manifest.get("paired") or {}).get("splits") or {}
        splits = [
            {"split": split, **info, "stored": info.get("name") in files}
            for part in (manifest.get("splits") or {}, paired)
            for split, info in part.items()
        ]
        return {
            "manifest": manifest,
            "splits": splits,
            "manifest_stored": MANIFEST_NAME in files,
            "manifest_name": MANIFEST_NAME,
            "readme_name": README_NAME if README_NAME in files else "",
            "archive_name": next((name for name in files if name.endswith(".zip")), ""),
            "counts": [(label_of(key), counts[key]) for key in in_reading_order(counts)],
            "options": sorted((manifest.get("options") or {}).items()),
            "left_out": left_out_rows(manifest),
        }

    return render_job_page(
        request,
        job,
        "datasets/export_job.html",
        outputs_template="datasets/_export_outputs.html",
        outputs=outputs,
    )


@login_required
def export_file(request: HttpRequest, job_id: int, name: str) -> FileResponse:
    """One file of a finished export (a split, the README, the manifest or the zip of them
    all), from Django storage."""
    job = access_job(request.user, job_id)
    stored = (job.result or {}).get("files", {}).get(name) if job.kind == JobKind.EXPORT else None
    if not stored:
        raise Http404("This export has no such file")
    return FileResponse(job.output_file.storage.open(stored, "rb"), as_attachment=True)
