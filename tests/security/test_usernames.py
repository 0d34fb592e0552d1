"""Usernames: one script, no bidi or other invisible characters, on every way of naming a user."""

import string

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from annotation.core.validators import validate_username_script
from tests.factories import UserFactory

LETTERS = {
    "Latin": string.ascii_letters + "éüñçø",
    "Cyrillic": "абвгдеёжзийклмнопрстуфхцчшщыьэюяАБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЭЮЯ",
    "Greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΘΛΞΠΣΦΨΩ",
    "Arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
}
WITH_ANY_SCRIPT = string.digits + "_.@+-"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LOOKALIKE_ADMIN = "\u0430dmin"  # Cyrillic a, then Latin "dmin"


def one_script_name(script: str) -> st.SearchStrategy[str]:
    letters = st.text(st.sampled_from(LETTERS[script]), min_size=1, max_size=20)
    neutral = st.text(st.sampled_from(WITH_ANY_SCRIPT), max_size=5)
    return st.tuples(letters, neutral).map("".join)


def error_code(username: str) -> str | None:
    try:
        validate_username_script(username)
    except ValidationError as error:
        return error.code
    return None


@given(st.sampled_from(sorted(LETTERS)).flatmap(one_script_name))
def test_one_script_is_accepted(username: str) -> None:
    assert error_code(username) is None


@given(
    st.lists(st.sampled_from(sorted(LETTERS)), min_size=2, max_size=2, unique=True).flatmap(
        lambda pair: st.tuples(one_script_name(pair[0]), one_script_name(pair[1]))
    ),
    st.integers(min_value=0),
)
def test_two_scripts_are_refused(names: tuple[str, str], cut: int) -> None:
    # given letters of one script with letters of another put in anywhere
    first, second = names
    at = cut % (len(first) + 1)

    # then the name is refused as mixed
    assert error_code(first[:at] + second + first[at:]) == "mixed_script"


@given(
    st.sampled_from(sorted(LETTERS)).flatmap(one_script_name),
    st.sampled_from(BIDI_CONTROLS),
    st.integers(min_value=0),
)
def test_bidi_controls_are_refused(username: str, control: str, cut: int) -> None:
    at = cut % (len(username) + 1)
    assert error_code(username[:at] + control + username[at:]) == "invisible_character"


def test_the_messages_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError) as mixed:
        validate_username_script(LOOKALIKE_ADMIN)
    with pytest.raises(ValidationError) as override:
        validate_username_script("\u202enimda")

    assert mixed.value.messages == [
        "Usernames must be written in one script; this one mixes Cyrillic and Latin."
    ]
    assert override.value.messages == ["Usernames cannot contain U+202E (RIGHT-TO-LEFT OVERRIDE)."]


def test_japanese_and_korean_mixes_are_accepted() -> None:
    for username in ["山田たろうタロウ", "김철수金", "注音ㄅㄆ", "Анна_1985"]:
        validate_username_script(username)


@pytest.mark.django_db
def test_user_creation_form_refuses_a_lookalike() -> None:
    # given Django's user creation form (the admin's add-user form is built on it)
    form = UserCreationForm(
        data={"username": LOOKALIKE_ADMIN, "password1": "x-long-pw-9", "password2": "x-long-pw-9"}
    )

    # then the username field carries the error, and no user is made
    assert form.errors["username"] == [
        "Usernames must be written in one script; this one mixes Cyrillic and Latin."
    ]
    assert not get_user_model().objects.filter(username=LOOKALIKE_ADMIN).exists()


@pytest.mark.django_db
def test_admin_add_user_page_refuses_a_lookalike(client) -> None:
    # given an admin
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(admin)

    # when she adds a user with a mixed-script name
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": LOOKALIKE_ADMIN,
            "password1": "x-long-pw-9",
            "password2": "x-long-pw-9",
            "usable_password": "true",
        },
    )

    # then the form comes back with the reason, and no user is made
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["username"] == [
        "Usernames must be written in one script; this one mixes Cyrillic and Latin."
    ]
    assert not get_user_model().objects.filter(username=LOOKALIKE_ADMIN).exists()


@pytest.mark.django_db
def test_createsuperuser_refuses_a_lookalike(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "x-long-pw-9")

    with pytest.raises(CommandError) as error:
        call_command(
            "createsuperuser", "--noinput", username=LOOKALIKE_ADMIN, email="a@example.org"
        )

    assert "Usernames must be written in one script" in str(error.value)
    assert not get_user_model().objects.filter(username=LOOKALIKE_ADMIN).exists()


@pytest.mark.django_db
def test_auth_migrations_are_unchanged() -> None:
    # the validator is added at run time, so django.contrib.auth needs no new migration
    call_command("makemigrations", "auth", "--check", "--dry-run", verbosity=0)
