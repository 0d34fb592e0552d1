"""The door to problems and traces for a user (see annotation/core/access.py)."""

from typing import Any

from django.http import Http404

from annotation.core.access import Ability, check_ability
from annotation.problems.models import Problem, Trace


def access_problem(user: Any, problem_id: int, need: Ability = Ability.VIEW) -> Problem:
    problem = Problem.objects.select_related("project").filter(pk=problem_id).first()
    if problem is None:
        raise Http404("No such problem")
    check_ability(user, problem.project, need)
    return problem


def access_trace(user: Any, trace_id: int, need: Ability = Ability.VIEW) -> Trace:
    trace = Trace.objects.select_related("problem__project").filter(pk=trace_id).first()
    if trace is None:
        raise Http404("No such trace")
    check_ability(user, trace.problem.project, need)
    return trace
