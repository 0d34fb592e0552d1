import pytest
from django.urls import reverse

from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind
from annotation.llm.models import ModelConfig, PromptPurpose
from annotation.llm.services import model_config_create, prompt_template_create
from annotation.problems.models import Origin, Trace
from tests.factories import MembershipFactory, UserFactory
from tests.support.data import RECORD_STEPS, make_problems, make_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(project):
    user = UserFactory(username="rita")
    MembershipFactory(project=project, user=user, role=Role.RESEARCHER)
    return user


@pytest.fixture
def generator(project):
    return model_config_create(
        project=project, name="gen", kind="vllm", path_or_endpoint="/models/gen"
    )


def test_a_researcher_starts_a_sample_job_from_a_problem_filter(
    client, project, researcher, generator
):
    # given
    problems = make_problems(project, 5)
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    client.force_login(researcher)
    # when
    response = client.post(
        reverse("llm-start", args=[project.pk, "sample"]),
        {
            "model": generator.pk,
            "prompt": template.pk,
            "n": 4,
            "temperature": 0.8,
            "max_tokens": 64,
            "chunk_size": 2,
            "source": "test",
            "limit": 3,
        },
    )
    # then
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("llm-job", args=[job.pk])
    assert (job.kind, job.total, job.created_by, job.params["n"]) == (
        JobKind.SAMPLE,
        3,
        researcher,
        4,
    )
    assert job.params["problem_ids"] == [p.pk for p in problems[:3]]
    assert (job.params["sampling"]["temperature"], job.params["sampling"]["max_tokens"]) == (
        0.8,
        64,
    )


def test_an_empty_filter_says_what_to_change(client, project, researcher, generator):
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    client.force_login(researcher)
    response = client.post(
        reverse("llm-start", args=[project.pk, "sample"]),
        {"model": generator.pk, "prompt": template.pk, "n": 1, "chunk_size": 1, "limit": 3},
    )
    assert response.status_code == 200
    assert "no problems match the filter; widen it" in response.content.decode()
    assert not Job.objects.exists()


def test_annotators_may_not_open_the_llm_pages(client, project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    client.force_login(user)
    assert client.get(reverse("llm-home", args=[project.pk])).status_code == 403
    assert client.get(reverse("llm-start", args=[project.pk, "score"])).status_code == 403


def test_a_model_is_added_and_edited_in_the_ui(client, project, researcher):
    client.force_login(researcher)
    data = {
        "name": "prm",
        "kind": "transformers",
        "path_or_endpoint": "/models/prm",
        "dtype": "float32",
        "default_sampling": "{}",
        "scorer_head": "qwen-prm",
        "options": "{}",
    }
    assert client.post(reverse("llm-model-new", args=[project.pk]), data).status_code == 302
    config = ModelConfig.objects.get()
    data["dtype"] = "bfloat16"
    assert client.post(reverse("llm-model", args=[config.pk]), data).status_code == 302
    config.refresh_from_db()
    assert (config.dtype, config.version, config.scorer_head) == ("bfloat16", 2, "qwen-prm")
    page = client.get(reverse("llm-home", args=[project.pk])).content.decode()
    assert "Qwen2.5-Math-PRM style PRM" in page


def test_a_prompt_edit_from_an_old_version_is_refused_with_a_message(client, project, researcher):
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    client.force_login(researcher)
    url = reverse("llm-prompt", args=[template.pk])
    assert client.post(url, {"text": "A {{ problem }}", "base_number": 1}).status_code == 302
    response = client.post(url, {"text": "B {{ problem }}", "base_number": 1})
    assert response.status_code == 200
    assert (
        "version 2 of &#x27;solve&#x27; was saved after the version 1" in response.content.decode()
    )
    assert list(template.versions.values_list("number", flat=True)) == [2, 1]


def test_job_page_shows_outputs_beside_their_sources_in_a_fixed_number_of_queries(
    client, project, researcher, django_assert_max_num_queries
):
    # given an expansion job with outputs made from records
    problems = make_problems(project, 3)
    job = Job.objects.create(
        project=project,
        kind=JobKind.EXPAND,
        status="succeeded",
        done=3,
        total=3,
        result={"tokens": 30, "generation_seconds": 1.5, "tokens_per_second": 20.0},
    )
    for problem in problems:
        record = make_record(problem, RECORD_STEPS, key=f"r{problem.pk}")
        output = make_record(
            problem, [("step", "Let me see."), ("step", "So 5.")], key=f"o{problem.pk}"
        )
        Trace.objects.filter(pk=output.pk).update(
            job=job,
            source_trace=record,
            origin=Origin.EXPANSION,
            metadata={"tokens": 10, "finish": "stop", "sample_index": 0},
        )
    client.force_login(researcher)
    # when
    with django_assert_max_num_queries(14):
        response = client.get(reverse("llm-job", args=[job.pk]))
    # then
    page = response.content.decode()
    assert page.count('data-testid="output"') == 3
    assert "Wait, gets more means adding, not multiplying." in page
    # the result as a table with human labels and units
    for label, value in [
        ("Tokens generated", "30 tokens"),
        ("Generation time", "1.5 s"),
        ("Throughput", "20 tokens/s"),
    ]:
        assert f'<th scope="row">{label}</th><td class="numeric">{value}</td>' in page
    assert ">generation_seconds<" not in page
    assert "10 tokens" in page


def test_the_api_starts_a_scoring_job(client, project, researcher):
    (problem,) = make_problems(project, 1)
    record = make_record(problem, RECORD_STEPS, key="r")
    scorer = model_config_create(
        project=project,
        name="prm",
        kind="transformers",
        path_or_endpoint="/m",
        scorer_head="math-shepherd",
    )
    client.force_login(researcher)
    response = client.post(
        "/api/llm/jobs/",
        {"project": project.pk, "kind": "score", "scorer": scorer.pk, "trace_ids": [record.pk]},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert (response.json()["id"], job.kind, job.model_version, job.params["trace_ids"]) == (
        job.pk,
        JobKind.SCORE,
        "prm@v1",
        [record.pk],
    )


def test_the_dpo_preset_records_the_recipe_from_the_page_and_the_api(
    client, project, researcher, generator
):
    # given
    problems = make_problems(project, 2)
    template = prompt_template_create(
        project=project, name="solve", purpose=PromptPurpose.SAMPLE, text="Solve {{ problem }}"
    )
    client.force_login(researcher)
    # when: the page, with n and temperature the preset overrides
    page = client.post(
        reverse("llm-start", args=[project.pk, "sample"]),
        {
            "model": generator.pk,
            "prompt": template.pk,
            "preset": "dpo",
            "n": 1,
            "temperature": 0.1,
            "max_tokens": 64,
            "chunk_size": 2,
            "source": "test",
            "limit": 2,
        },
    )
    # and the API
    api = client.post(
        "/api/llm/jobs/",
        {
            "project": project.pk,
            "kind": "sample",
            "model": generator.pk,
            "prompt": template.pk,
            "problem_ids": [p.pk for p in problems],
            "preset": "dpo",
        },
        content_type="application/json",
    )
    # then
    assert page.status_code == 302
    assert api.status_code == 202, api.content
    for job in Job.objects.order_by("id"):
        sampling = job.params["sampling"]
        assert (job.params["preset"], job.params["n"]) == ("dpo", 20)
        assert (sampling["temperature"], sampling["top_p"]) == (0.7, 0.95)
    assert Job.objects.count() == 2
    assert Job.objects.order_by("id")[0].params["sampling"]["max_tokens"] == 64
    # an unknown preset is refused naming the field
    bad = client.post(
        "/api/llm/jobs/",
        {
            "project": project.pk,
            "kind": "sample",
            "model": generator.pk,
            "prompt": template.pk,
            "problem_ids": [problems[0].pk],
            "preset": "grpo",
        },
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "preset" in bad.json()
