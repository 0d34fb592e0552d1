"""JSON endpoints of the editors: versioned autosave and submit, and the grading page's own
path (choose an alternative, write a step, continue from one); contract in docs/frontend.md."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotation.core import bodies
from annotation.core.bodies import BodyError
from annotation.core.columns import integer_range
from annotation.core.tokens import token_or_session
from annotation.problems.models import FinishReason
from annotation.workspace.access import access_assignment
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.drafts import MAX_TEXT
from annotation.workspace.services.errors import (
    VersionConflict,
    WorkGone,
    WorkLocked,
    WorkspaceError,
)
from annotation.workspace.services.paths import (
    PathChange,
    latest_continuation,
    work_path_change,
    work_path_continue,
)
from annotation.workspace.services.records import record_submit
from annotation.workspace.services.saves import assignment_save, grading_submit
from annotation.workspace.services.time_on_item import time_on_item_add

# Fields of a request body that are not part of the stored draft.
CONTROL_FIELDS = ("version", "time_spent_ms", "finish_reason", "checklist")
# What each editor stores as its draft (static/js/workspace.js), served back on every load.
DRAFT_FIELDS: dict[str, tuple[str, ...]] = {
    ItemKind.GRADE: ("grades", "finish"),
    ItemKind.RECORD: ("thoughts", "final_answer", "finish"),
}
MAX_ANSWER = 1000  # characters, as record_submit
MAX_DEPTH = 8  # a draft nests three levels: {"grades": {"<node id>": {"rating": 1}}}
VERSIONS = integer_range(Assignment, "version")
TIME_SPENT = integer_range(Assignment, "time_spent_ms")

# Plain Django, not DRF (the rest of the JSON API): the editors' script reads this error shape
# (docs/frontend.md), and this is the hot path whose CPU per save bench/grade_latency.py measures.
JsonView = Callable[..., JsonResponse]


def json_errors(view: JsonView) -> JsonView:
    """Answers in JSON: 401 when logged out, 403/404 from the access door (404 too for work
    deleted while the request waited for it), 400 for a bad body
    (naming the field) or a WorkspaceError, 409 with the stored draft and version on a version
    conflict, 409 with `locked` on a write to submitted or skipped work."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Log in again; your draft is kept."}, status=401)
        try:
            return view(request, *args, **kwargs)
        except (Http404, WorkGone) as error:
            return JsonResponse({"error": str(error)}, status=404)
        except PermissionDenied as error:
            return JsonResponse({"error": str(error)}, status=403)
        except BodyError as error:
            return JsonResponse({"error": str(error), "field": error.field}, status=400)
        except WorkspaceError as error:
            return JsonResponse({"error": str(error)}, status=400)
        except VersionConflict as conflict:
            return conflict_response(conflict.assignment)
        except WorkLocked as locked:
            status = locked.assignment.status
            return JsonResponse(
                {"error": str(locked), "locked": True, "status": status}, status=409
            )

    return wrapper


def conflict_response(assignment: Assignment) -> JsonResponse:
    return JsonResponse(
        {
            "error": (
                f"This work was saved from another window (version {assignment.version}). "
                "Keep yours to save over it, or take theirs."
            ),
            "current": assignment.draft,
            "version": assignment.version,
        },
        status=409,
    )


def _body(request: HttpRequest) -> dict[str, Any]:
    body = bodies.json_object(request, max_depth=MAX_DEPTH)
    version = body.get("version")
    if type(version) is int and not VERSIONS[0] <= version <= VERSIONS[1]:
        raise BodyError("version", f"{version} is no version of this work; reload the page")
    return body


def _draft(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """The draft in the body, of the shape its editor writes: its fields, texts of at most
    MAX_TEXT characters (the services check what the values mean)."""
    draft = {key: value for key, value in body.items() if key not in CONTROL_FIELDS}
    known = DRAFT_FIELDS[kind]
    for key in draft:
        if key not in known:
            raise BodyError(key, f"is not a field of this draft ({', '.join(known)})")
    if draft.get("finish") not in (None, *FinishReason.values):
        raise BodyError("finish", f"expected one of {', '.join(FinishReason.values)}, or null")
    if draft.get("final_answer") is not None:
        bodies.text(draft["final_answer"], "final_answer", max_chars=MAX_ANSWER)
    bodies.check_texts(draft, "", max_chars=MAX_TEXT)
    return draft


@require_http_methods(["PUT"])
@token_or_session
@json_errors
def save_draft(request: HttpRequest, assignment_id: int) -> JsonResponse:
    assignment = access_assignment(request.user, assignment_id)
    body = _body(request)
    version = assignment_save(
        assignment=assignment,
        version=body.get("version"),
        draft=_draft(body, assignment.kind),
        time_spent_ms=body.get("time_spent_ms"),
    )
    return JsonResponse({"version": version})


@require_http_methods(["POST"])
@token_or_session
@json_errors
def submit(request: HttpRequest, assignment_id: int) -> JsonResponse:
    assignment = access_assignment(request.user, assignment_id)
    body = _body(request)
    next_url = reverse("workspace-queue", args=[assignment.project_id])
    if assignment.kind == ItemKind.GRADE:
        version = grading_submit(
            assignment=assignment,
            version=body.get("version"),
            draft=_draft(body, assignment.kind),
            finish_reason=body.get("finish_reason"),
            time_spent_ms=body.get("time_spent_ms"),
        )
        # the queue the page goes to next says so, as after a thought record
        messages.success(
            request, f"Your grades of trace {assignment.trace_id} are submitted. Thank you!"
        )
        return JsonResponse({"version": version, "status": "submitted", "next_url": next_url})
    trace = record_submit(
        assignment=assignment,
        version=body.get("version"),
        draft=_draft(body, assignment.kind),
        finish_reason=body.get("finish_reason"),
        checklist=body.get("checklist"),
        time_spent_ms=body.get("time_spent_ms"),
    )
    result = {
        "version": body["version"] + 1,
        "status": "submitted",
        "trace": trace.pk,
        "final_answer": trace.final_answer,
        "next_url": next_url,
    }
    if assignment.project.show_ground_truth:  # as the page's ground-truth disclosure
        result["is_correct"] = trace.is_correct
    return JsonResponse(result)


@require_http_methods(["POST"])
@token_or_session
@json_errors
def count_time(request: HttpRequest, assignment_id: int) -> JsonResponse:
    """`{"elapsed_ms": N}`: the time the page counted since its previous flush; the server adds
    it, bounded (services/time_on_item.py), and answers what it added and the total."""
    assignment = access_assignment(request.user, assignment_id)
    body = bodies.json_object(request, max_depth=1)
    elapsed = body.get("elapsed_ms")
    if type(elapsed) is not int or not 0 <= elapsed <= TIME_SPENT[1]:
        raise BodyError("elapsed_ms", "expected a whole number of milliseconds, 0 or more")
    counted = time_on_item_add(assignment=assignment, elapsed_ms=elapsed)
    return JsonResponse({"added_ms": counted.added_ms, "time_spent_ms": counted.time_spent_ms})


def _whole_number(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if type(value) is not int or not 0 <= value < 2**15:
        raise BodyError(name, "expected a whole number, 0 or more")
    return value


@require_http_methods(["POST"])
@token_or_session
@json_errors
def change_path(request: HttpRequest, assignment_id: int) -> JsonResponse:
    """`{"version", "position", "choose": <option>}` or `{"version", "position", "write":
    "<text>"}`: the annotator's path continues from that alternative or their own step;
    `{"version", "position", "restore": true}` undoes that: the trace's own steps from there."""
    assignment = access_assignment(request.user, assignment_id)
    body = _body(request)
    position = _whole_number(body, "position")
    if [name for name in ("choose", "write", "restore") if name in body] not in (
        ["choose"],
        ["write"],
        ["restore"],
    ):
        raise BodyError(
            "choose", "give one of choose (an alternative's option), write (text) or restore (true)"
        )
    if "restore" in body:
        if body["restore"] is not True:
            raise BodyError("restore", "expected true")
        change = PathChange(position, "restore")
    elif "choose" in body:
        change = PathChange(position, "choose", option=_whole_number(body, "choose"))
    else:
        text = bodies.text(body["write"], "write", max_chars=MAX_TEXT)
        change = PathChange(position, "write", text=text)
    version = work_path_change(assignment=assignment, version=body.get("version"), change=change)
    return JsonResponse({"version": version})


@require_http_methods(["POST"])
@token_or_session
@json_errors
def continue_path(request: HttpRequest, assignment_id: int) -> JsonResponse:
    """`{"version", "position"}`: the project's model continues the path from that step; 202
    with the job (`id`) and the claim's new version."""
    assignment = access_assignment(request.user, assignment_id)
    body = _body(request)
    try:
        version, job = work_path_continue(
            assignment=assignment,
            version=body.get("version"),
            position=_whole_number(body, "position"),
        )
    except ValidationError as error:  # the job's inputs: as every job API answers them
        return JsonResponse(error.message_dict, status=400)
    return JsonResponse({"id": job.pk, "version": version, "status": job.status}, status=202)


@require_http_methods(["GET"])
@token_or_session
@json_errors
def continuation(request: HttpRequest, assignment_id: int) -> JsonResponse:
    """The last continuation asked for: its job's status, and whether it was shown."""
    assignment = access_assignment(request.user, assignment_id)
    job = latest_continuation(assignment)
    if job is None:
        return JsonResponse({"status": None})
    return JsonResponse(
        {
            "job": job.pk,
            "status": job.status,
            "attached": bool(job.result.get("attached")),
            "error": job.error or None,
        }
    )
