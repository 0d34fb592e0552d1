from typing import Any

from django.contrib import admin

from annotation.llm.models import ModelConfig, PromptTemplate, PromptVersion


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin[ModelConfig]):
    list_display = ["name", "project", "kind", "scorer_head", "path_or_endpoint", "version"]
    list_filter = ["kind", "scorer_head", "project"]
    search_fields = ["name", "path_or_endpoint"]
    readonly_fields = ["version", "created_at", "updated_at"]

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
