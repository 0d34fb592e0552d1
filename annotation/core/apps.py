from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "annotation.core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotation.core import tokens  # noqa: F401  (revokes tokens on logout)
