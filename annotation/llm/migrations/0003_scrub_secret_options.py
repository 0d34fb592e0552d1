"""Drop secret-looking keys (api keys, tokens, headers) from stored model options and from the
model snapshots that jobs copied into their parameters: they were shown on pages and in the
API. Checks on save keep new ones out (algorithms.model_policy)."""

from typing import Any

from django.db import migrations

from algorithms.model_policy import without_secrets


def scrub(apps: Any, schema_editor: Any) -> None:
    ModelConfig = apps.get_model("llm", "ModelConfig")
    Job = apps.get_model("jobs", "Job")
    for config in ModelConfig.objects.exclude(options={}).iterator():
        clean = without_secrets(config.options)
        if clean != config.options:
            config.options = clean
            config.save(update_fields=["options"])
    for job in Job.objects.filter(params__has_any_keys=["model", "scorer", "rewriter"]).iterator():
        params = {
            key: {**value, "options": without_secrets(value["options"])}
            if isinstance(value, dict) and isinstance(value.get("options"), dict)
            else value
            for key, value in job.params.items()
        }
        if params != job.params:
            job.params = params
            job.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [
        ("llm", "0002_model_trust_remote_code"),
        ("jobs", "0001_initial"),
    ]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
