"""Django's model backend with the logged-in user read by one fixed statement (see
annotation/core/fixed_sql.py): every request of a logged-in user reads the user."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from annotation.core.fixed_sql import Selected, fetch_one


@cache
def _user_sql() -> tuple[str, Selected]:
    user_model = get_user_model()
    user = Selected(user_model, "u")
    return f"SELECT {user.sql} FROM {user_model._meta.db_table} u WHERE u.id = %s", user


class UserBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        """The active user of this id or None, as ModelBackend.get_user."""
        sql, user = _user_sql()
        try:
            pk = get_user_model()._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        row = fetch_one(sql, [pk])
        if row is None:
            return None
        found: Any = user.instance(row)
        return found if self.user_can_authenticate(found) else None
