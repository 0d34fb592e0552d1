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
