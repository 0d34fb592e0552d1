from django.apps import AppConfig


class ProblemsConfig(AppConfig):
    name = "annotation.problems"
    default_auto_field = "django.db.models.BigAutoField"
