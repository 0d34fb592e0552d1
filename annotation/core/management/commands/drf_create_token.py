"""The name Django REST framework's token app gave this command, kept for scripts."""

from annotation.core.management.commands.create_token import Command

__all__ = ["Command"]
