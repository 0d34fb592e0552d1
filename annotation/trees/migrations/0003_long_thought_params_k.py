"""Stored long-thought job parameters in the current form: ``trials`` (which counted wrong
detours) becomes ``k`` with ``k_meaning`` "wrong_detours", so an old job reads back with the
meaning it ran with; a rewrite prompt stored as bare text becomes a prompt snapshot with no
version (id 0, which names no row)."""

from typing import Any

from django.db import migrations


def forwards(apps: Any, schema_editor: Any) -> None:
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.filter(kind="long_thought").only("id", "params"):
        params = dict(job.params or {})
        if "trials" not in params and not isinstance(params.get("rewrite_prompt"), str):
            continue
        if "trials" in params:
            params["k"] = params.pop("trials")
            params["k_meaning"] = "wrong_detours"
        text = params.get("rewrite_prompt")
        if isinstance(text, str):
            params["rewrite_prompt"] = (
                {"id": 0, "label": "rewrite prompt (before versions)", "text": text}
                if params.get("rewriter") is not None
                else None
            )
        job.params = params
        job.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [("trees", "0002_treenode_copies"), ("jobs", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
