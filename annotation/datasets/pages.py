"""The upload page for imports."""

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotation.core.access import Ability, access_project
from annotation.core.form_errors import form_submitted
from annotation.datasets.importer import IMPORT_FORMATS
from annotation.datasets.services import import_start
from annotation.datasets.upload_checks import upload_problem
from annotation.jobs.models import Job


class ImportForm(forms.Form):
    format = forms.ChoiceField(choices=[(name, name) for name in sorted(IMPORT_FORMATS)])
    # Required, but checked in clean_file: a file left out for its name says why.
    file = forms.FileField(
        required=False, help_text="JSONL (.jsonl), or a JSON array (.json) for ProcessBench."
    )
    skip_invalid = forms.BooleanField(
        required=False, help_text="Import the valid records and report the others."
    )

    def __init__(self, *args: Any, refusals: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusals = refusals or []  # PageUploadsMiddleware's, for a file it left out

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data.get("file")
        if self.refusals:
            raise forms.ValidationError(self.refusals[0])
        if not upload:
            raise forms.ValidationError("Choose a file to import.")
        if problem := upload_problem(upload):
            raise forms.ValidationError(problem)
        return upload


@login_required
def import_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    form = ImportForm(
        request.POST or None,
        request.FILES or None,
        refusals=getattr(request, "upload_refusals", None),
    )

    def start() -> Job:
        upload = form.cleaned_data["file"]
        return import_start(
            project=project,
            user=request.user,
            format_name=form.cleaned_data["format"],
            upload=upload,
            name=upload.name,
            skip_invalid=form.cleaned_data["skip_invalid"],
        )

    if (job := form_submitted(request, form, start)) is not None:
        return redirect("job", job.pk)
    context = {"project": project, "form": form}
    return render(request, "datasets/import.html", context, status=400 if form.is_bound else 200)
