"""Problem digests become sha256 of the NFC form of the text (problems.tree.text_digest).

Only texts that are not already in NFC get a new digest; the rest keep theirs. The digest is
written out here rather than imported, so this migration keeps meaning what it meant.
"""

import hashlib
import unicodedata

from django.db import migrations

BATCH = 2000


def _rewrite_digests(apps, digested_form):
    problem_model = apps.get_model("problems", "Problem")
    changed = []
    rows = problem_model.objects.only("id", "text", "text_digest").order_by("id")
    for problem in rows.iterator(chunk_size=BATCH):
        if unicodedata.is_normalized("NFC", problem.text):
            continue  # both digests are the same
        digest = hashlib.sha256(digested_form(problem.text).encode()).hexdigest()
        problem.text_digest = digest
        changed.append(problem)
        if len(changed) == BATCH:
            problem_model.objects.bulk_update(changed, ["text_digest"])
            changed = []
    problem_model.objects.bulk_update(changed, ["text_digest"])


def digests_of_nfc_text(apps, schema_editor):
    _rewrite_digests(apps, lambda text: unicodedata.normalize("NFC", text))


def digests_of_text_as_written(apps, schema_editor):
    _rewrite_digests(apps, lambda text: text)


class Migration(migrations.Migration):
    dependencies = [
        ("problems", "0002_trim_redundant_indexes"),
    ]

    operations = [
        migrations.RunPython(digests_of_nfc_text, digests_of_text_as_written, elidable=True),
    ]
