from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "annotation.datasets"
    default_auto_field = "django.db.models.BigAutoField"
