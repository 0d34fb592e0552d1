"""Every object a job start names is checked, the optional ones too: an object of another
project in any field is a 400 naming the field, never dropped (a long-thought job given
another project's rewrite prompt and no rewriter used to start, the prompt silently left out)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create, prompt_template_create
from annotation.trees.models import TreeNode
from tests.factories import MembershipFactory, ProblemFactory, ProjectFactory, UserFactory


def _objects(project: Any) -> dict[str, int]:
    model = model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/models/gen"
    )
    scorer = model_config_create(
        project=project,
        name="prm",
        kind="transformers",
        path_or_endpoint="/models/prm",
        scorer_head="math-shepherd",
    )
    sample = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    rewrite = prompt_template_create(
        project=project,
        name="rewrite",
        purpose=PromptPurpose.REWRITE,
        text="{{ problem }} Make fluent: {{ draft }}",
    )
    return {
        "model": model.pk,
        "scorer": scorer.pk,
        "sample": sample.pk,
        "rewrite": rewrite.pk,
        "problem": ProblemFactory(project=project).pk,
    }


@pytest.fixture
def two_projects(db) -> tuple[APIClient, dict[str, Any], dict[str, Any]]:
    """A researcher in projects A and B, each with its own models and prompts."""
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    user = UserFactory()
    for project in (a, b):
        MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    client = APIClient()
    client.force_authenticate(user)
    tree_job = Job.objects.create(
        project=a, kind=JobKind.TREE, status=JobStatus.SUCCEEDED, created_by=user
    )
    in_a = {"project": a.pk, "tree_job": tree_job.pk, **_objects(a)}
    TreeNode.objects.create(job=tree_job, problem_id=in_a["problem"], index=0, depth=0)
    return client, in_a, _objects(b)


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in response.json(), response.json()
    assert Job.objects.exclude(kind=JobKind.TREE).count() == 0


def test_another_projects_rewrite_prompt_without_a_rewriter_is_refused(two_projects):
    client, a, b = two_projects
    body = {"project": a["project"], "tree_job": a["tree_job"], "rewrite_prompt": b["rewrite"]}
    _refused(client.post("/api/trees/long-thoughts/", body, format="json"), "rewrite_prompt")


def test_another_projects_rewrite_prompt_with_a_rewriter_is_refused(two_projects):
    client, a, b = two_projects
    body = {
        "project": a["project"],
        "tree_job": a["tree_job"],
        "rewriter": a["model"],
        "rewrite_prompt": b["rewrite"],
    }
    _refused(client.post("/api/trees/long-thoughts/", body, format="json"), "rewrite_prompt")


def test_a_rewrite_prompt_without_a_rewriter_is_refused_not_dropped(two_projects):
    client, a, _ = two_projects
    body = {"project": a["project"], "tree_job": a["tree_job"], "rewrite_prompt": a["rewrite"]}
    _refused(client.post("/api/trees/long-thoughts/", body, format="json"), "rewrite_prompt")


@pytest.mark.parametrize("field", ["model", "prompt", "scorer"])
def test_another_projects_object_in_a_sample_job_is_refused(two_projects, field):
    # given: a sample job of project A, one of whose objects is B's
    client, a, b = two_projects
    body = {
        "project": a["project"],
        "kind": "sample",
        "model": a["model"],
        "prompt": a["sample"],
        "problem_ids": [a["problem"]],
    }
    body[field] = b[{"model": "model", "prompt": "sample", "scorer": "scorer"}[field]]
    # when / then
    _refused(client.post("/api/llm/jobs/", body, format="json"), field)


def test_the_same_sample_job_in_its_own_project_starts(two_projects):
    client, a, _ = two_projects
    body = {
        "project": a["project"],
        "kind": "sample",
        "model": a["model"],
        "prompt": a["sample"],
        "problem_ids": [a["problem"]],
    }
    assert client.post("/api/llm/jobs/", body, format="json").status_code == 202
