"""REST: the scorer comparison, the best-of-N report, the disagreement queue, and starting a
Monte-Carlo labeling job (follow it at /api/jobs/ID/)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.core.access import Ability, access_project
from annotation.evaluation import analyses, services
from annotation.jobs.access import access_job
from annotation.jobs.api import JobSerializer, job_started
from annotation.jobs.models import JobKind
from annotation.jobs.params import MC_MODES
from annotation.llm.access import access_model_config, access_prompt_template
from annotation.llm.selectors import latest_version


def _stored(stored: analyses.Stored) -> dict[str, Any]:
    """The stored result with what it is: `analysis` tells its job, when it was computed,
    the data version it read and whether grades were written since (`outdated`); before the
    first analysis, `analysis` alone (start one with POST /api/jobs/)."""
    result = {k: v for k, v in (stored.result or {}).items() if k != "data_version"}
    return {"analysis": stored.meta(), **result}


class ComparisonApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, project_id: int) -> Response:
        """Every machine grade source against the human consensus (see docs/evaluation.md), as
        the newest scorer_comparison job stored it."""
        project = access_project(request.user, project_id, Ability.RESEARCH)
        return Response(_stored(analyses.stored_analysis(project, JobKind.SCORER_COMPARISON)))


class BestOfNApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, project_id: int) -> Response:
        """Best-of-N accuracy per scorer (aggregation and weighted vote), majority vote (answers
        grouped by equivalence) and oracle, and the generated tokens per problem at each n, as the
        newest best_of_n job stored them; ?job=ID: the one limited to one sampling job's samples."""
        project = access_project(request.user, project_id, Ability.RESEARCH)
        job = None
        if request.query_params.get("job"):
            try:
                job = access_job(request.user, int(request.query_params["job"]))
            except ValueError:
                raise ValidationError({"job": "give a job id (a number)"}) from None
            if job.project_id != project.pk:
                raise ValidationError({"job": f"job #{job.pk} belongs to another project"})
        params = analyses.BestOfNParams(sample_job=job.pk if job else None)
        return Response(_stored(analyses.stored_analysis(project, JobKind.BEST_OF_N, params)))


class QueueApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, project_id: int) -> Response:
        """Traces machines scored, most contested first, and agreement with and without
        suggestions, as the newest disagreement_queue job stored them."""
        project = access_project(request.user, project_id, Ability.RESEARCH)
        return Response(_stored(analyses.stored_analysis(project, JobKind.DISAGREEMENT_QUEUE)))


class MonteCarloSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    model = serializers.IntegerField(help_text="The policy: a generator model config.")
    prompt = serializers.IntegerField(help_text="A sample (solve) prompt template.")
    trace_ids = serializers.ListField(child=serializers.IntegerField())
    n = serializers.IntegerField(default=8)
    mode = serializers.ChoiceField(choices=list(MC_MODES), default="all")
    sampling = serializers.DictField(required=False, default=dict)
    chunk_size = serializers.IntegerField(default=4)


class StartMonteCarloApi(APIView):
    @extend_schema(request=MonteCarloSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        return job_started(
            request,
            MonteCarloSerializer,
            lambda project, data: services.monte_carlo_job_start(
                project=project,
                user=request.user,
                model=access_model_config(request.user, data.pop("model")),
                prompt=latest_version(access_prompt_template(request.user, data.pop("prompt"))),
                **data,
            ),
        )
