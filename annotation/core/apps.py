from django.apps import AppConfig

from annotation.core.validators import validate_username_script


class CoreConfig(AppConfig):
    name = "annotation.core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotation.core import tokens  # noqa: F401  (revokes tokens on logout)

        add_username_validator()


def add_username_validator() -> None:
    """Every way of naming a user validates the username field: the admin's and Django's user
    forms, `createsuperuser`, and `full_clean()`. Appended to the field's run-time validator list
    rather than its declared validators, so that django.contrib.auth's migration state does not
    change."""
    from django.contrib.auth import get_user_model  # needs the app registry, ready by now

    field = get_user_model()._meta.get_field("username")
    if validate_username_script not in field.validators:
        field.validators.append(validate_username_script)
