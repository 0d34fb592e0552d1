from typing import Any

from django import forms
from django.contrib import admin

from annotation.llm.models import ModelConfig, PromptTemplate, PromptVersion
from annotation.llm.services import check_model


class ModelConfigAdminForm(forms.ModelForm[ModelConfig]):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # The same policy as the pages and the API: allowed options, endpoints, secrets.
        if {"kind", "path_or_endpoint", "options"} <= data.keys():
            check_model(data)
        return data


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin[ModelConfig]):
    form = ModelConfigAdminForm
    list_display = ["name", "project", "kind", "scorer_head", "path_or_endpoint", "version"]
    list_filter = ["kind", "scorer_head", "project"]
    search_fields = ["name", "path_or_endpoint"]
    readonly_fields = ["version", "created_at", "updated_at"]

    def get_readonly_fields(self, request: Any, obj: ModelConfig | None = None) -> list[str]:
        # Staff who are not superusers manage configs here but may not let one run code.
        fields = list(self.readonly_fields)
        return fields if request.user.is_superuser else [*fields, "trust_remote_code"]

    def save_model(self, request: Any, obj: ModelConfig, form: Any, change: bool) -> None:
        # Admin edits bump the version like the pages do, so jobs can tell configs apart.
        if change and form.changed_data:
            obj.version += 1
        super().save_model(request, obj, form, change)


class PromptVersionInline(admin.TabularInline[PromptVersion, PromptTemplate]):
    model = PromptVersion
    extra = 0
    readonly_fields = ["number", "text", "note", "created_by", "created_at"]
    can_delete = False


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin[PromptTemplate]):
    list_display = ["name", "project", "purpose", "created_at"]
    list_filter = ["purpose", "project"]
    inlines = [PromptVersionInline]
