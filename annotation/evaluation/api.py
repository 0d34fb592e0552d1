"""REST: the scorer comparison, the best-of-N report, the disagreement queue, and starting a
Monte-Carlo labeling job (follow it at /api/jobs/ID/)."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import Ability, access_project
from annotation.evaluation import selectors, services
from annotation.jobs.access import access_job
from annotation.jobs.api import JobSerializer
from annotation.jobs.params import MC_MODES
from annotation.llm.access import access_model_config, access_prompt_template
from annotation.llm.selectors import latest_version


def _row(row: selectors.SourceEvaluation) -> dict[str, Any]:
    return {
        "source": {"id": row.source.pk, "name": row.source.name, "kind": row.source.kind},
        "threshold": row.threshold,
        "threshold_traces": row.threshold_traces,
        "steps": row.steps,
        "step_accuracy": row.step_accuracy,
        "bad_precision": row.bad_precision,
        "bad_recall": row.bad_recall,
        "bad_f1": row.bad_f1,
        "auroc": row.auroc,
        "processbench": {**row.processbench, "traces": row.processbench_traces},
        "calibration": row.calibration,
    }


@extend_schema(responses={200: dict[str, Any]})
@api_view(["GET"])
def comparison(request: Request, project_id: int) -> Response:
    """Every machine grade source against the human consensus (see docs/evaluation.md)."""
    project = access_project(request.user, project_id, Ability.RESEARCH)
    result = selectors.compare_sources(project)
    return Response(
        {
            "traces": result.traces,
            "calibration_traces": result.calibration_traces,
            "evaluation_traces": result.evaluation_traces,
            "sources": [_row(row) for row in result.rows],
        }
    )


@extend_schema(responses={200: dict[str, Any]})
@api_view(["GET"])
def best_of_n(request: Request, project_id: int) -> Response:
    """Best-of-N accuracy per scorer (aggregation and weighted vote), majority vote (answers
    grouped by equivalence) and oracle, and the generated tokens per problem at each n; ?job=ID
    limits the samples to one sampling job."""
    project = access_project(request.user, project_id, Ability.RESEARCH)
    job = None
    if request.query_params.get("job"):
        try:
            job = access_job(request.user, int(request.query_params["job"]))
        except ValueError:
            raise ValidationError({"job": "give a job id (a number)"}) from None
        if job.project_id != project.pk:
            raise ValidationError({"job": f"job #{job.pk} belongs to another project"})
    report = selectors.best_of_n(project, job)
    return Response(
        {
            "problems": report.problems,
            "n": report.ns,
            "series": report.series,
            "tokens": report.tokens,
        }
    )


@extend_schema(responses={200: dict[str, Any]})
@api_view(["GET"])
def queue(request: Request, project_id: int) -> Response:
    """Traces machines scored, most contested first, and agreement with and without suggestions."""
    project = access_project(request.user, project_id, Ability.RESEARCH)
    traces = selectors.disagreement_order(project)[:200]
    agreement = selectors.suggestion_agreement(project)
    return Response(
        {
            "traces": [{"id": t.pk, "disagreement": t.disagreement} for t in traces],  # type: ignore[attr-defined]
            "agreement": {
                "with_suggestions": agreement.with_suggestions,
                "with_count": agreement.with_count,
                "without_suggestions": agreement.without_suggestions,
                "without_count": agreement.without_count,
            },
        }
    )


class MonteCarloSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    model = serializers.IntegerField(help_text="The policy: a generator model config.")
    prompt = serializers.IntegerField(help_text="A sample (solve) prompt template.")
    trace_ids = serializers.ListField(child=serializers.IntegerField())
    n = serializers.IntegerField(default=8)
    mode = serializers.ChoiceField(choices=list(MC_MODES), default="all")
    sampling = serializers.DictField(required=False, default=dict)
    chunk_size = serializers.IntegerField(default=4)


@extend_schema(request=MonteCarloSerializer, responses={202: JobSerializer})
@api_view(["POST"])
def start_monte_carlo(request: Request) -> Response:
    form = MonteCarloSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    data = form.validated_data
    project = access_project(request.user, data["project"], Ability.RESEARCH)
    try:
        job = services.start_monte_carlo_job(
            project=project,
            user=request.user,
            model=access_model_config(request.user, data["model"]),
            prompt=latest_version(access_prompt_template(request.user, data["prompt"])),
            trace_ids=data["trace_ids"],
            n=data["n"],
            mode=data["mode"],
            sampling=data["sampling"],
            chunk_size=data["chunk_size"],
        )
    except DjangoValidationError as error:
        raise ValidationError(error.message_dict) from None
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
