"""A run's page and its model's lineage show only the hyperparameters the run's method uses:
every run stores them all (a GRPO group size on an SFT run), the forms ask only for its own."""

import pytest
from django.urls import reverse

from algorithms.training import METHODS, Hyperparameters
from annotation.core.models import Role
from annotation.jobs.models import Job
from annotation.llm.services import model_config_create
from annotation.training.models import settings_in_words
from tests.factories import MembershipFactory, UserFactory
from tests.support.training import export_now, training_project


def test_an_sft_run_reads_without_the_settings_of_other_methods():
    stored = Hyperparameters.for_method("sft").as_params()
    names = [name for name, _value in settings_in_words("sft", stored)]
    assert "Group size" not in names and "Max new tokens" not in names and "Beta" not in names
    assert names[:2] == ["Epochs", "Learning rate"]


def test_a_grpo_run_reads_with_its_group_size_and_without_a_row_length():
    stored = Hyperparameters.for_method("grpo").as_params()
    shown = dict(settings_in_words("grpo", stored))
    assert (shown["Group size"], shown["Beta"], "Max length" in shown) == ("4", "0.04", False)


@pytest.mark.parametrize("method", METHODS)
def test_a_method_uses_the_settings_every_method_uses(method):
    assert {"epochs", "learning_rate", "seed"} <= set(Hyperparameters.used_by(method))


@pytest.mark.django_db
def test_the_run_page_of_an_sft_run_shows_only_its_settings(client, project, store):
    # given: an SFT run started through the API
    training_project(project)
    base = model_config_create(
        project=project, name="base", kind="transformers", path_or_endpoint="/m"
    )
    researcher = UserFactory()
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    client.force_login(researcher)
    start = {
        "project": project.pk,
        "method": "sft",
        "export": export_now(project, "sft-journey").pk,
        "base": base.pk,
        "name": "journey sft",
    }
    job = client.post("/api/training/jobs/", start, content_type="application/json").json()
    assert "group_size" in Job.objects.get(pk=job["id"]).params["hyperparameters"]  # stored
    # when
    page = client.get(reverse("training-job", args=[job["id"]])).content.decode()
    # then
    table = page[page.index('data-testid="hyperparameters"') :]
    table = table[: table.index("</table>")]
    assert '<th scope="row">Epochs</th>' in table
    assert "Group size" not in table and "Max new tokens" not in table and "Beta" not in table
