"""Pages of the workspace: queue, editors, review, dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation.core import bodies
from annotation.core.access import Ability, abilities, access_project
from annotation.core.bodies import BodyError
from annotation.core.fixed_sql import fetch_one
from annotation.problems.access import access_trace
from annotation.problems.models import FinishReason
from annotation.workspace import selectors
from annotation.workspace.access import access_assignment
from annotation.workspace.agreement_job import agreement_of, stored_agreement
from annotation.workspace.models import (
    OPEN_STATUSES,
    Assignment,
    AssignmentStatus,
    ItemKind,
    ReviewStatus,
    Standing,
)
from annotation.workspace.quality import gold_scores
from annotation.workspace.review import trace_review
from annotation.workspace.services.claims import assignment_claim_next, assignment_skip
from annotation.workspace.services.drafts import MAX_TEXT, THOUGHT_KINDS
from annotation.workspace.services.errors import WorkspaceError
from annotation.workspace.services.paths import (
    path_departure,
    path_ends_in_answer,
    pending_continuation,
)
from annotation.workspace.services.reviews import assignment_review

MAX_SKIP_REASON = 2000  # characters, as assignment_skip keeps


@login_required
def queue(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.ANNOTATE)
    mine = selectors.my_assignments(project=project, user=request.user)
    return render(
        request,
        "workspace/queue.html",
        {
            "project": project,
            "counts": selectors.queue_counts(project=project, user=request.user),
            "count_cap": selectors.QUEUE_COUNT_CAP,
            "in_progress": [a for a in mine if a.status == AssignmentStatus.IN_PROGRESS],
            "recent": [a for a in mine if a.status != AssignmentStatus.IN_PROGRESS],
        },
    )


@login_required
@require_POST
def claim_next(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.ANNOTATE)
    kind = request.POST.get("kind", ItemKind.GRADE)
    try:
        assignment = assignment_claim_next(project=project, user=request.user, kind=kind)
    except WorkspaceError as error:
        messages.error(request, str(error))
        return redirect("workspace-queue", project.pk)
    if assignment is None:
        what = "traces to grade" if kind == ItemKind.GRADE else "problems to record"
        messages.success(request, f"No {what} are left for you in this project. Thank you!")
        return redirect("workspace-queue", project.pk)
    return redirect("workspace-assignment", assignment.pk)


@login_required
def assignment_page(request: HttpRequest, assignment_id: int) -> HttpResponse:
    _wait_for_a_save_in_flight(assignment_id)
    assignment = access_assignment(request.user, assignment_id)
    project = assignment.project
    context = {
        "assignment": assignment,
        "project": project,
        "problem": assignment.problem,
        "draft": assignment.draft,
        "read_only": assignment.status not in OPEN_STATUSES,  # the API refuses writes too
        "returned": assignment.review_status == ReviewStatus.RETURNED,
        "history": selectors.claim_history(assignment=assignment),
        "save_url": reverse("workspace-api-draft", args=[assignment.pk]),
        "submit_url": reverse("workspace-api-submit", args=[assignment.pk]),
        "time_url": reverse("workspace-api-time", args=[assignment.pk]),
        "queue_url": reverse("workspace-queue", args=[project.pk]),
        "finish_reasons": FinishReason.choices,
    }
    if assignment.kind == ItemKind.GRADE:
        steps = selectors.grading_steps(assignment=assignment)
        context["steps"] = steps
        context["path_end"] = max((s.position for s in steps if s.on_path), default=-1) + 1
        # as grading_submit checks it: only a path the annotator changed must reach an answer
        departure = path_departure(assignment)
        context["departure"] = departure
        context["ends_in_answer"] = departure is None or path_ends_in_answer(steps)
        context["can_continue"] = project.continuation_model_id is not None
        context["continuing"] = pending_continuation(assignment)
        context["path_url"] = reverse("workspace-api-path", args=[assignment.pk])
        context["continue_url"] = reverse("workspace-api-continue", args=[assignment.pk])
        context["continuation_url"] = reverse("workspace-api-continuation", args=[assignment.pk])
        return render(request, "workspace/grade.html", context)
    context["thought_kinds"] = list(THOUGHT_KINDS)
    return render(request, "workspace/record.html", context)


def _wait_for_a_save_in_flight(assignment_id: int) -> None:
    """A save holds its assignment's row from its compare-and-swap to its commit. Waiting for
    that lock makes a page loaded while a save is in flight (a reload right after an edit) read
    the draft and version the save wrote, not those before it, on which the page's next save
    would be a 409. One statement in autocommit: the lock is let go as soon as it is had."""
    if not connection.features.has_select_for_update:
        return  # SQLite: a page reads what is committed, and writers take turns
    meta = Assignment._meta
    fetch_one(
        f"SELECT 1 FROM {meta.db_table} WHERE {meta.pk.column} = %s FOR SHARE", [assignment_id]
    )


@login_required
@require_POST
def skip(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = access_assignment(request.user, assignment_id)
    try:
        reason = bodies.text(request.POST.get("reason", ""), "reason", max_chars=MAX_SKIP_REASON)
        assignment_skip(assignment=assignment, reason=reason)
    except (BodyError, WorkspaceError) as error:
        messages.error(request, str(error))
        return redirect("workspace-assignment", assignment.pk)
    messages.success(request, "Skipped. It goes to someone else.")
    return redirect("workspace-queue", assignment.project_id)


# Review -----------------------------------------------------------------------------------


@login_required
def review_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = access_project(request.user, project_id, Ability.REVIEW)
    return render(
        request,
        "workspace/review_list.html",
        {"project": project, "items": selectors.review_items(project=project)},
    )


@login_required
def review_trace(request: HttpRequest, trace_id: int) -> HttpResponse:
    trace = access_trace(request.user, trace_id, Ability.REVIEW)
    table = trace_review(trace=trace)
    assignments = [c.assignment for c in table.columns if c.assignment is not None]
    for a in assignments:
        a.history = selectors.claim_history(assignment=a)  # type: ignore[attr-defined]
        a.grade_versions = table.histories.get(a.pk, [])  # type: ignore[attr-defined]
    return render(
        request,
        "workspace/review_trace.html",
        {
            "trace": trace,
            "project": trace.problem.project,
            "problem": trace.problem,
            "assignments": assignments,
            "columns": table.columns,
            "rows": table.rows,
        },
    )


@login_required
def review_record(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = access_assignment(request.user, assignment_id, Ability.REVIEW)
    steps = selectors.path_steps(assignment.record_id) if assignment.record_id else []
    assignment.history = selectors.claim_history(assignment=assignment)  # type: ignore[attr-defined]
    return render(
        request,
        "workspace/review_record.html",
        {
            "assignment": assignment,
            "record": assignment.record,
            "project": assignment.project,
            "problem": assignment.problem,
            "steps": steps,
        },
    )


@login_required
@require_POST
def review_decide(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = access_assignment(request.user, assignment_id, Ability.REVIEW)
    try:
        assignment_review(
            assignment=assignment,
            reviewer=request.user,
            decision=request.POST.get("decision", ""),
            comment=bodies.text(request.POST.get("comment", ""), "comment", max_chars=MAX_TEXT),
        )
    except (BodyError, WorkspaceError) as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"{assignment.annotator.username}'s work is {assignment.review_status}."
        )
    if assignment.kind == ItemKind.GRADE:
        return redirect("review-trace", assignment.trace_id)
    return redirect("review-record", assignment.pk)


# Dashboard --------------------------------------------------------------------------------


@login_required
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    """Agreement, quality and progress per annotator: reviewers read it, admins also act."""
    project = access_project(request.user, project_id, Ability.REVIEW)
    # Agreement reads every submitted grading: a job computes it (agreement_job.py), the page
    # shows the stored result, its age and a refresh.
    stored = agreement_of(project)
    overall, per_user = stored_agreement(stored.result) if stored.result is not None else (None, {})
    qc = gold_scores(project=project, kind="qc")
    screening = gold_scores(project=project, kind="screening")
    standings = {s.user_id: s for s in Standing.objects.filter(project=project)}
    rows = selectors.progress(project=project)
    for row in rows:
        user = row["annotator_id"]
        row["agreement"] = per_user.get(user)
        row["qc"] = qc.get(user)
        row["screening"] = screening.get(user)
        row["standing"] = standings.get(user)
    return render(
        request,
        "workspace/dashboard.html",
        {
            "project": project,
            "totals": selectors.project_totals(project=project),
            "agreement": overall,
            "stored": stored,
            "rows": rows,
            "may_manage": Ability.MANAGE in abilities(request.user, project),
            "stale": project.assignments.filter(
                Q(status=AssignmentStatus.IN_PROGRESS) | Q(status=AssignmentStatus.EXPIRED)
            ).count(),
        },
    )
