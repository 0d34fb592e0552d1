"""A differential property test of the step-label formats: over random labelled traces (PRM800K
rows with alternatives, found_error endings, give_up stops and own steps; native grading with
and without stop-at-first-error; corrections; model-run scores and Monte-Carlo shares;
combined grades with low agreement; failed screeners, gold items, rejected reviews), a
reference reading of the rules written here, independently of the code, says which rows each
format must write and why a trace is left out. Every format's rows must equal it on every
(trace, step) they carry, and every trace a format does not carry must have the reference's
named reason. Flipping one rule in the code (ungraded counted good; a rejected trace kept)
makes the property fail.

The traces are built in memory (no database): the formats read only the view they are given.
The last test goes through the database: random PRM800K rows (40 files of 1 to 3 rows) are
imported and exported, and trl-stepwise must equal what TRL's public conversion makes of the
same rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from algorithms.prm_inputs import math_shepherd_input
from annotation.datasets.export import step_label_formats
from annotation.datasets.export.left_out import REASONS, Skip
from annotation.datasets.export.options import ExportOptions
from annotation.grading.labelled_path import LabelledPath
from annotation.grading.selectors import Eligibility, GradeView
from annotation.problems.models import Origin, Problem, Trace
from annotation.problems.selectors import StepView, TraceView

FORMATS = ["trl-stepwise", "openr", "qwen-prm", "math-shepherd", "processbench"]
PROBLEM = "What is the answer?"
EXAMPLES = 500


# Random states --------------------------------------------------------------------------


@st.composite
def grades(draw: st.DrawFn, kind: str) -> GradeView | None:
    """A grade as the chosen source gives it: a person's rating, a run's score, an MC share,
    or a combined (majority) rating with its agreement; or none."""
    if draw(st.integers(0, 4)) == 0:
        return None
    if kind == "rating":
        return GradeView(draw(st.sampled_from([-1, 0, 1])), None, draw(st.booleans()), "user:a")
    if kind in ("run", "monte_carlo"):
        score = draw(st.sampled_from([0.0, 0.2, 0.5, 0.75, 1.0]))
        return GradeView(None, score, None, f"{kind}:1")
    votes = draw(st.integers(1, 4))
    agreeing = draw(st.integers(1, votes))
    rating = draw(st.sampled_from([-1, 0, 1]))
    return GradeView(rating, None, None, "majority", votes=votes, agreement=agreeing / votes)


@dataclass
class State:
    view: TraceView
    options: ExportOptions


@st.composite
def states(draw: st.DrawFn) -> State:
    kind = draw(st.sampled_from(["rating", "run", "monte_carlo", "majority"]))
    origin = draw(st.sampled_from([Origin.IMPORTED, Origin.MODEL_SAMPLE, Origin.LABELED]))
    stop_at_first_error = draw(st.booleans())
    steps: list[StepView] = []
    error_seen = False
    n_positions = draw(st.integers(0, 5))
    for position in range(n_positions):
        options_here = draw(st.integers(0, 3))  # alternatives offered besides the chosen one
        own = kind == "rating" and draw(st.integers(0, 3)) == 0  # a correction / human step
        chosen_option = None if own else draw(st.integers(0, options_here))
        offered = range(options_here + (0 if own else 1))
        for option in offered:
            on_path = option == chosen_option
            grade = draw(grades(kind))
            if error_seen and stop_at_first_error:
                grade = None
            steps.append(StepView(position, option, on_path, f"s{position}o{option}", "step",
                                  None, grade))  # fmt: skip
            if on_path and grade is not None and grade.rating == -1:
                error_seen = True
        if own:
            grade = draw(st.one_of(st.none(), grades(kind)))
            steps.append(StepView(position, None, True, f"s{position}own", "step",
                                  {"source": "human"}, grade))  # fmt: skip
            if grade is not None and grade.rating == -1:
                error_seen = True
    if draw(st.booleans()):  # the path ends where completions were offered, none chosen
        position = n_positions
        for option in range(draw(st.integers(1, 3))):
            steps.append(StepView(position, option, False, f"s{position}o{option}", "step",
                                  None, draw(grades(kind))))  # fmt: skip
    trace = Trace(pk=7, origin=origin, metadata={}, external_id="t-7", is_correct=None)
    trace.problem = Problem(pk=1, project_id=1, text=PROBLEM)
    eligibility = Eligibility(
        gold_item=draw(st.integers(0, 5)) == 0,
        screening_failed=draw(st.integers(0, 5)) == 0,
        rejected=draw(st.integers(0, 5)) == 0,
    )
    view = TraceView(trace, steps, grader=1 if kind == "rating" else 0, eligibility=eligibility)
    grades_option = {"rating": "trace", "majority": "majority"}.get(kind, kind)
    options = dict(
        format="trl-stepwise",
        zero_is=draw(st.sampled_from(["good", "bad"])),
        after_error=draw(st.sampled_from([None, "drop", "keep"])),
        chosen_path_only=draw(st.booleans()),
        min_agreement=draw(st.sampled_from([0.0, 0.6])),
        keep_gold_items=draw(st.booleans()),
        keep_failed_screening=draw(st.booleans()),
        review=draw(st.sampled_from(["not_rejected", "all"])),
        grades=grades_option,
        run=1 if kind == "run" else None,
    )
    return State(view, ExportOptions(**options))  # type: ignore[arg-type]


# The reference reading of the rules -----------------------------------------------------


def reference_label(step: StepView, options: ExportOptions) -> tuple[int | None, str]:
    """(label, why it is missing) of a step under the options."""
    grade = step.grade
    if grade is None:
        written = step.option is None and (step.extra or {}).get("source") == "human"
        return (1, "") if written and options.grades == "trace" else (None, "not_fully_graded")
    if grade.agreement < options.min_agreement:
        return None, "low_agreement"
    if grade.rating is not None:
        return grade.rating, ""
    assert grade.score is not None
    return (1 if grade.score >= options.score_threshold else -1), ""


Step = tuple[str, int | None, str]  # text, label, why the label is missing
Seq = list[tuple[str, int | None]]


def reference(view: TraceView, options: ExportOptions, format_name: str) -> list[Seq] | str:
    """The steps (text, ternary label) of each row a format must write, in order, or the
    reason the trace is left out."""
    eligibility = view.eligibility
    if eligibility.screening_failed and not options.keep_failed_screening:
        return "screening_failed"
    if eligibility.gold_item and not options.keep_gold_items:
        return "gold_item"
    if eligibility.rejected and options.review != "all":
        return "review_rejected"
    path: list[Step] = []
    alternatives: list[list[Step]] = []
    ending: list[Step] = []
    for position in sorted({s.position for s in view.steps}):
        here = [s for s in view.steps if s.position == position]
        chosen = [s for s in here if s.on_path]
        others = [(s.text, *reference_label(s, options)) for s in here if not s.on_path]
        if not chosen:
            ending = others
            break
        path.append((chosen[0].text, *reference_label(chosen[0], options)))
        alternatives.append(others)
    error_ending = None
    if all(label != -1 for _, label, _ in path):
        error_ending = next((alt for alt in ending if alt[1] == -1), None)
    main = path + ([error_ending] if error_ending else [])
    first_error = next((i for i, (_, label, _) in enumerate(main) if label == -1), len(main))
    missing = [why for _, label, why in main[:first_error] if label is None]
    if not main or missing:
        return missing[0] if missing else "not_fully_graded"
    default = "keep" if format_name in ("math-shepherd", "processbench") else "drop"
    keep = (options.after_error or default) == "keep"

    def carried(seq: list[Step]) -> Seq:
        out: Seq = []
        for text, label, _ in seq:
            if label is None:
                break
            out.append((text, label))
            if label == -1 and not keep:
                break
        return out

    if format_name == "processbench":
        return [[(text, label) for text, label, _ in main]]
    if options.chosen_path_only:
        rows = [carried(main)]
    else:
        rows = []
        for index, offered in enumerate([*alternatives, ending]):
            for alt in offered:
                seq = [*path[:index], alt]
                if alt[1] is not None and len(carried(seq)) == len(seq):
                    rows.append(carried(seq))
        rows.append(carried(path))
    return [row for row in rows if row]


def good(label: int | None, options: ExportOptions) -> bool:
    assert label is not None
    return label > 0 or (label == 0 and options.zero_is == "good")


def expected_row(format_name: str, seq: Seq, options: ExportOptions, view: TraceView) -> Any:
    texts = [text for text, _ in seq]
    labels = [label for _, label in seq]
    if format_name == "processbench":
        return {"steps": texts, "label": labels.index(-1) if -1 in labels else -1}
    binary = [good(label, options) for label in labels]
    if format_name == "trl-stepwise":
        return {"prompt": PROBLEM, "completions": texts, "labels": binary}
    if format_name == "openr":
        return {
            "question": PROBLEM,
            "process": "".join(f"{t}\n\n\n\n\n" for t in texts),
            "label": ["+" if b else "-" for b in binary],
        }
    if format_name == "qwen-prm":
        return {
            "assistant": "".join(f"{t}<extra_0>" for t in texts),
            "labels": [int(b) for b in binary],
        }
    if format_name == "math-shepherd":
        return {
            "input": math_shepherd_input(PROBLEM, texts),
            "label": math_shepherd_input(PROBLEM, texts, marks=["+" if b else "-" for b in binary]),
            "task": "",
        }
    raise AssertionError(format_name)


def comparable(format_name: str, row: dict[str, Any]) -> Any:
    if format_name == "qwen-prm":
        return {"assistant": row["messages"][-1]["content"], "labels": row["labels"]}
    if format_name == "processbench":
        return {"steps": row["steps"], "label": row["label"]}
    return row


def check(state: State) -> None:
    view, base = state.view, state.options
    for format_name in FORMATS:
        options = ExportOptions(**{**base.as_params(), "format": format_name})
        row_function = _ROWS[format_name]
        made = row_function(view, options)
        want = reference(view, options, format_name)
        if isinstance(want, str):
            assert isinstance(made, Skip), (format_name, want, made)
            assert made.reason == want and made.reason in REASONS, (format_name, want, made)
            continue
        assert not isinstance(made, Skip), (format_name, want, made)
        got = [comparable(format_name, row) for row in made.rows]
        assert got == [expected_row(format_name, seq, options, view) for seq in want], format_name
        assert all(reason in REASONS for reason in made.partly)


_ROWS = {
    "trl-stepwise": step_label_formats.trl_stepwise_rows,
    "openr": step_label_formats.openr_rows,
    "qwen-prm": step_label_formats.qwen_prm_rows,
    "math-shepherd": step_label_formats.math_shepherd_rows,
    "processbench": step_label_formats.processbench_rows,
}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states())
def test_every_step_label_format_agrees_with_the_reference_reading(state: State) -> None:
    check(state)


# Flipping one rule makes the property fail ------------------------------------------------


def property_fails() -> None:
    """The property, its first failure raised alone (not grouped with others found)."""
    run = settings(max_examples=EXAMPLES, deadline=None, report_multiple_bugs=False)(
        given(states())(check)
    )
    run()


def _ungraded_counted_good(self: LabelledPath) -> bool:
    return bool(self.labelled_steps())


@pytest.mark.parametrize(
    ("attribute", "flipped"),
    [
        # ungraded counted good: every path with steps is "fully graded"
        ("fully_graded", property(_ungraded_counted_good)),
    ],
)
def test_flipping_a_rule_makes_the_property_fail(monkeypatch, attribute, flipped):
    monkeypatch.setattr(LabelledPath, attribute, flipped)
    with pytest.raises(AssertionError, match=r"not_fully_graded|low_agreement"):
        property_fails()


def test_keeping_a_rejected_trace_makes_the_property_fail(monkeypatch):
    def kept_rejected(self: Eligibility) -> tuple[str, ...]:
        flags = (("screening_failed", self.screening_failed), ("gold_item", self.gold_item))
        return tuple(reason for reason, applies in flags if applies)

    monkeypatch.setattr(Eligibility, "reasons", property(kept_rejected))
    with pytest.raises(AssertionError, match="review_rejected"):
        property_fails()


# Through the database: random PRM800K rows imported, exported, read by TRL's conversion ------

TEXTS = ["Let x = 1.", "So x + 1 = 2.", "Then 2 * 2 = 5.", "# Answer\n\n2", "Check: 1 + 1 = 2."]
RATED = st.fixed_dictionaries(
    {
        "text": st.sampled_from(TEXTS),
        "rating": st.sampled_from([-1, 0, 1]),
        "flagged": st.booleans(),
    }
)
HUMAN = st.fixed_dictionaries(
    {
        "text": st.sampled_from(TEXTS),
        "rating": st.none(),
        "source": st.just("human"),
        "flagged": st.just(False),
    }
)


@st.composite
def prm800k_rows(draw: st.DrawFn, serial: int) -> dict[str, Any]:
    """A PRM800K row as PRM800K holds them: every completion offered rated, human completions
    unrated beside a list of completions, the last step possibly ending with none chosen."""
    steps = []
    count = draw(st.integers(min_value=1, max_value=4))
    for index in range(count):
        # (texts drawn from a few: a step may offer the same text twice, each copy rated)
        completions = draw(st.lists(RATED, min_size=0 if index else 1, max_size=3))
        ways = ["human", *(["chosen"] if completions else [])]
        if index == count - 1 and index > 0 and completions:
            ways.append("none")
        way = draw(st.sampled_from(ways))
        steps.append(
            {
                "completions": completions,
                "human_completion": draw(HUMAN) if way == "human" else None,
                "chosen_completion": (
                    draw(st.integers(0, len(completions) - 1)) if way == "chosen" else None
                ),
            }
        )
    bad = any(c["rating"] == -1 for s in steps for c in s["completions"])
    return {
        "labeler": f"labeler-{serial}",
        "timestamp": "2022-07-30T23:23:32.118856",
        "generation": None,
        "is_quality_control_question": False,
        "is_initial_screening_question": draw(st.booleans()),
        "question": {"problem": draw(st.sampled_from(["What is 1 + 1?", "Why 2?"]))},
        "label": {
            "steps": steps,
            "total_time": 1000,
            "finish_reason": draw(st.sampled_from(["solution", "give_up"]))
            if not bad
            else "found_error",
        },
    }


@st.composite
def prm800k_files(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [draw(prm800k_rows(serial)) for serial in range(draw(st.integers(1, 3)))]


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=prm800k_files())
def test_imported_prm800k_rows_export_as_trls_conversion_reads_them(rows, tmp_path_factory):
    from annotation.datasets.export.pipeline import export_to_directory
    from tests.exports.conftest import import_rows
    from tests.factories import ProjectFactory
    from tests.support.prm800k import trl_prm800k_conversion

    # given random PRM800K rows imported into a fresh project
    project = ProjectFactory()
    import_rows(project, "prm800k", rows)
    directory = tmp_path_factory.mktemp("out")
    # when
    options = ExportOptions(
        format="trl-stepwise", zero_is="bad", after_error="keep", keep_gold_items=True
    )
    manifest = export_to_directory(project=project, options=options, directory=directory)
    exported = [
        json.loads(line)
        for line in (directory / "trl-stepwise-train.jsonl").read_text().splitlines()
    ]
    # then: the rows TRL's conversion makes of the file (in the export's order of traces)
    expected = [row for example in rows for row in trl_prm800k_conversion(example)]
    key = json.dumps
    assert sorted(map(key, exported)) == sorted(map(key, expected))
    assert set(manifest["left_out"]) <= set(REASONS)
