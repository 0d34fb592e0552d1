from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "annotation.evaluation"
    default_auto_field = "django.db.models.BigAutoField"
