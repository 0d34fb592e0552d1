"""The upload page for imports."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from annotation.core.access import Ability, access_project
from annotation.datasets.importer import IMPORT_FORMATS
from annotation.datasets.services import start_import


class ImportForm(forms.Form):
    format = forms.ChoiceField(choices=[(name, name) for name in sorted(IMPORT_FORMATS)])
    file = forms.FileField(help_text="JSONL, or a JSON array for ProcessBench.")
    skip_invalid = forms.BooleanField(
        required=False, help_text="Import the valid records and report the others."
    )


@login_required
def import_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.MANAGE)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = start_import(
            project=project,
            user=request.user,
            format_name=form.cleaned_data["format"],
            upload=upload,
            name=upload.name,
            skip_invalid=form.cleaned_data["skip_invalid"],
        )
        return redirect("job", job.pk)
    return render(request, "datasets/import.html", {"project": project, "form": form})
