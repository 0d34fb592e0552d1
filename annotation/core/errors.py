"""The base of the errors a user can fix: a service raises one with a message that says what
to change; a page shows the message, the REST API answers 400 with it (core/api_errors.py)."""


class UserError(Exception):
    """A request the user can fix; the message says what to change."""
