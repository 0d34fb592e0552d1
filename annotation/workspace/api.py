"""JSON endpoints of the editors: versioned autosave and submit (contract in docs/frontend.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotation.core import bodies
from annotation.core.bodies import BodyError
from annotation.core.columns import integer_range
from annotation.problems.models import FinishReason
from annotation.workspace.access import access_assignment
from annotation.workspace.models import Assignment, ItemKind
from annotation.workspace.services.drafts import MAX_TEXT
from annotation.workspace.services.errors import VersionConflict, WorkspaceError
from annotation.workspace.services.records import record_submit
from annotation.workspace.services.saves import assignment_save, grading_submit

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

JsonView = Callable[..., JsonResponse]


def json_errors(view: JsonView) -> JsonView:
    """Answers in JSON: 401 when logged out, 403/404 from the access door, 400 for a bad body
    (naming the field) or a WorkspaceError, 409 with the stored draft and version on a version
    conflict."""

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
        except BodyError as error:
            return JsonResponse({"error": str(error), "field": error.field}, status=400)
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
