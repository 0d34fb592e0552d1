"""The demo reaches every page on the first day: load_demo sets up the tiny model's configs, the
built-in prompts, a thought record to expand and a round written for the demo (trees with
correct and wrong leaves, a long thought with its draft and rewrite, PRM scores), and running
it again changes nothing."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation.core.models import Project
from annotation.datasets.small_world import DEMO_MODEL_DIR, DEMO_PRM_DIR, held_out_ids
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import job_params
from annotation.llm.models import ModelConfig, PromptTemplate
from annotation.problems.models import Origin, Trace
from annotation.problems.selectors import trace_texts
from annotation.trees.models import TreeNode

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(tmp_path):
    call_command("load_demo", model_dir=tmp_path / "demo-model", stdout=None)
    return Project.objects.get(name="Demo: school math"), tmp_path / "demo-model"


def test_the_demo_has_model_configs_for_the_tiny_model(demo):
    project, model_dir = demo
    configs = {
        c.name: (c.kind, c.path_or_endpoint, c.scorer_head)
        for c in ModelConfig.objects.filter(project=project)
    }
    assert configs == {
        "demo-tiny-lm": ("transformers", str(model_dir.resolve()), ""),
        "demo-tiny-prm": ("transformers", str(model_dir.resolve()), "math-shepherd"),
    }
    assert sorted(
        PromptTemplate.objects.filter(project=project).values_list("name", flat=True)
    ) == [
        "long-thought rewrite",
        "o1-journey expansion",
        "star rationalization",
        "step-by-step solution",
    ]


def test_the_demo_round_has_trees_with_correct_and_wrong_leaves(demo):
    project, _ = demo
    (round_job,) = Job.objects.filter(project=project, kind=JobKind.TREE)
    leaves = TreeNode.objects.filter(job=round_job, is_leaf=True)
    assert round_job.status == JobStatus.SUCCEEDED
    assert TreeNode.objects.filter(job=round_job, index=0).count() == 2
    assert (leaves.filter(is_correct=True).count(), leaves.filter(is_correct=False).count()) == (
        4,
        3,
    )


def test_the_demo_long_thought_has_its_shortcut_draft_and_rewrite(demo):
    project, _ = demo
    (job,) = Job.objects.filter(project=project, kind=JobKind.LONG_THOUGHT)
    job_params(job)  # its parameters parse like a job started from the page
    kinds = sorted(t.metadata["kind"] for t in Trace.objects.filter(job=job))
    assert kinds == ["draft", "rewrite", "shortcut"]
    draft = Trace.objects.get(job=job, metadata__kind="draft")
    assert "doesn't look right" in trace_texts([draft.pk])[draft.pk]
    # the hand-written rewrite keeps the draft's wrong answers and reflections
    rewrite = Trace.objects.get(job=job, metadata__kind="rewrite")
    assert rewrite.metadata["fidelity"]["passed"] is True
    assert job.result["rewrites_failing_fidelity"] == 0


def test_the_demo_scores_its_solutions_and_has_a_record_to_expand(demo):
    project, _ = demo
    (job,) = Job.objects.filter(project=project, kind=JobKind.SCORE)
    job_params(job)
    source = GradeSource.objects.get(job=job)
    assert source.kind == SourceKind.PRM
    assert Grade.objects.filter(source=source).count() == 11
    record = Trace.objects.get(problem__project=project, origin=Origin.THOUGHT_RECORD)
    assert record.steps.count() == 5


def test_loading_the_demo_again_changes_nothing(demo, tmp_path):
    # given
    project, model_dir = demo
    counts = (Job.objects.count(), Trace.objects.count(), Grade.objects.count())
    # when
    call_command("load_demo", model_dir=model_dir, stdout=None)
    # then
    assert (Job.objects.count(), Trace.objects.count(), Grade.objects.count()) == counts
    assert ModelConfig.objects.filter(project=project).count() == 2


def test_the_demo_has_a_small_world_project_beside_the_school_math_one(demo):
    # given
    world = Project.objects.get(name="Demo: small world")

    # then: its problems, held-out ones marked, the same people and the small-world model
    assert world.problems.count() == 250
    assert len(held_out_ids(world)) == 50
    assert set(world.memberships.values_list("user__username", flat=True)) == {
        "admin",
        "annotator",
        "annotator2",
        "reviewer",
        "researcher",
    }
    configs = {
        c.name: (c.path_or_endpoint, c.scorer_head, c.use_chat_template)
        for c in ModelConfig.objects.filter(project=world)
    }
    model_dir = str(DEMO_MODEL_DIR.resolve())
    assert configs == {
        "small-world-tiny": (model_dir, "", False),
        "small-world-tiny-untrained-prm": (model_dir, "math-shepherd", False),
        "small-world-tiny-prm": (str(DEMO_PRM_DIR.resolve()), "math-shepherd", False),
    }
    assert PromptTemplate.objects.filter(project=world).count() == 4


def test_the_demos_exports_keep_a_test_split_by_default(demo, client):
    # given the demo's admin on its Export data page
    project, _ = demo
    client.force_login(get_user_model().objects.get(username="admin"))
    # when the page offers its options
    form = client.get(f"/projects/{project.pk}/export/").context["form"]
    # then a fifth of the problems go to a test split unless they choose otherwise, so that a
    # model trained on the export can be evaluated on day one
    assert form["test_fraction"].value() == 0.2
    other = Project.objects.create(name="not the demo")
    client.force_login(get_user_model().objects.get(username="admin"))
    assert client.get(f"/projects/{other.pk}/export/").context["form"]["test_fraction"].value() == 0
