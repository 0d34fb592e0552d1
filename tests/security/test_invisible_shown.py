"""Invisible characters that stay in content are shown where a page shows it.

The demo is loaded, every text a person or a model wrote gets a zero-width space
(U+200B), and every page each role can reach by its links (and htmx fragments) is read:
no text a reader sees holds a raw invisible character, and the marks are there, escaped
as everything else is (annotation/core/templatetags/shown_visibly.py)."""

from __future__ import annotations

import io
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.db.models import Value
from django.db.models.functions import Concat, Length
from django.template import Context, Template

from annotation.core.models import Project
from annotation.core.text_policy import INVISIBLE
from annotation.problems.models import Trace
from annotation.workspace.models import ItemKind
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.saves import grading_submit

pytestmark = pytest.mark.django_db

ZWSP = "\u200b"
MARK = '<span class="invisible-char" title="U+200B ZERO WIDTH SPACE">⟦U+200B⟧</span>'
# Text no reader sees as text: code and form fields keep the characters as written.
NOT_SHOWN = {"script", "style", "template", "textarea"}
# Texts the program writes and reads back as keys, not content a person wrote.
NOT_CONTENT = {"password", "text_digest", "digest", "key", "prefix", "sha256", "session_key"}
# The Django admin and the API (JSON, and DRF's own pages) are not our pages.
NOT_CRAWLED = re.compile(r"^/(admin|api|static|logout|login)/|/download/|\.(jsonl?|csv|zip)$")
PAGES_PER_ROLE = 400


class ShownText(HTMLParser):
    """The text a reader sees, the links and the htmx fragments of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden_depth = 0
        self.texts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NOT_SHOWN:
            self.hidden_depth += 1
        for name, value in attrs:
            if name in {"href", "hx-get"} and value:
                self.links.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in NOT_SHOWN and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.texts.append(data)


def plant_invisible_characters() -> int:
    """A zero-width space at the end of every stored text a person or a model wrote."""
    planted = 0
    for model in apps.get_models():
        if not model.__module__.startswith(("annotation.", "django.contrib.auth.")):
            continue
        for field in model._meta.concrete_fields:
            if (
                not isinstance(field, models.CharField | models.TextField)
                or field.choices
                or field.primary_key
                or field.name in NOT_CONTENT
            ):
                continue
            rows = model._default_manager.exclude(**{field.name: ""})
            if field.max_length:
                rows = rows.alias(length=Length(field.name)).filter(length__lt=field.max_length)
            planted += rows.update(**{field.name: Concat(field.name, Value(ZWSP))})
    return planted


def shape(path: str) -> str:
    """A page's route: ids as N, so each kind of page is read once per role."""
    return re.sub(r"/\d+/", "/N/", re.sub(r"/\d+/", "/N/", path))


def crawl(client, start: str = "/") -> tuple[list[str], list[str], int]:
    """Pages read, each raw invisible character shown ("path: ...text around it..."), and
    the marks shown. Ids differ per page of a kind, so a kind seen is not read again."""
    seen_shapes: set[str] = set()
    queue = deque([start])
    read: list[str] = []
    raw: list[str] = []
    marks = 0
    while queue and len(read) < PAGES_PER_ROLE:
        path = queue.popleft()
        if shape(path) in seen_shapes:
            continue
        seen_shapes.add(shape(path))
        response = client.get(path, HTTP_HX_REQUEST="true" if "/status/" in path else None)
        assert response.status_code < 500, path
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        read.append(path)
        parser = ShownText()
        parser.feed(response.content.decode())
        marks += response.content.decode().count(MARK)
        for text in parser.texts:
            for found in INVISIBLE.finditer(text):
                around = text[max(0, found.start() - 40) : found.end() + 10]
                raw.append(f"{path}: {around!r}")
        for link in parser.links:
            parts = urlsplit(link)
            if parts.netloc or not parts.path.startswith("/") or NOT_CRAWLED.search(parts.path):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return read, raw, marks


@pytest.fixture
def demo_with_invisible_characters(tmp_path):
    # given the demo, with a grading waiting for review and one in progress
    call_command("load_demo", model_dir=tmp_path / "demo-model", stdout=io.StringIO())
    project = Project.objects.get(name="Demo: school math")
    people = {m.user.username: m.user for m in project.memberships.select_related("user")}
    submitted = assignment_claim_next(
        project=project, user=people["annotator2"], kind=ItemKind.GRADE
    )
    assert submitted is not None
    node = str(Trace.objects.get(pk=submitted.trace_id).steps.first().node_id)
    grading_submit(
        assignment=submitted,
        version=1,
        draft={"grades": {node: {"rating": -1, "critique": "Wrong sign."}}},
        finish_reason="found_error",
    )
    assert assignment_claim_next(project=project, user=people["annotator"], kind=ItemKind.GRADE)
    # and a zero-width space in every text
    assert plant_invisible_characters() > 100
    return people


@pytest.mark.parametrize("role", ["admin", "researcher", "annotator", "reviewer"])
def test_no_page_shows_an_invisible_character_raw(client, demo_with_invisible_characters, role):
    # when the role reads every page it can reach
    client.force_login(demo_with_invisible_characters[role])
    read, raw, marks = crawl(client)

    # then every invisible character is shown as a mark
    assert len(read) >= 5
    assert raw == []
    assert marks >= len(read)  # the user's own name on every page, at least


def test_a_step_shows_its_mark_and_escapes_the_rest():
    # given a text with markup, a zero-width space and a right-to-left override
    template = Template("<p>{{ text|shown_visibly }}</p>")

    # when
    html = template.render(Context({"text": f'<b title="x">42</b>{ZWSP}\u202eend'}))

    # then the markup is escaped and each invisible character is a marked span
    assert html == (
        "<p>&lt;b title=&quot;x&quot;&gt;42&lt;/b&gt;"
        f"{MARK}"
        '<span class="invisible-char" title="U+202E RIGHT-TO-LEFT OVERRIDE">⟦U+202E⟧</span>'
        "end</p>"
    )
