from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "annotation.llm"
    default_auto_field = "django.db.models.BigAutoField"
