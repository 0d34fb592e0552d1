from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.core.tokens import TokenError, token_create


class Command(BaseCommand):
    help = "Make an API token for a user and print its key (shown once; see docs/security.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")
        parser.add_argument("--days", type=int, default=None, help="Lifetime (default: longest).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"username: no user {options['username']!r}")
        try:
            token, key = token_create(user=user, name=options["name"], days=options["days"])
        except TokenError as error:
            raise CommandError(str(error)) from None
        expires = token.expires_at.date().isoformat()
        self.stdout.write(f"Token for {user.get_username()} (expires {expires}): {key}")
