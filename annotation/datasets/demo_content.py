"""What the demo shows on the first day besides its problems: the tiny model's configs, the
built-in prompts, a human thought record, and a round written for the demo (two small trees
with correct and wrong leaves, a long thought with its draft and rewrite, PRM scores on the
demo solutions), so that the tree, long-thought, statistics and evaluation pages have
something meaningful to show before any model has run. `load_demo` calls `demo_content`.

Everything goes through the services that own the rows (problems, grading, trees, llm). The
round is hand-written, and says so in its model label: a tiny model with random weights would
never reach a correct leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from algorithms.choices import NO_SCORER_HEAD
from algorithms.long_thought import derive_long_thoughts
from algorithms.rewrite_fidelity import check_rewrite
from algorithms.tree_search import (
    DEFAULT_WRONG_BELOW,
    ProblemSpec,
    Tree,
    TreeNode,
    record_wrong_verdicts,
)
from annotation.core.models import Project
from annotation.grading.services import Score, model_run_source, run_scores_write
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import LongThoughtParams, ModelSnapshot, ScoreParams
from annotation.llm.defaults import DEMO_MODEL_PREFIX
from annotation.llm.models import ModelConfig
from annotation.llm.services import (
    model_config_create,
    model_config_update,
    prompt_templates_install_defaults,
)
from annotation.problems.models import FinishReason, Origin, Problem, StepKind, Trace
from annotation.problems.selectors import path_node_ids
from annotation.problems.services import NewStep, NewTrace, trace_create
from annotation.trees.services import (
    DerivedThought,
    Rewrite,
    long_thoughts_write,
    rewrites_write,
    tree_round_record,
)

DEMO_GENERATOR = f"{DEMO_MODEL_PREFIX}-lm"
DEMO_SCORER = f"{DEMO_MODEL_PREFIX}-prm"
# Short samples: the model is tiny and its text noise; a tree of the demo stays quick on a CPU.
DEMO_SAMPLING = {"temperature": 1.0, "top_p": 0.95, "max_tokens": 32}
ROUND_LABEL = "demo round (hand-written)"
SCORES_LABEL = "demo PRM scores (hand-written)"
RECORD_ID = "demo-record-1"


@dataclass
class DemoContent:
    generator: ModelConfig
    scorer: ModelConfig
    round: Job | None  # None when the demo round was there already


def demo_models(project: Project, model_dir: Path) -> tuple[ModelConfig, ModelConfig]:
    """The tiny model as a generator and as a Math-Shepherd style PRM (one directory)."""
    path = str(model_dir.resolve())
    common: dict[str, Any] = {
        "kind": "transformers",
        "path_or_endpoint": path,
        "dtype": "float32",
        "default_sampling": DEMO_SAMPLING,
    }
    configs = []
    for name, head in (
        (DEMO_GENERATOR, NO_SCORER_HEAD),
        (DEMO_SCORER, "math-shepherd"),
    ):
        config = ModelConfig.objects.filter(project=project, name=name).first()
        if config is None:
            config = model_config_create(project=project, name=name, scorer_head=head, **common)
        elif config.path_or_endpoint != path:
            config = model_config_update(config=config, path_or_endpoint=path)
        configs.append(config)
    return configs[0], configs[1]


@transaction.atomic
def demo_content(
    *, project: Project, researcher: Any, annotator: Any, model_dir: Path
) -> DemoContent:
    generator, scorer = demo_models(project, model_dir)
    prompt_templates_install_defaults(project=project, user=researcher)
    problems = {p.external_id: p for p in Problem.objects.filter(project=project)}
    _record(problems["demo/geometry/1.json"], annotator)
    if project.jobs.filter(kind=JobKind.TREE, model_version=ROUND_LABEL).exists():
        return DemoContent(generator, scorer, None)
    trees = [
        (problems["demo/algebra/1.json"], linear_equation_tree),
        (problems["demo/number_theory/1.json"], divisors_tree),
    ]
    built = [(problem, make(problem)) for problem, make in trees]
    for _problem, tree in built:  # as a tree job records them: a PRM under 0.5 calls it wrong
        record_wrong_verdicts(tree, wrong_below=DEFAULT_WRONG_BELOW)
    round_job = tree_round_record(
        project=project,
        user=researcher,
        trees=[(problem.pk, tree) for problem, tree in built],
        label=ROUND_LABEL,
        params={"mode": "beam", "width": 3, "keep": 3, "max_depth": 3},
    )
    _long_thought(project, researcher, round_job, *built[0])
    _scores(project, researcher, scorer)
    return DemoContent(generator, scorer, round_job)


# The thought record ----------------------------------------------------------------------------

RECORD_STEPS = [
    (
        StepKind.ATTEMPT,
        "A hexagon has 6 sides, so maybe its angles add up to $6 \\cdot 180^\\circ = 1080^\\circ$.",
    ),
    (
        StepKind.REFLECTION,
        "Wait: a triangle has 3 sides and its angles add up to $180^\\circ$, not "
        "$3 \\cdot 180^\\circ$. The sum cannot be $n \\cdot 180^\\circ$.",
    ),
    (
        StepKind.EXPLANATION,
        "From one vertex, the diagonals cut an $n$-gon into $n - 2$ triangles, and the angles "
        "of each triangle add up to $180^\\circ$.",
    ),
    (StepKind.CORRECTION, "So the sum is $(n-2) \\cdot 180^\\circ = 4 \\cdot 180^\\circ$."),
    (StepKind.CONCLUSION, "The interior angles of a hexagon add up to $\\boxed{720}$ degrees."),
]


def _record(problem: Problem, annotator: Any) -> None:
    """A human thought record (attempt, reflection, ...): what an expansion job expands."""
    if Trace.objects.filter(problem=problem, external_id=RECORD_ID).exists():
        return
    trace_create(
        NewTrace(
            problem_id=problem.pk,
            origin=Origin.THOUGHT_RECORD,
            external_id=RECORD_ID,
            author_id=annotator.pk,
            steps=[NewStep(i, text, kind) for i, (kind, text) in enumerate(RECORD_STEPS)],
            final_answer="720",
            is_correct=True,
            finish_reason=FinishReason.SOLUTION,
            time_spent_ms=240_000,
        )
    )


# The trees -------------------------------------------------------------------------------------


def _add(
    tree: Tree,
    parent: int,
    text: str,
    score: float,
    *,
    answer: str | None = None,
    correct: bool | None = None,
    reason: str | None = None,
    pruned: bool = False,
) -> TreeNode:
    node = tree.add_child(parent, text)
    node.score, node.final_answer, node.is_correct = score, answer, correct
    node.reason, node.pruned = reason, pruned
    return node


def linear_equation_tree(problem: Problem) -> Tree:
    """3x + 7 = 22: two correct paths, a wrong operation, a wrong first step, a pruned node."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    _add(tree, 0, "Subtract 7 from both sides: $3x = 15$.", 0.93)  # 1
    _add(tree, 0, "Add 7 to both sides: $3x = 29$.", 0.18)  # 2
    _add(tree, 0, "Divide every term by 3 first: $x + \\frac{7}{3} = \\frac{22}{3}$.", 0.61)  # 3
    _add(tree, 1, "Divide both sides by 3: $x = 5$.", 0.95)  # 4
    _add(tree, 1, "Multiply both sides by 3: $x = 45$.", 0.09)  # 5
    _add(tree, 2, "Divide both sides by 3: $x = \\frac{29}{3}$.", 0.21)  # 6
    _add(tree, 3, "Subtract $\\frac{7}{3}$ from both sides: $x = \\frac{15}{3} = 5$.", 0.88)  # 7
    _add(tree, 3, "Multiply by 3 again: $3x + 7 = 22$.", 0.15, pruned=True)  # 8
    _add(
        tree,
        4,
        "Check: $3 \\cdot 5 + 7 = 22$ holds, so $x = \\boxed{5}$.",
        0.97,
        answer="5",
        correct=True,
    )  # 9
    _add(
        tree,
        5,
        "So $x = \\boxed{45}$.",
        0.05,
        answer="45",
        correct=False,
        reason="multiplying by 3 does not undo $3x$; dividing by 3 does",
    )  # 10
    _add(
        tree, 6, "So $x = \\boxed{\\frac{29}{3}}$.", 0.12, answer="\\frac{29}{3}", correct=False
    )  # 11
    _add(tree, 7, "So $x = \\boxed{5}$.", 0.9, answer="5", correct=True)  # 12
    return tree


def divisors_tree(problem: Problem) -> Tree:
    """Divisors of 36: counting by exponents or by listing; adding exponents goes wrong."""
    tree = Tree(problem=ProblemSpec(key=str(problem.pk), text=problem.text))
    _add(tree, 0, "Factor: $36 = 2^2 \\cdot 3^2$.", 0.9)  # 1
    _add(tree, 0, "List the divisors: $1, 2, 3, 4, 6, 9, 12, 18, 36$.", 0.8)  # 2
    _add(tree, 1, "Each exponent gives one more choice: $(2+1)(2+1) = 9$.", 0.92)  # 3
    _add(tree, 1, "Add the exponents plus one: $(2+1) + (2+1) = 6$.", 0.2)  # 4
    _add(tree, 2, "There are $9$ of them: $\\boxed{9}$.", 0.9, answer="9", correct=True)  # 5
    _add(tree, 3, "So $36$ has $\\boxed{9}$ positive divisors.", 0.95, answer="9", correct=True)
    _add(
        tree,
        4,
        "So $36$ has $\\boxed{6}$ positive divisors.",
        0.1,
        answer="6",
        correct=False,
        reason="the choices multiply, $(2+1)(2+1)$; they do not add",
    )
    return tree


# The long thought ------------------------------------------------------------------------------

REWRITE = """\
I need the $x$ with $3x + 7 = 22$. Maybe I can add 7 to both sides: $3x = 29$, and dividing \
by 3 gives $x = \\boxed{\\frac{29}{3}}$. Wait, this doesn't look right: \
$3 \\cdot \\frac{29}{3} + 7 = 36$, not 22. Let me go back to the beginning and try a \
different approach.

Subtracting 7 from both sides gives $3x = 15$. Should I multiply by 3 now? That gives \
$x = 45$, so $x = \\boxed{45}$? Wait: multiplying by 3 does not undo $3x$; dividing by 3 \
does. Let me go back to $3x = 15$.

Dividing both sides by 3 gives $x = 5$. Check: $3 \\cdot 5 + 7 = 22$ holds, so \
$x = \\boxed{5}$."""


def _finished_job(
    project: Project, user: Any, kind: str, params: dict[str, Any], **fields: Any
) -> Job:
    now = timezone.now()
    return Job.objects.create(
        project=project,
        kind=kind,
        status=JobStatus.SUCCEEDED,
        params=params,
        created_by=user,
        started_at=now,
        finished_at=now,
        **fields,
    )


def _long_thought(
    project: Project, user: Any, round_job: Job, problem: Problem, tree: Tree
) -> None:
    """The long thought of the first tree's first correct path (K = 2 trials: a wrong detour
    before each step where one leads to a dead end), as a finished long-thought job: shortcut,
    draft, and a hand-written rewrite of the draft, checked for fidelity like a model's."""
    params = LongThoughtParams(tree_job=round_job.pk, problem_ids=(problem.pk,), k=2, max_paths=1)
    (thought,) = derive_long_thoughts(
        tree, k=params.k, seed=params.seed, k_meaning=params.k_meaning, limit=params.max_paths
    )
    fidelity = check_rewrite(tree, thought, REWRITE)
    job = _finished_job(
        project,
        user,
        JobKind.LONG_THOUGHT,
        params.as_params(),
        done=1,
        total=1,
        model_version="demo rewrite (hand-written)",
        result={
            "problems": 1,
            "shortcuts": 1,
            "drafts": 1,
            "rewrites": 1,
            "rewrites_failing_fidelity": int(not fidelity.passed),
        },
    )
    _, draft = long_thoughts_write(
        job=job,
        thoughts=[DerivedThought(problem.pk, round_job.pk, tree, thought, params.seed, params.k)],
    )
    rewrites_write(
        job=job,
        rewrites=[
            Rewrite(
                draft=draft,
                text=REWRITE,
                final_answer="5",
                is_correct=True,
                fidelity={
                    **fidelity.as_dict(),
                    "truncated": False,
                    "passed": fidelity.passed,
                },
            )
        ],
    )


# Scores ------------------------------------------------------------------------------------------

# A PRM's step scores on the demo solutions (solutions.jsonl), as a scored run would give them:
# high on good steps, low on the step ProcessBench marks wrong.
DEMO_SCORES: dict[str, list[float]] = {
    "demo-1": [0.91, 0.88, 0.95],
    "demo-2": [0.86, 0.14, 0.09],
    "demo-3": [0.9, 0.87, 0.93, 0.71, 0.94],
}


def _scores(project: Project, user: Any, scorer: ModelConfig) -> None:
    traces = {
        t.external_id: t
        for t in Trace.objects.filter(problem__project=project, external_id__in=DEMO_SCORES)
    }
    ids = [traces[key].pk for key in DEMO_SCORES]
    params = ScoreParams(trace_ids=tuple(ids), scorer=ModelSnapshot.of(scorer))
    scores = [s for values in DEMO_SCORES.values() for s in values]
    job = _finished_job(
        project,
        user,
        JobKind.SCORE,
        params.as_params(),
        done=len(ids),
        total=len(ids),
        model_version=SCORES_LABEL,
        result={
            "traces": len(ids),
            "grades": len(scores),
            "mean_score": round(sum(scores) / len(scores), 4),
        },
    )
    source = model_run_source(job=job, label=SCORES_LABEL)
    job.result["source"] = source.name
    job.save(update_fields=["result"])
    nodes = path_node_ids(ids)
    run_scores_write(
        source=source,
        scores=[
            Score(node, traces[key].pk, value)
            for key, values in DEMO_SCORES.items()
            for node, value in zip(nodes[traces[key].pk], values, strict=True)
        ],
    )
