"""The report's experiment in one command (issue 33), with tiny sizes: every stage runs as a
job of the project through the workers' own tasks in this process, on the committed
small-world model, and the results table has a row per model, with its interval and lineage."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.core.models import Project, Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.training.models import ModelLineage
from annotation.training.selectors import results_table
from annotation.training.small_world_experiment import STAGES
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.models]

TINY = {
    "train_problems": 10,
    "test_problems": 5,
    "samples": 2,
    "mc_traces": 4,
    "rollouts": 2,
    "prm_epochs": 1.0,
    "tree_width": 3,
    "tree_keep": 2,
    "sft_epochs": 2.0,
    "dpo_samples": 6,
    "dpo_pairs": 2,
    "dpo_epochs": 1.0,
    "eval_samples": 2,
}


def test_the_experiment_runs_every_stage_and_fills_the_results_table(
    transactional_db: None, settings: object, tmp_path: Path, client: object
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]
    settings.STEPWISE_MODEL_STORE = tmp_path / "models"  # type: ignore[attr-defined]
    report_file = tmp_path / "report.json"

    # when
    call_command(
        "run_small_world_experiment",
        "--project",
        "world",
        "--report",
        str(report_file),
        *[f"--{name.replace('_', '-')}={value}" for name, value in TINY.items()],
    )

    # then: every stage ran, in order, with its time
    report = json.loads(report_file.read_text())
    assert [s["name"] for s in report["stages"]] == list(STAGES)
    assert all(s["seconds"] >= 0 for s in report["stages"])
    project = Project.objects.get(name="world")
    jobs = Job.objects.filter(project=project)
    assert not jobs.exclude(status=JobStatus.SUCCEEDED).exists()

    # the PRM was trained from the Monte-Carlo labels, and the trees were scored by it
    prm = ModelLineage.objects.get(config__project=project, method="prm")
    assert prm.export_job is not None
    assert prm.export_job.params["grades"] == "monte_carlo"
    tree = jobs.get(kind=JobKind.TREE)
    assert tree.params["scorer"]["id"] == prm.config_id

    # shortcut and journey SFT on the same problems, DPO from the journey model
    sft = {
        row.export_format: row
        for row in ModelLineage.objects.filter(config__project=project, method="sft")
    }
    shortcut, journey = sft["sft-shortcut"], sft["sft-journey"]
    problems = [
        row.export_job.result["manifest"]["splits"]["train"]["problems"]
        for row in (shortcut, journey)
        if row.export_job is not None
    ]
    assert problems[0] == problems[1] > 0
    dpo = ModelLineage.objects.get(config__project=project, method="dpo")
    assert dpo.parent_id == journey.config_id
    assert shortcut.parent_id == journey.parent_id  # the generator, read with its chat template

    # the results table: base (both ways), shortcut, journey, + DPO; accuracy with an interval
    evaluation = Job.objects.get(pk=report["evaluation_job"])
    table = results_table(evaluation)
    assert [row.model_id for row in table.rows][2:] == [
        shortcut.config_id,
        journey.config_id,
        dpo.config_id,
    ]
    for row in table.rows:
        assert row.summary.accuracy is not None
        low, high = row.summary.accuracy_interval or (2.0, -1.0)
        assert 0.0 <= low <= row.summary.accuracy <= high <= 1.0
    assert [r["accuracy"] for r in report["rows"]] == [r.summary.accuracy for r in table.rows]

    # and its page shows each row's interval and links each model to its lineage
    user = UserFactory()
    MembershipFactory(user=user, project=project, role=Role.RESEARCHER)
    client.force_login(user)  # type: ignore[attr-defined]
    page = client.get(reverse("training-results", args=[evaluation.pk]))  # type: ignore[attr-defined]
    html = page.content.decode()
    assert html.count('data-metric="accuracy_interval"') == len(table.rows)
    for row in table.rows:
        assert reverse("training-lineage", args=[row.model_id]) in html
