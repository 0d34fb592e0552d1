from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "annotation.workspace"
    default_auto_field = "django.db.models.BigAutoField"
