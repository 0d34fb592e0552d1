import re

from algorithms.long_thought import correct_paths, derive_long_thought
from annotation.core.models import Role
from annotation.trees.services import DerivedThought, long_thoughts_write, tree_round_record
from tests.factories import MembershipFactory, UserFactory
from tests.trees.conftest import hand_tree


def member(problem, role):
    user = UserFactory()
    MembershipFactory(project=problem.project, user=user, role=role)
    return user


def test_tree_json_is_one_query_and_compact(problem, client, django_assert_num_queries):
    # given
    job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
    )
    client.force_login(member(problem, Role.RESEARCHER))
    url = f"/trees/rounds/{job.pk}/problems/{problem.pk}/tree.json"
    client.get(url)  # session and user queries warm up

    # when
    with django_assert_num_queries(6):  # session, user, job, membership, problem, nodes
        response = client.get(url)

    # then
    assert response.status_code == 200
    body = response.json()
    assert [row[:3] for row in body["nodes"]] == [
        [0, None, 0], [1, 0, 1], [2, 0, 1], [3, 1, 2], [4, 1, 2]
    ]  # fmt: skip
    assert [row[-2] for row in body["nodes"]] == [True, True, False, True, False]
    assert body["nodes"][0][-1] == "Solve 3x = 6."


def test_node_json_shows_the_judge_reason(problem, client):
    job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
    )
    client.force_login(member(problem, Role.RESEARCHER))

    body = client.get(f"/trees/rounds/{job.pk}/problems/{problem.pk}/nodes/2.json").json()

    assert (body["text"], body["reason"], body["pruned"]) == (
        "Try x = 3.",
        "3 * 3 is 9, not 6.",
        True,
    )
    assert (
        client.get(f"/trees/rounds/{job.pk}/problems/{problem.pk}/nodes/9.json").status_code == 404
    )


def test_annotators_may_not_see_trees_and_strangers_get_404(problem, client):
    job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
    )
    url = f"/trees/rounds/{job.pk}/problems/{problem.pk}/tree.json"

    client.force_login(member(problem, Role.ANNOTATOR))
    assert client.get(url).status_code == 403
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    assert client.get(f"/projects/{problem.project.pk}/trees/").status_code == 404


def test_stats_count_keywords_tokens_and_lines_by_level(problem, client):
    # given a draft of 6 paragraphs, "Wait" in both reflections
    tree = hand_tree(problem)
    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, tree)], label="r"
    )
    job = tree_round_record(project=problem.project, user=None, trees=[], label="lt")
    thought = derive_long_thought(tree, correct_paths(tree)[0], k=2, seed=0)
    long_thoughts_write(
        job=job, thoughts=[DerivedThought(problem.pk, tree_job.pk, tree, thought, 0, 2)]
    )
    client.force_login(member(problem, Role.RESEARCHER))

    # when
    response = client.get(
        f"/projects/{problem.project.pk}/trees/stats/?origin=long_thought&keywords=wait,try"
    )

    # then
    assert response.status_code == 200
    [(stats, counts)] = response.context["stats"]
    assert (stats.level, stats.outputs, stats.lines) == (2, 1, 6)
    assert counts == [2, 4]  # two "Try x", two "try a different approach"
    assert b'data-testid="chart-kw-wait"' in response.content


def test_the_long_thought_form_records_k_its_meaning_and_the_rewrite_settings(problem, client):
    # given a round and a rewriter
    from annotation.jobs.models import Job, JobKind
    from annotation.llm.services import model_config_create

    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
    )
    rewriter = model_config_create(
        project=problem.project, name="gen", kind="vllm", path_or_endpoint="/models/gen"
    )
    client.force_login(member(problem, Role.RESEARCHER))
    url = f"/projects/{problem.project.pk}/trees/long-thoughts/start/"
    # when
    response = client.post(
        url,
        {
            "tree_job": tree_job.pk,
            "k": 1,
            "k_meaning": "wrong_detours",
            "max_paths": 3,
            "seed": 4,
            "rewriter": rewriter.pk,
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 8192,
            "chunk_size": 16,
        },
    )
    # then
    assert response.status_code == 302, response.content
    job = Job.objects.get(kind=JobKind.LONG_THOUGHT)
    params = job.params
    assert (params["k"], params["k_meaning"], params["max_paths"], params["seed"]) == (
        1,
        "wrong_detours",
        3,
        4,
    )
    sampling = params["sampling"]
    assert (sampling["temperature"], sampling["top_p"], sampling["max_tokens"]) == (0.2, 0.9, 8192)
    assert params["rewrite_prompt"]["label"] == "long-thought rewrite@v1"
    assert "{{ draft }}" in params["rewrite_prompt"]["text"]
    assert job.prompt_version == "long-thought rewrite@v1"
    # K counting trials cannot be 0 (the correct move is a trial)
    refused = client.post(
        url,
        {"tree_job": tree_job.pk, "k": 0, "k_meaning": "trials", "seed": 0, "chunk_size": 16},
    )
    assert refused.status_code == 200
    assert "k must be between 1 and 64, got 0" in refused.content.decode()


def test_the_thought_page_says_what_a_rewrites_fidelity_check_found(problem, client):
    # given a draft and a rewrite that lost its reflections
    from annotation.trees.services import Rewrite, rewrites_write

    tree = hand_tree(problem)
    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, tree)], label="r"
    )
    job = tree_round_record(project=problem.project, user=None, trees=[], label="lt")
    thought = derive_long_thought(tree, correct_paths(tree)[0], k=2, seed=0)
    _, draft = long_thoughts_write(
        job=job, thoughts=[DerivedThought(problem.pk, tree_job.pk, tree, thought, 0, 2)]
    )
    fidelity = {
        "wrong_answers_missing": ["4"],
        "reflections_expected": 2,
        "reflections_found": 0,
        "final_answer_expected": "2",
        "final_answer_found": "2",
        "final_answer_kept": True,
        "truncated": False,
        "passed": False,
        "reasons": ["trials missing (wrong nodes 2, 4)", "wrong answers no longer stated: 4"],
    }
    [rewrite] = rewrites_write(
        job=job,
        rewrites=[Rewrite(draft, "So $\\boxed{2}$.", "2", True, fidelity)],
    )
    client.force_login(member(problem, Role.RESEARCHER))
    # when
    page = client.get(f"/trees/thoughts/{rewrite.pk}/").content.decode()
    # then
    assert rewrite.external_id == draft.external_id.removesuffix("draft") + "rewrite"
    assert "Fidelity check failed (left out of sft-journey unless asked)" in page
    assert "reflections 0 (at least 2 expected)" in page
    assert "wrong answers missing: 4;" in page
    # and, one by one, why it failed
    assert "<li>trials missing (wrong nodes 2, 4)</li>" in page
    assert "<li>wrong answers no longer stated: 4</li>" in page


def test_the_long_thought_form_lists_rounds_with_their_correct_leaves_and_refuses_one_without(
    problem, client
):
    # given a round with one correct leaf and a newer one with none
    from annotation.jobs.models import Job, JobKind

    good = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r1"
    )
    empty = tree_round_record(project=problem.project, user=None, trees=[], label="r2")
    client.force_login(member(problem, Role.RESEARCHER))
    url = f"/projects/{problem.project.pk}/trees/long-thoughts/start/"
    # when
    page = client.get(url).content.decode()
    refused = client.post(url, {"tree_job": empty.pk, "k": 2, "k_meaning": "trials", "seed": 0})
    # then: newest first, each with its count; the empty one disabled, with the reason
    options = re.findall(r'<option value="(\d+)"([^>]*)>([^<]*)</option>', page)
    assert [(int(v), "disabled" in attrs) for v, attrs, _ in options] == [
        (empty.pk, True),
        (good.pk, False),
    ]
    assert options[0][2].endswith("no correct leaf, nothing to derive")
    assert options[1][2].endswith("1 correct leaf")
    assert refused.status_code == 200
    assert b"has no correct leaf, so no long thought can be derived" in refused.content
    assert not Job.objects.filter(kind=JobKind.LONG_THOUGHT).exists()
