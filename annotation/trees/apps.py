from django.apps import AppConfig


class TreesConfig(AppConfig):
    name = "annotation.trees"
    default_auto_field = "django.db.models.BigAutoField"
