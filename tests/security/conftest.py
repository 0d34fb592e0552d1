import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Login tests check hundreds of passwords: a cheap hasher keeps them quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
