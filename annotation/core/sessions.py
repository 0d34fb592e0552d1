"""Django's database sessions, read by one fixed statement (see annotation/core/fixed_sql.py):
every request reads its session, and the ORM spent more CPU building that query than running it.
Settings: SESSION_ENGINE = "annotation.core.sessions"."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from annotation.core.fixed_sql import Selected, fetch_one


@cache
def _session_sql() -> tuple[str, Selected]:
    session = Selected(Session, "s")
    sql = (
        f"SELECT {session.sql} FROM {Session._meta.db_table} s "
        "WHERE s.session_key = %s AND s.expire_date > %s"
    )
    return sql, session


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        """The unexpired session of this key, or None (and the key is dropped), as Django's."""
        sql, session = _session_sql()
        now = Session._meta.get_field("expire_date").get_db_prep_value(timezone.now(), connection)
        row = fetch_one(sql, [self.session_key, now]) if self.session_key else None
        if row is None:
            self._session_key = None
            return None
        return session.instance(row)
