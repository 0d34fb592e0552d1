"""The labelled path: what the labels on one trace's path mean, read once for every export.

One record per (trace path, labelling source): each path step's label (+1, 0, -1, or none)
with who or what gave it (and when: the record's `labelled_at`), the rated alternatives
offered at that step, whether the person wrote the step themselves, the alternatives offered
after the path's last step with none chosen (PRM800K's `found_error` ends so: the wrong step
is one of them), the finish reason, the time spent, and whether the labels may be used
(eligibility). Every step-label format renders this record and nothing else
(annotation/datasets/export/step_label_formats.py).

The rules, the same for every format:
- A step carries a label only when it was graded (a rating, or a machine score read against
  the score threshold) by the chosen source, with enough agreement. A step the person wrote
  in place of the ones offered (PRM800K's `human_completion`) and did not rate counts +1
  under their own labels: they wrote it as the right next step. The steps of a thought
  record or of a person's own solution carry no label until someone grades them.
- The first error is the first -1 on the path; when there is none and the path ends at a
  position where alternatives were offered and none chosen, the first of those rated -1
  (PRM800K's found_error) is the error step that ends the path.
- A path is fully graded when every step before the first error (every step, if there is no
  error) carries a label; a path that is not is left out of every format ("not fully
  graded"), never read as "no error".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from annotation.grading.selectors import ELIGIBLE, Eligibility, GradeView
from annotation.problems.models import Origin
from annotation.problems.selectors import StepView, TraceView

GOOD, OKAY, BAD = 1, 0, -1


@dataclass(frozen=True, slots=True)
class LabelRules:
    """How a grade becomes a label: a machine score at or above `score_threshold` is +1,
    below it -1; a combined grade agreeing less than `min_agreement` is no label; with
    `own_steps_good` a person's unrated own step is +1 (their own labels, not a run's)."""

    score_threshold: float = 0.5
    min_agreement: float = 0.0
    own_steps_good: bool = True


@dataclass(frozen=True, slots=True)
class Label:
    """A step's label and where it came from. `value` None: not graded (`missing` says why:
    "ungraded" or "low_agreement")."""

    value: int | None
    score: float | None = None  # the machine's score or the share of MC rollouts, if any
    rating: int | None = None  # the rating as given, if any
    flagged: bool | None = None
    given_by: str | None = None  # the grade source's name; "own step" for a person's step
    missing: str | None = None

    @property
    def soft(self) -> float | None:
        """P(good): the score if a machine gave one, else the rating as 1.0 / 0.5 / 0.0."""
        if self.value is None:
            return None
        if self.score is not None:
            return self.score
        return SOFT_RATING[self.rating if self.rating is not None else self.value]


SOFT_RATING = {GOOD: 1.0, OKAY: 0.5, BAD: 0.0}
UNGRADED = Label(None, missing="ungraded")


@dataclass(frozen=True, slots=True)
class Alternative:
    """A step offered at a position and not chosen, with its label."""

    option: int
    text: str
    label: Label


@dataclass(frozen=True, slots=True)
class LabelledStep:
    position: int
    text: str
    label: Label
    own: bool  # written by the person (PRM800K's human_completion)
    option: int | None  # its place among the completions offered, None for an own step
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelledPath:
    trace_id: int
    labeller: str | None  # the source whose labels these are (None: nobody's)
    steps: tuple[LabelledStep, ...]
    ending: tuple[Alternative, ...]  # offered after the last path step, none chosen
    finish_reason: str | None
    time_spent_ms: int | None
    eligibility: Eligibility
    # when the labeller gave these labels: a person's submit of their work, an imported
    # PRM800K row's timestamp; None where no one time applies (a run, combined grades)
    labelled_at: datetime | None = None

    @property
    def error_ending(self) -> Alternative | None:
        """The wrong step that ends the path when the error is not on it (found_error)."""
        if any(step.label.value == BAD for step in self.steps):
            return None
        return next((alt for alt in self.ending if alt.label.value == BAD), None)

    def labelled_steps(self) -> list[tuple[str, Label]]:
        """The path as (text, label), ending with the error step when it is off the path."""
        out = [(step.text, step.label) for step in self.steps]
        if (error := self.error_ending) is not None:
            out.append((error.text, error.label))
        return out

    @property
    def first_error(self) -> int | None:
        """Index in labelled_steps() of the first -1, None when there is none."""
        return next(
            (i for i, (_, label) in enumerate(self.labelled_steps()) if label.value == BAD),
            None,
        )

    @property
    def fully_graded(self) -> bool:
        """Every step before the first error (every step, without one) carries a label."""
        steps = self.labelled_steps()
        until = self.first_error if self.first_error is not None else len(steps)
        return bool(steps) and all(label.value is not None for _, label in steps[:until])

    @property
    def missing(self) -> str | None:
        """Why the path is not fully graded: the first missing label's reason."""
        if self.fully_graded:
            return None
        steps = self.labelled_steps()
        until = self.first_error if self.first_error is not None else len(steps)
        return next(
            (label.missing for _, label in steps[:until] if label.missing), UNGRADED.missing
        )


def label_of(grade: GradeView | None, rules: LabelRules) -> Label:
    if grade is None:
        return UNGRADED
    if grade.agreement < rules.min_agreement:
        return Label(
            None,
            grade.score,
            grade.rating,
            grade.flagged,
            grade.source_name,
            missing="low_agreement",
        )
    if grade.rating is not None:
        value = grade.rating
    else:
        assert grade.score is not None  # a grade has a rating or a score (database constraint)
        value = GOOD if grade.score >= rules.score_threshold else BAD
    return Label(value, grade.score, grade.rating, grade.flagged, grade.source_name)


def is_own_step(step: StepView, origin: str) -> bool:
    """A step the person wrote: PRM800K's human completion, an annotator's written step, the
    steps of a thought record or a human solution."""
    if step.option is not None:
        return False
    return (step.extra or {}).get("source") == "human" or origin in (
        Origin.THOUGHT_RECORD,
        Origin.HUMAN_SOLUTION,
    )


def _written(step: StepView) -> bool:
    """A step written in place of the ones offered (a human completion): the person's own
    label of it is +1. The steps of a thought record or a person's solution are no labels."""
    return step.option is None and (step.extra or {}).get("source") == "human"


def labelled_path(view: TraceView, rules: LabelRules = LabelRules()) -> LabelledPath:
    """The record of one view (a trace with one labelling source's grades, or the grades an
    export's choice combined)."""
    at: dict[int, list[StepView]] = defaultdict(list)
    for step in view.steps:
        at[step.position].append(step)
    steps: list[LabelledStep] = []
    ending: tuple[Alternative, ...] = ()
    for position in sorted(at):
        here = at[position]
        chosen = next((s for s in here if s.on_path), None)
        alternatives = _alternatives(here, rules)
        if chosen is None:
            ending = alternatives  # the path ends here; what was offered and not chosen
            break
        own = is_own_step(chosen, view.trace.origin)
        label = label_of(chosen.grade, rules)
        if label.missing == "ungraded" and rules.own_steps_good and _written(chosen):
            label = Label(GOOD, flagged=(chosen.extra or {}).get("flagged"), given_by=OWN_STEP)
        steps.append(LabelledStep(position, chosen.text, label, own, chosen.option, alternatives))
    labeling = view.labeling or {}
    trace = view.trace
    return LabelledPath(
        trace_id=trace.pk,
        labeller=view.grader_name,
        steps=tuple(steps),
        ending=ending,
        finish_reason=labeling.get("finish_reason", trace.finish_reason),
        time_spent_ms=labeling.get("time_spent_ms", trace.time_spent_ms),
        eligibility=view.eligibility,
        labelled_at=labeling.get("submitted_at") or _imported_at(view),
    )


def _imported_at(view: TraceView) -> datetime | None:
    """An imported PRM800K row's timestamp, for the view of its own labeler's grades."""
    kept = (view.trace.metadata or {}).get("prm800k") or {}
    stamp = kept.get("timestamp")
    if not isinstance(stamp, str) or not (view.grader_name or "").startswith("prm800k:"):
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


OWN_STEP = "own step"


def _alternatives(here: Sequence[StepView], rules: LabelRules) -> tuple[Alternative, ...]:
    return tuple(
        Alternative(s.option, s.text, label_of(s.grade, rules))
        for s in here
        if not s.on_path and s.option is not None
    )


__all__ = ["ELIGIBLE", "Eligibility", "LabelRules", "LabelledPath", "labelled_path"]
