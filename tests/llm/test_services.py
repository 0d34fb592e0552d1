import pytest
from django.core.exceptions import ValidationError

from annotation.jobs.models import JobKind, JobStatus
from annotation.llm.models import PromptPurpose
from annotation.llm.services import (
    PromptConflict,
    model_config_create,
    model_config_update,
    prompt_template_create,
    prompt_template_edit,
    prompt_templates_install_defaults,
    sample_job_start,
    score_job_start,
)
from tests.factories import UserFactory
from tests.support.data import make_problems

pytestmark = pytest.mark.django_db


def generator(project, **fields):
    return model_config_create(
        project=project,
        **{
            "name": "gen",
            "kind": "transformers",
            "path_or_endpoint": "/models/gen",
            "default_sampling": {"temperature": 0.7, "max_tokens": 128},
            **fields,
        },
    )


def test_a_prompt_with_an_unknown_placeholder_is_refused_with_the_names_it_may_use(project):
    with pytest.raises(ValidationError) as error:
        prompt_template_create(
            project=project, name="p", purpose=PromptPurpose.SAMPLE, text="{{ problem }} {{ hint }}"
        )
    assert error.value.message_dict == {
        "text": ["unknown placeholder {{ hint }}; a sample prompt may use {{ problem }}"]
    }


def test_a_prompt_missing_its_placeholder_is_refused(project):
    with pytest.raises(ValidationError) as error:
        prompt_template_create(
            project=project, name="p", purpose=PromptPurpose.EXPAND, text="{{ problem }}"
        )
    assert error.value.message_dict == {"text": ["the prompt must contain {{ record }}"]}


def test_editing_a_prompt_adds_a_version_and_refuses_an_edit_of_an_old_version(project):
    # given
    template = prompt_template_create(
        project=project, name="p", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    # when
    second = prompt_template_edit(template=template, text="Solve: {{ problem }}", base_number=1)
    # then
    assert (second.number, second.label) == (2, "p@v2")
    assert list(template.versions.values_list("number", "text")) == [
        (2, "Solve: {{ problem }}"),
        (1, "Solve {{ problem }}"),
    ]
    with pytest.raises(PromptConflict, match="version 2 of 'p' was saved after the version 1"):
        prompt_template_edit(template=template, text="Other {{ problem }}", base_number=1)


def test_built_in_prompts_install_once(project):
    assert prompt_templates_install_defaults(project=project) == 4
    assert prompt_templates_install_defaults(project=project) == 0
    assert sorted(project.prompt_templates.values_list("purpose", flat=True)) == [
        "expand",
        "rationalize",
        "rewrite",
        "sample",
    ]


def test_a_model_change_bumps_its_version_and_no_change_does_not(project):
    config = generator(project)
    model_config_update(config=config, dtype="auto")
    assert config.version == 1
    model_config_update(config=config, dtype="bfloat16", max_length=4096)
    config.refresh_from_db()
    assert (config.version, config.dtype, config.max_length, config.label) == (
        2,
        "bfloat16",
        4096,
        "gen@v2",
    )


def test_bad_default_sampling_names_the_key(project):
    with pytest.raises(ValidationError) as error:
        generator(project, default_sampling={"temperature": 0.5, "beams": 4})
    assert error.value.message_dict == {
        "default_sampling": ["unknown keys beams; use max_tokens, seed, stop, temperature, top_p"]
    }
    with pytest.raises(ValidationError) as error:
        generator(project, default_sampling={"top_p": 2})
    assert error.value.message_dict == {"default_sampling": ["top_p must be in (0, 1], got 2"]}


def test_an_api_key_in_the_options_is_refused_and_its_variable_name_is_kept(project, settings):
    # given an operator who allows one key variable, for one host
    settings.STEPWISE_SECRET_ENV_ALLOWLIST = ["OPENAI_API_KEY"]
    settings.STEPWISE_ENDPOINT_ALLOWED_HOSTS = ["api.example.com"]
    endpoint = {"kind": "openai", "path_or_endpoint": "https://api.example.com/v1"}

    # when a key is put in the options, at creation and at an update
    with pytest.raises(ValidationError) as created:
        generator(project, options={"api_key": "sk-123"}, **endpoint)
    config = generator(project, options={"api_key_env": "OPENAI_API_KEY"}, **endpoint)
    with pytest.raises(ValidationError) as updated:
        model_config_update(config=config, options={"token": "sk-123"})

    # then both are refused, naming where the key goes, and the variable name alone is stored
    message = (
        "{} may not be stored here; put the key in the worker's environment and name its "
        'variable, e.g. "api_key_env": "OPENAI_API_KEY" (an operator allow-lists the names)'
    )
    assert created.value.message_dict == {"options": [message.format("api_key")]}
    assert updated.value.message_dict == {"options": [message.format("token")]}
    config.refresh_from_db()
    assert (config.options, config.version) == ({"api_key_env": "OPENAI_API_KEY"}, 1)


def test_a_sample_job_snapshots_model_prompt_and_sampling(project):
    # given
    problems = make_problems(project, 2)
    config = generator(project)
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    # when
    job = sample_job_start(
        project=project,
        user=UserFactory(),
        model=config,
        prompt=template.versions.get(),
        problem_ids=[p.pk for p in problems],
        n=3,
        sampling={"seed": 5},
    )
    model_config_update(config=config, path_or_endpoint="/models/other")
    # then the job keeps what it started with
    job.refresh_from_db()
    assert (job.kind, job.status, job.total, job.model_version, job.prompt_version) == (
        JobKind.SAMPLE,
        JobStatus.QUEUED,
        2,
        "gen@v1",
        "solve@v1",
    )
    assert job.params["model"]["path_or_endpoint"] == "/models/gen"
    assert job.params["sampling"] == {
        "temperature": 0.7,
        "top_p": 1.0,
        "max_tokens": 128,
        "seed": 5,
        "stop": [],
    }
    assert job.params["prompt"]["text"] == "Solve {{ problem }}"
    assert job.params["problem_ids"] == [p.pk for p in problems]


def test_a_job_with_no_items_or_the_wrong_model_is_refused(project):
    config = generator(project)
    with pytest.raises(ValidationError) as error:
        score_job_start(project=project, user=None, scorer=config, trace_ids=[1])
    assert error.value.message_dict == {"scorer": ["gen has no scorer head; choose a scorer"]}
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    with pytest.raises(ValidationError) as error:
        sample_job_start(
            project=project, user=None, model=config, prompt=template.versions.get(), problem_ids=[]
        )
    assert error.value.message_dict == {"problem_ids": ["no problems match the filter; widen it"]}
