"""Pages of long thoughts the model steered itself: the method column, the loop's tree, the
long thought with its transcript, two methods side by side, actions per method."""

import pytest

from algorithms.long_thought import correct_paths, derive_long_thought
from annotation.core.models import Role
from annotation.jobs.models import Job, JobKind
from annotation.llm.services import model_config_create
from annotation.problems.models import Origin, Trace
from annotation.trees.services import DerivedThought, long_thoughts_write, tree_round_record
from tests.factories import MembershipFactory, ProblemFactory, UserFactory
from tests.trees.conftest import dialogue_result, hand_tree, proposal_result, steered_round


@pytest.fixture
def three_methods(problem):
    """One problem with a tree-derived draft, a proposal-critique loop and a dialogue."""
    tree = hand_tree(problem)
    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, tree)], label="r"
    )
    lt_job = tree_round_record(project=problem.project, user=None, trees=[], label="lt")
    thought = derive_long_thought(tree, correct_paths(tree)[0], k=2, seed=0)
    _, draft = long_thoughts_write(
        job=lt_job, thoughts=[DerivedThought(problem.pk, tree_job.pk, tree, thought, 0, 2)]
    )
    proposal = steered_round(problem, JobKind.PROPOSAL_CRITIQUE, proposal_result(problem))
    dialogue = steered_round(problem, JobKind.POLICY_CRITIC, dialogue_result(problem))
    return {
        "draft": draft,
        "proposal": Trace.objects.get(job=proposal, origin=Origin.LONG_THOUGHT),
        "dialogue": Trace.objects.get(job=dialogue, origin=Origin.LONG_THOUGHT),
        "proposal_job": proposal,
        "dialogue_job": dialogue,
    }


def research(client, problem):
    user = UserFactory()
    MembershipFactory(project=problem.project, user=user, role=Role.RESEARCHER)
    client.force_login(user)


def test_the_loops_tree_shows_each_nodes_kind(problem, three_methods, client):
    # given
    research(client, problem)
    job = three_methods["proposal_job"]
    # when
    body = client.get(f"/trees/rounds/{job.pk}/problems/{problem.pk}/tree.json").json()
    node = client.get(f"/trees/rounds/{job.pk}/problems/{problem.pk}/nodes/2.json").json()
    # then
    kind = body["columns"].index("kind")
    assert [row[kind] for row in body["nodes"]] == [
        None,
        "step",
        "backtrack",
        "reflection",
        "conclusion",
    ]
    assert (node["kind"], node["text"]) == ("backtrack", "3 * 3 = 9, not 6.")
    assert client.get(f"/trees/rounds/{job.pk}/").status_code == 200


def test_the_outputs_and_the_home_page_say_each_long_thoughts_method(
    problem, three_methods, client
):
    # given
    research(client, problem)
    project = problem.project.pk
    # when
    outputs = client.get(f"/projects/{project}/trees/outputs/?origin=long_thought")
    only_dialogues = client.get(f"/projects/{project}/trees/outputs/?method=policy_critic")
    home = client.get(f"/projects/{project}/trees/")
    # then
    assert [(row.trace.pk, row.method_label) for row in outputs.context["rows"]] == [
        (three_methods["draft"].pk, "tree search"),
        (three_methods["proposal"].pk, "proposal-critique"),
        (three_methods["dialogue"].pk, "policy-critic"),
    ]
    assert [row.trace.metadata["kind"] for row in only_dialogues.context["rows"]] == [
        "policy_critic",
        "shortcut",
    ]
    assert [(row.job.pk, row.method) for row in home.context["thought_jobs"]] == [
        (three_methods["dialogue_job"].pk, "policy_critic"),
        (three_methods["proposal_job"].pk, "proposal_critique"),
    ]
    assert 'data-testid="job-backtracks">1<' in home.content.decode()


def test_the_long_thought_page_shows_the_transcript(problem, three_methods, client):
    # given
    research(client, problem)
    # when
    response = client.get(f"/trees/thoughts/{three_methods['dialogue'].pk}/")
    # then
    view = response.context["view"]
    assert (view.method, view.tree_job_id) == ("policy_critic", three_methods["dialogue_job"].pk)
    assert view.transcript == [
        ("policy", "step 1", "Try x = 3."),
        ("critic", "reflect", "VERDICT: reflect\nREASON: 3 * 3 is 9."),
        ("policy", "step 2", "Divide by 3: x = 2, so $\\boxed{2}$."),
        ("critic", "continue", "VERDICT: continue\nREASON: Right."),
    ]
    assert [(s.kind, s.tree_index) for s in view.steps] == [
        ("step", 1),
        ("reflection", 1),
        ("step", 2),
    ]
    assert view.related == {
        "policy_critic": three_methods["dialogue"].pk,
        "shortcut": three_methods["dialogue"].pk + 1,
    }


def test_two_methods_side_by_side(problem, three_methods, client):
    # given
    research(client, problem)
    url = f"/trees/problems/{problem.pk}/methods/"
    proposal, dialogue = three_methods["proposal"], three_methods["dialogue"]
    # when
    default = client.get(url)
    chosen = client.get(f"{url}?a={proposal.pk}&b={dialogue.pk}")
    # then: by default the first of two methods; as chosen otherwise
    assert [side["view"].method for side in default.context["sides"]] == [
        "tree",
        "proposal_critique",
    ]
    sides = chosen.context["sides"]
    assert [side["view"].trace.pk for side in sides] == [proposal.pk, dialogue.pk]
    assert [
        (a.reflections, a.backtracks, a.wrong_answers) for a in (s["actions"] for s in sides)
    ] == [(1, 1, 0), (1, 0, 0)]
    assert [label for _, label in chosen.context["choices"]] == [
        f"tree search · draft #{three_methods['draft'].pk} (job #{three_methods['draft'].job_id})",
        f"proposal-critique #{proposal.pk} (job #{proposal.job_id})",
        f"policy-critic #{dialogue.pk} (job #{dialogue.job_id})",
    ]


def test_the_side_by_side_page_shows_only_the_problems_own_long_thoughts(
    problem, three_methods, client
):
    # given a long thought of another problem named in the query
    research(client, problem)
    other = ProblemFactory(project=problem.project, text="Solve 3x = 6.", answer="2")
    foreign = Trace.objects.get(
        job=steered_round(other, JobKind.PROPOSAL_CRITIQUE, proposal_result(other)),
        origin=Origin.LONG_THOUGHT,
    )
    # when
    response = client.get(f"/trees/problems/{problem.pk}/methods/?a={foreign.pk}")
    # then it is not shown: the default takes its place
    assert [side["view"].trace.pk for side in response.context["sides"]] == [
        three_methods["draft"].pk,
        three_methods["proposal"].pk,
    ]


def test_annotators_and_strangers_may_not_see_the_methods(problem, three_methods, client):
    url = f"/trees/problems/{problem.pk}/methods/"
    annotator = UserFactory()
    MembershipFactory(project=problem.project, user=annotator, role=Role.ANNOTATOR)
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404


def test_statistics_count_actions_per_method(problem, three_methods, client):
    # given
    research(client, problem)
    # when
    response = client.get(f"/projects/{problem.project.pk}/trees/stats/")
    # then
    assert [
        (m.label, m.outputs, m.correct, m.reflections, m.backtracks)
        for m in response.context["method_stats"]
    ] == [
        ("tree search · draft", 1, 1, 2, 2),
        ("proposal-critique", 1, 1, 1, 1),
        ("policy-critic", 1, 1, 1, 0),
    ]


def test_the_start_forms_start_both_jobs(problem, client):
    # given
    research(client, problem)
    model = model_config_create(
        project=problem.project, name="gen", kind="transformers", path_or_endpoint="/nowhere"
    )
    project = problem.project.pk
    form = {"model": model.pk, "limit": 5, "max_steps": 4, "max_backtracks": 1}
    form |= {"max_tokens": 500, "step_tokens": 40, "chunk_size": 2}
    # when
    proposal = client.post(f"/projects/{project}/trees/proposal-critique/start/", form)
    dialogue = client.post(
        f"/projects/{project}/trees/policy-critic/start/",
        {**form, "critic": model.pk, "critic_temperature": 0},
    )
    refused = client.post(f"/projects/{project}/trees/policy-critic/start/", {**form, "limit": 0})
    # then
    jobs = list(Job.objects.order_by("pk"))
    assert [(j.kind, j.params["max_steps"], j.params["sampling"]["max_tokens"]) for j in jobs] == [
        (JobKind.PROPOSAL_CRITIQUE, 4, 40),
        (JobKind.POLICY_CRITIC, 4, 40),
    ]
    assert jobs[1].params["critic_sampling"]["temperature"] == 0
    assert [proposal.status_code, dialogue.status_code] == [302, 302]
    assert proposal["Location"] == f"/jobs/{jobs[0].pk}/"
    assert refused.status_code == 200
    assert refused.context["form"].errors == {
        "limit": ["Ensure this value is greater than or equal to 1."]
    }


@pytest.mark.parametrize("kind", ["proposal_job", "dialogue_job"])
def test_a_steered_jobs_page_links_to_what_it_made_and_says_the_demo_model_is_noise(
    problem, three_methods, client, kind
):
    # given a finished loop run on the demo's tiny model
    research(client, problem)
    job = three_methods[kind]
    Job.objects.filter(pk=job.pk).update(model_version="demo-tiny-lm@v1")
    thought = Trace.objects.get(job=job, origin=Origin.LONG_THOUGHT)
    # when
    response = client.get(f"/jobs/{job.pk}/", follow=True)
    # then: its own page, with its trees, its long thought and the demo banner
    assert response.redirect_chain == [(f"/trees/jobs/{job.pk}/", 302)]
    body = response.content.decode()
    assert f'href="/trees/rounds/{job.pk}/" data-testid="round-link"' in body
    assert f'href="/trees/thoughts/{thought.pk}/"' in body
    assert 'data-testid="demo-model-note"' in body
    assert 'data-testid="job-cancel"' not in body
