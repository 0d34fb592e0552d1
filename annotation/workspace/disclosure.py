"""What a viewer may see of grades, problems and traces: one rule per object type.

Blind labeling: an annotator (a member without the REVIEW ability) must not be anchored by
anyone else's judgement. In a project where they are blind they see their own current grades,
the machine suggestions (a PRM's or judge's current scores) only if the project shows them, the
ground truth (a problem's answer and solution, and whether a trace matches it) only if the
project shows it, and never other annotators' grades, retired versions, gold references,
Monte-Carlo labels, imported metadata (PRM800K's quality-control and screening flags), other
people's thought records or labeled paths, the verdicts on traces they did not write, or why an
item was given to them (work, screening or QC: `Assignment.purpose` is shown to no annotator).
Reviewers, researchers, admins and superusers see everything. The access doors
(annotation/core/access.py) decide whether an object may be seen at all; this module decides
which of its parts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet, Subquery
from rest_framework import viewsets

from annotation.core.access import ROLE_ABILITIES, Ability
from annotation.core.models import Membership
from annotation.grading.models import Grade, GradeSource, SourceKind
from annotation.grading.selectors import current_grades
from annotation.problems.models import Origin, Trace
from annotation.workspace.models import GoldItem

# Traces that are one person's work, which other blind annotators do not see.
PEOPLES_WORK = (Origin.THOUGHT_RECORD, Origin.LABELED)
# Machine grades an annotator may be shown as suggestions, where the project turns them on.
SUGGESTION_KINDS = (SourceKind.PRM, SourceKind.JUDGE)

# Parts of a problem and of a trace a blind annotator does not get, and what they get instead.
HIDDEN_GROUND_TRUTH: dict[str, Any] = {"answer": None, "solution": None}
HIDDEN_PROBLEM_PARTS: dict[str, Any] = {"metadata": {}}
HIDDEN_TRACE_PARTS: dict[str, Any] = {
    "author": None,
    "finish_reason": None,
    "time_spent_ms": None,
    "metadata": {},
}


def suggestion_grades(project_ids: Collection[int]) -> Q:
    """The grades shown as suggestions in these projects: current PRM or judge grades whose
    source is no gold reference there."""
    gold_sources = GoldItem.objects.filter(trace__problem__project_id__in=project_ids).values(
        "source_id"
    )
    return Q(
        node__problem__project_id__in=project_ids,
        is_current=True,
        source__kind__in=SUGGESTION_KINDS,
    ) & ~Q(source_id__in=gold_sources)


def suggested_scores(*, project_id: int, node_ids: Collection[str]) -> dict[str, float]:
    """A machine score per node for the grading page (the newest when several)."""
    rows = (
        current_grades()
        .filter(suggestion_grades([project_id]), node_id__in=list(node_ids))
        .filter(score__isnull=False)
        .order_by("-id")
        .values_list("node_id", "score")
    )
    newest: dict[str, float] = {}
    for node, score in rows:  # newest first; portable where DISTINCT ON is not (SQLite)
        if score is not None:
            newest.setdefault(str(node), score)
    return newest


@dataclass(frozen=True, slots=True)
class BlindProject:
    show_ground_truth: bool
    show_machine_suggestions: bool


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One viewer's view: built once per request by `disclosure_for`."""

    user_id: int | None
    everything: bool = False  # a superuser
    full: frozenset[int] = frozenset()  # projects where the viewer sees everything
    blind: dict[int, BlindProject] = field(default_factory=dict)

    def sees_all(self, project_id: int) -> bool:
        return self.everything or project_id in self.full

    def sees_ground_truth(self, project_id: int) -> bool:
        blind = self.blind.get(project_id)
        return self.sees_all(project_id) or (blind is not None and blind.show_ground_truth)

    def _projects(self, want: Any = None) -> list[int]:
        return [pid for pid, blind in self.blind.items() if want is None or want(blind)]

    def _ground_truth_projects(self) -> list[int]:
        return [*self.full, *self._projects(lambda b: b.show_ground_truth)]

    # Grades ---------------------------------------------------------------------------

    def grades(self, grades: QuerySet[Grade]) -> QuerySet[Grade]:
        if self.everything:
            return grades
        # The person's source as one value (a scalar subquery), so that a page of their own
        # grades reads the (source, id) index instead of every grade of the project.
        source = (
            Subquery(GradeSource.objects.filter(user_id=self.user_id).values("pk")[:1])
            if self.user_id is not None
            else None  # nobody's: no grade
        )
        own = Q(node__problem__project_id__in=self._projects(), source_id=source, is_current=True)
        visible = Q(node__problem__project_id__in=self.full) | own
        suggesting = self._projects(lambda b: b.show_machine_suggestions)
        if suggesting:
            visible |= suggestion_grades(suggesting)
        return grades.filter(visible)

    # Problems -------------------------------------------------------------------------

    def problem(self, data: dict[str, Any], project_id: int) -> dict[str, Any]:
        if self.sees_all(project_id):
            return data
        hidden: dict[str, Any] = dict(HIDDEN_PROBLEM_PARTS)
        if not self.sees_ground_truth(project_id):
            hidden |= HIDDEN_GROUND_TRUTH
        return {**data, **hidden}

    # Traces ---------------------------------------------------------------------------

    def traces(self, traces: QuerySet[Trace]) -> QuerySet[Trace]:
        """Every trace of the viewer's projects, but other people's thought records and
        labeled paths (their own path through a trace they graded) where the viewer is blind."""
        if self.everything:
            return traces
        others_record = Q(origin__in=PEOPLES_WORK) & ~Q(author_id=self.user_id)
        return traces.filter(
            Q(problem__project_id__in=self.full)
            | (Q(problem__project_id__in=self._projects()) & ~others_record)
        )

    def trace(self, data: dict[str, Any], project_id: int, author_id: int | None) -> dict[str, Any]:
        if self.sees_all(project_id):
            return data
        hidden: dict[str, Any] = {}
        if author_id is None or author_id != self.user_id:
            hidden |= HIDDEN_TRACE_PARTS
        if not self.sees_ground_truth(project_id):
            hidden["is_correct"] = None
        return {**data, **hidden}

    def traces_graded_by(self, traces: QuerySet[Trace], source_name: str) -> QuerySet[Trace]:
        """Traces with a grade by this source that the viewer may see."""
        graded = self.grades(Grade.objects.filter(source__name=source_name)).values("trace_id")
        return traces.filter(pk__in=graded)

    def traces_correct(self, traces: QuerySet[Trace], correct: bool) -> QuerySet[Trace]:
        """As if is_correct were null where the viewer may not see the ground truth."""
        traces = traces.filter(is_correct=correct)
        if self.everything:
            return traces
        return traces.filter(problem__project_id__in=self._ground_truth_projects())

    def traces_finished(self, traces: QuerySet[Trace], reason: str) -> QuerySet[Trace]:
        """As if finish_reason were null on other people's traces where the viewer is blind."""
        traces = traces.filter(finish_reason=reason)
        if self.everything:
            return traces
        return traces.filter(Q(problem__project_id__in=self.full) | Q(author_id=self.user_id))


def disclosure_for(user: Any) -> Disclosure:
    """What `user` may see in each of their projects (one query)."""
    if not user.is_authenticated or not user.is_active:
        return Disclosure(user_id=None)
    if user.is_superuser:
        return Disclosure(user_id=user.pk, everything=True)
    full: set[int] = set()
    blind: dict[int, BlindProject] = {}
    for project_id, role, ground_truth, suggestions in Membership.objects.filter(
        user=user
    ).values_list(
        "project_id", "role", "project__show_ground_truth", "project__show_machine_suggestions"
    ):
        if Ability.REVIEW in ROLE_ABILITIES.get(role, frozenset()):
            full.add(project_id)
        else:
            blind[project_id] = BlindProject(ground_truth, suggestions)
    return Disclosure(user_id=user.pk, full=frozenset(full), blind=blind)


def request_disclosure(request: Any) -> Disclosure:
    """The disclosure of the request's user, built once per request."""
    disclosure = getattr(request, "_stepwise_disclosure", None)
    if disclosure is None:
        disclosure = disclosure_for(request.user)
        request._stepwise_disclosure = disclosure
    return disclosure


class DisclosingViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """Hands its serializer and filters the viewer's Disclosure (what they may see)."""

    @property
    def disclosure(self) -> Disclosure:
        return request_disclosure(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "disclosure": self.disclosure}
