"""JSON endpoints of the editors: versioned autosave and submit (contract in docs/frontend.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotation.core.access import access_assignment
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.errors import VersionConflict, WorkspaceError
from annotation.workspace.services.records import record_submit
from annotation.workspace.services.saves import assignment_save, grading_submit

# Fields of a request body that are not part of the stored draft.
CONTROL_FIELDS = ("version", "time_spent_ms", "finish_reason", "checklist")

JsonView = Callable[..., JsonResponse]


def json_errors(view: JsonView) -> JsonView:
    """Answers in JSON: 401 when logged out, 403/404 from the access door, 400 for a bad body or
    a WorkspaceError, 409 with the stored draft and version on a version conflict."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Log in again; your draft is kept."}, status=401)
        try:
            return view(request, *args, **kwargs)
        except Http404 as error:
            return JsonResponse({"error": str(error)}, status=404)
        except PermissionDenied as error:
            return JsonResponse({"error": str(error)}, status=403)
        except WorkspaceError as error:
            return JsonResponse({"error": str(error)}, status=400)
        except VersionConflict as conflict:
            return conflict_response(conflict.assignment)

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
    try:
        body = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WorkspaceError(f"The request body is not JSON: {error}.") from error
    if not isinstance(body, dict):
        raise WorkspaceError("The request body must be a JSON object.")
    return body


def _draft(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in CONTROL_FIELDS}


@require_http_methods(["PUT"])
@json_errors
def save_draft(request: HttpRequest, assignment_id: int) -> JsonResponse:
    assignment = access_assignment(request.user, assignment_id)
    body = _body(request)
    version = assignment_save(
        assignment=assignment,
        version=body.get("version"),
        draft=_draft(body),
        time_spent_ms=body.get("time_spent_ms"),
    )
    return JsonResponse({"version": version})


@require_http_methods(["POST"])
@json_errors
def submit(request: HttpRequest, assignment_id: int) -> JsonResponse:
    assignment = access_assignment(request.user, assignment_id)
    body = _body(request)
    next_url = reverse("workspace-queue", args=[assignment.project_id])
    if assignment.kind == ItemKind.GRADE:
        version = grading_submit(
            assignment=assignment,
            version=body.get("version"),
            draft=_draft(body),
            finish_reason=body.get("finish_reason"),
            time_spent_ms=body.get("time_spent_ms"),
        )
        return JsonResponse({"version": version, "status": "submitted", "next_url": next_url})
    trace = record_submit(
        assignment=assignment,
        version=body.get("version"),
        draft=_draft(body),
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
