import pytest
from django.core.exceptions import ValidationError

from algorithms.long_thought import correct_paths, derive_long_thought, render_draft
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.jobs.models import JobStatus
from annotation.problems.models import Origin, Trace, TraceStep
from annotation.problems.selectors import trace_texts
from annotation.trees.models import TreeNode
from annotation.trees.selectors.thoughts import long_thought_view
from annotation.trees.selectors.tree import load_tree
from annotation.trees.services import (
    DerivedThought,
    long_thought_job_start,
    long_thoughts_write,
    tree_round_record,
    trees_write,
)
from tests.factories import UserFactory
from tests.trees.conftest import hand_tree


def test_trees_write_stores_every_node_once_and_marks_the_correct_path(problem):
    # given
    job = tree_round_record(project=problem.project, user=None, trees=[], label="r")
    source = GradeSource.objects.create(kind=SourceKind.PRM, name="prm", job=job)
    tree = hand_tree(problem)

    # when: the same chunk twice
    first = trees_write(job=job, trees=[(problem.pk, tree)], source=source)
    second = trees_write(job=job, trees=[(problem.pk, tree)], source=source)

    # then
    assert (first, second) == (5, 0)
    rows = list(
        TreeNode.objects.filter(job=job).values_list(
            "index", "parent_index", "depth", "pruned", "is_leaf", "is_correct", "on_correct_path"
        )
    )
    assert rows == [
        (0, None, 0, False, False, None, True),
        (1, 0, 1, False, False, None, True),
        (2, 0, 1, True, True, None, False),
        (3, 1, 2, False, True, True, True),
        (4, 1, 2, False, True, False, False),
    ]
    grades = dict(Grade.objects.filter(source=source).values_list("node__text", "score"))
    assert grades == {
        "Try x = 2.": 0.9,
        "Try x = 3.": 0.2,
        "3 * 2 = 6, so the answer is $\\boxed{2}$.": 0.8,
        "So the answer is $\\boxed{4}$.": 0.3,
    }
    assert TreeNode.objects.get(job=job, index=2).reason == "3 * 3 is 9, not 6."


def test_a_tree_read_back_walks_like_the_one_built(problem):
    # given a tree where the policy proposed "Try x = 2." twice (merged into one node)
    tree = hand_tree(problem)
    tree.node(1).copies = 2
    job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, tree)], label="r"
    )

    # when
    loaded = load_tree(job.pk, problem)

    # then
    assert loaded.nodes == tree.nodes
    assert TreeNode.objects.get(job=job, index=1).copies == 2
    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"problems": 1, "nodes": 5}
    for seed in range(5):
        [path] = correct_paths(tree)
        assert derive_long_thought(loaded, path, k=2, seed=seed) == derive_long_thought(
            tree, path, k=2, seed=seed
        )


def test_long_thoughts_write_stores_shortcut_and_draft_with_the_walked_nodes(problem):
    # given
    tree = hand_tree(problem)
    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, tree)], label="r"
    )
    job = tree_round_record(project=problem.project, user=None, trees=[], label="lt")
    [path] = correct_paths(tree)
    thought = derive_long_thought(tree, path, k=2, seed=0)
    derived = DerivedThought(problem.pk, tree_job.pk, tree, thought, 0, 2)

    # when: twice, as a redelivered chunk would
    written = long_thoughts_write(job=job, thoughts=[derived])
    again = long_thoughts_write(job=job, thoughts=[derived])

    # then
    assert again == []
    shortcut, draft = written
    assert (shortcut.origin, draft.origin) == (Origin.TREE, Origin.LONG_THOUGHT)
    assert shortcut.metadata == {
        "tree_job": tree_job.pk, "seed": 0, "k": 2, "k_meaning": "trials", "leaf": 3,
        "kind": "shortcut", "walked": [1, 3],
    }  # fmt: skip
    assert shortcut.external_id == f"lt{job.pk}:p{problem.pk}:l3:shortcut"
    assert draft.metadata["walked"] == [2, 1, 4, 3]
    assert draft.metadata["tree_nodes"] == [2, 2, 1, 4, 4, 3]
    assert draft.metadata["wrong_leaves"] == 2
    assert (draft.final_answer, draft.is_correct) == ("2", True)
    texts = trace_texts([shortcut.pk, draft.pk])
    assert texts[draft.pk] == render_draft(tree, thought)
    assert texts[shortcut.pk] == "Try x = 2.\n\n3 * 2 = 6, so the answer is $\\boxed{2}$."
    # the walked steps are the tree's own nodes; reflections are new nodes after wrong leaves
    tree_node_ids = dict(TreeNode.objects.filter(job=tree_job).values_list("index", "node_id"))
    path = list(
        TraceStep.objects.filter(trace=draft)
        .order_by("position")
        .values_list("node_id", "node__kind")
    )
    assert [p[1] for p in path] == ["step", "reflection", "step", "step", "reflection", "step"]
    assert [path[i][0] for i in (0, 2, 3, 5)] == [tree_node_ids[i] for i in (2, 1, 4, 3)]
    view = long_thought_view(draft)
    assert [s.tree_index for s in view.steps] == [2, 2, 1, 4, 4, 3]
    assert view.related == {"shortcut": shortcut.pk, "draft": draft.pk}
    assert Trace.objects.filter(job=job).count() == 2


def test_long_thought_job_needs_a_finished_tree_job_of_the_project(problem):
    # given
    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
    )
    tree_job.status = JobStatus.RUNNING
    tree_job.save(update_fields=["status"])

    # when / then
    with pytest.raises(ValidationError, match="has not succeeded yet"):
        long_thought_job_start(project=problem.project, user=UserFactory(), tree_job=tree_job)


def test_recording_a_round_rejects_problems_of_another_project(problem):
    other = tree_round_record(project=problem.project, user=None, trees=[], label="x")
    from tests.factories import ProjectFactory

    with pytest.raises(ValidationError, match="are not in"):
        tree_round_record(
            project=ProjectFactory(), user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
        )
    assert other.kind == "tree"


def test_an_annotator_can_claim_a_long_thought_draft_sent_for_review(problem):
    # given a draft (and its shortcut) of a long-thought job, and nothing else to grade
    from annotation.core.models import Role
    from annotation.workspace.models import ItemKind
    from annotation.workspace.services.claims import assignment_claim_next
    from annotation.workspace.services.queue import traces_send
    from tests.factories import MembershipFactory

    tree = hand_tree(problem)
    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, tree)], label="r"
    )
    job = tree_round_record(project=problem.project, user=None, trees=[], label="lt")
    [path] = correct_paths(tree)
    derived = DerivedThought(
        problem.pk, tree_job.pk, tree, derive_long_thought(tree, path, k=2, seed=0), 0, 2
    )
    _, draft = long_thoughts_write(job=job, thoughts=[derived])
    annotator = MembershipFactory(project=problem.project, role=Role.ANNOTATOR).user
    assert (
        assignment_claim_next(project=problem.project, user=annotator, kind=ItemKind.GRADE) is None
    )
    # when a researcher sends the draft to the queue
    traces_send(project=problem.project, user=None, trace_ids=[draft.pk])
    assignment = assignment_claim_next(project=problem.project, user=annotator, kind=ItemKind.GRADE)
    # then: the draft is the item
    assert assignment is not None
    assert assignment.trace_id == draft.pk


def test_a_long_thought_job_stored_with_trials_reads_back_with_its_meaning(problem):
    # given a job stored before K had its meaning named (trials counted wrong detours)
    from importlib import import_module

    from django.apps import apps

    from annotation.jobs.models import Job, JobKind
    from annotation.jobs.params import LongThoughtParams, job_params

    tree_job = tree_round_record(
        project=problem.project, user=None, trees=[(problem.pk, hand_tree(problem))], label="r"
    )
    old = Job.objects.create(
        project=problem.project,
        kind=JobKind.LONG_THOUGHT,
        params={
            "tree_job": tree_job.pk,
            "problem_ids": [problem.pk],
            "trials": 1,
            "seed": 3,
            "chunk_size": 16,
            "rewriter": None,
            "rewrite_prompt": "",
            "sampling": {},
        },
    )
    # when
    import_module("annotation.trees.migrations.0003_long_thought_params_k").forwards(apps, None)
    # then
    old.refresh_from_db()
    params = job_params(old, LongThoughtParams)
    assert (params.k, params.k_meaning, params.seed, params.rewrite_prompt) == (
        1,
        "wrong_detours",
        3,
        None,
    )
