"""One round's tree of a problem: rebuilt for the algorithm, drawn by the tree view, one node
in detail."""

from __future__ import annotations

from typing import Any, cast

from algorithms import tree_search
from annotation.grading.models import SourceKind
from annotation.grading.selectors import current_grades
from annotation.jobs.models import Job
from annotation.problems.models import Problem
from annotation.trees.models import TreeNode


def load_tree(job_id: int, problem: Problem) -> tree_search.Tree:
    """The algorithm's tree, rebuilt from the rows (ids are the stored indexes)."""
    rows = (
        TreeNode.objects.filter(job_id=job_id, problem=problem)
        .order_by("index")
        .values_list(
            "index",
            "parent_index",
            "depth",
            "node__text",
            "score",
            "judged_correct",
            "reason",
            "pruned",
            "final_answer",
            "is_correct",
            "copies",
            "wrong_source",
            "wrong_value",
        )
    )
    nodes: list[tree_search.TreeNode] = []
    for (
        index,
        parent,
        depth,
        text,
        score,
        judged,
        reason,
        pruned,
        answer,
        correct,
        copies,
        wrong_source,
        wrong_value,
    ) in rows:
        if index != len(nodes):
            raise ValueError(f"tree of problem {problem.pk} in job {job_id} misses node {index}")
        nodes.append(
            tree_search.TreeNode(
                id=index,
                parent=parent,
                depth=depth,
                text=problem.text if text is None else text,
                score=score,
                judged_correct=judged,
                reason=reason or None,
                pruned=pruned,
                final_answer=answer,
                is_correct=correct,
                copies=copies,
                wrong=_verdict(wrong_source, wrong_value),
            )
        )
    if not nodes:
        raise ValueError(f"job {job_id} has no tree of problem {problem.pk}")
    spec = tree_search.ProblemSpec(key=str(problem.pk), text=problem.text)
    return tree_search.Tree(problem=spec, nodes=nodes)


def _verdict(source: str, value: float | None) -> tree_search.Verdict | None:
    """A stored wrong verdict back as the algorithm's (empty source: none)."""
    if not source:
        return None
    if source not in tree_search.VERDICT_SOURCES:
        raise ValueError(f"unknown wrong verdict source {source!r}")
    return tree_search.Verdict(cast(tree_search.VerdictSource, source), value)


def tree_payload(job: Job, problem: Problem) -> dict[str, Any]:
    """Everything the tree view draws, as compact columns (one query, no per-node objects).

    ``nodes`` rows: [index, parent index, depth, kind (step, reflection, backtrack,
    conclusion; null for the root), score, judged correct, pruned, leaf, final answer,
    correct, on a correct path, text]."""
    rows = list(
        TreeNode.objects.filter(job=job, problem=problem)
        .order_by("index")
        .values_list(
            "index",
            "parent_index",
            "depth",
            "node__kind",
            "score",
            "judged_correct",
            "pruned",
            "is_leaf",
            "final_answer",
            "is_correct",
            "on_correct_path",
            "node__text",
        )
    )
    nodes = [[*row[:-1], row[-1] if row[-1] is not None else problem.text] for row in rows]
    return {
        "job": job.pk,
        "problem": {"id": problem.pk, "external_id": problem.external_id, "text": problem.text},
        "columns": [
            "index",
            "parent",
            "depth",
            "kind",
            "score",
            "judged_correct",
            "pruned",
            "leaf",
            "final_answer",
            "correct",
            "on_path",
            "text",
        ],
        "nodes": nodes,
    }


def node_detail(job: Job, problem: Problem, index: int) -> dict[str, Any] | None:
    """One node with its judge reason and every grade of the step (people's and machines')."""
    row = (
        TreeNode.objects.filter(job=job, problem=problem, index=index)
        .select_related("node")
        .first()
    )
    if row is None:
        return None
    grades = []
    if row.node_id is not None:
        grades = [
            {
                "source": name,
                "kind": kind,
                "rating": rating,
                "score": score,
                "unsure": unsure,
                "critique": critique,
                "reason": reason,
            }
            for name, kind, rating, score, unsure, critique, reason in current_grades()
            .filter(node_id=row.node_id)
            .order_by("source__kind", "source__name")
            .values_list(
                "source__name",
                "source__kind",
                "rating",
                "score",
                "unsure",
                "critique",
                "reason",
            )
        ]
    return {
        "index": row.index,
        "parent": row.parent_index,
        "depth": row.depth,
        "kind": row.node.kind if row.node is not None else None,
        "text": row.node.text if row.node is not None else problem.text,
        "score": row.score,
        "judged_correct": row.judged_correct,
        "reason": row.reason,
        "pruned": row.pruned,
        "leaf": row.is_leaf,
        "final_answer": row.final_answer,
        "correct": row.is_correct,
        "on_path": row.on_correct_path,
        "copies": row.copies,
        "wrong_verdict": (
            {"source": row.wrong_source, "value": row.wrong_value} if row.wrong_source else None
        ),
        "human_grades": [g for g in grades if g["kind"] == SourceKind.HUMAN],
        "machine_grades": [g for g in grades if g["kind"] != SourceKind.HUMAN],
    }
