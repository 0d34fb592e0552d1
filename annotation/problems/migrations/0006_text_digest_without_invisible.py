"""Problem digests leave out invisible characters (problems.tree.text_digest): "What is 42?"
and the same text with a zero-width space are one problem.

Only texts holding a default-ignorable character get a new digest. The characters and the
digest are written out here rather than imported, so this migration keeps meaning what it
meant.
"""

import hashlib
import re
import unicodedata

from django.db import migrations

BATCH = 2000
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def _rewrite_digests(apps, digested_form):
    problem_model = apps.get_model("problems", "Problem")
    changed = []
    rows = problem_model.objects.only("id", "text", "text_digest").order_by("id")
    for problem in rows.iterator(chunk_size=BATCH):
        if INVISIBLE.search(problem.text) is None:
            continue  # both digests are the same
        digest = hashlib.sha256(digested_form(problem.text).encode()).hexdigest()
        problem.text_digest = digest
        changed.append(problem)
        if len(changed) == BATCH:
            problem_model.objects.bulk_update(changed, ["text_digest"])
            changed = []
    problem_model.objects.bulk_update(changed, ["text_digest"])


def digests_without_invisible(apps, schema_editor):
    _rewrite_digests(apps, lambda text: unicodedata.normalize("NFC", INVISIBLE.sub("", text)))


def digests_with_invisible(apps, schema_editor):
    _rewrite_digests(apps, lambda text: unicodedata.normalize("NFC", text))


class Migration(migrations.Migration):
    dependencies = [
        ("problems", "0005_evaluation_origin"),
    ]

    operations = [
        migrations.RunPython(digests_without_invisible, digests_with_invisible, elidable=True),
    ]
