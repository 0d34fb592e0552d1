"""The export page: choose a format and options; the export runs as a job."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotation.core.access import Ability, access_project
from annotation.core.columns import TEXT_MAX_CHARS
from annotation.core.form_errors import form_submitted
from annotation.core.params_fields import field_help, form_params, params_form
from annotation.datasets.export.left_out import left_out_rows
from annotation.datasets.export.options import ExportOptions, held_out_from_text
from annotation.datasets.export.pipeline import MANIFEST_NAME
from annotation.datasets.export.readme import README_NAME
from annotation.datasets.export.services import export_start
from annotation.jobs.access import access_job
from annotation.jobs.models import JobKind
from annotation.jobs.results import in_reading_order, label_of
from annotation.jobs.views import render_job_page
from annotation.problems.models import Origin
from annotation.workspace.review_filter import review_filter_field


class ExportForm(params_form(ExportOptions, exclude={"extra"})):  # type: ignore[misc]
    """Every export option (ExportOptions' fields, which check them), as the page shows them."""

    zero_is = forms.ChoiceField(
        choices=[("good", "good (OpenR, Qwen)"), ("bad", "bad (TRL's PRM800K script)")],
        required=False,
        initial="good",
        help_text=field_help(ExportOptions, "zero_is"),
    )
    origins = forms.MultipleChoiceField(
        choices=Origin.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=field_help(ExportOptions, "origins"),
    )
    held_out = forms.CharField(
        required=False,
        max_length=TEXT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=field_help(ExportOptions, "held_out"),
    )
    review = review_filter_field(field_help(ExportOptions, "review"))

    def options(self) -> ExportOptions:
        """The options chosen: an option they refuse is a ParamsError naming it."""
        data = dict(self.cleaned_data, held_out=held_out_from_text(self.cleaned_data["held_out"]))
        return ExportOptions.from_params(form_params(ExportOptions, data))


@login_required
def export_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    # the project's test fraction first (the demo's keeps a test split: day one can evaluate)
    form = ExportForm(request.POST or None, initial={"test_fraction": project.export_test_fraction})
    # a refused option, a run of another project: on the form
    job = form_submitted(
        request,
        form,
        lambda: export_start(project=project, user=request.user, options=form.options()),
    )
    if job is not None:
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
