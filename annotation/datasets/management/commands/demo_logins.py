from typing import Any

from django.core.management.base import BaseCommand

from annotation.datasets.management.commands.load_demo import DEMO_USERS, demo_password


class Command(BaseCommand):
    help = "Print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Demo logins (user / password):")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {role:<11} {username} / {demo_password(username)}")
