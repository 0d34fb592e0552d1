"""REST: starting tree and long-thought jobs (follow them at /api/jobs/ID/)."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.core.access import Ability, access_project
from annotation.jobs.access import access_job
from annotation.jobs.api import JobSerializer
from annotation.jobs.params import SEARCH_MODES
from annotation.llm.access import access_model_config
from annotation.trees import services


class TreeJobSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    model = serializers.IntegerField(help_text="The policy: a generator model config.")
    scorer = serializers.IntegerField(help_text="A PRM or an LLM judge model config.")
    problem_ids = serializers.ListField(child=serializers.IntegerField())
    prompt = serializers.CharField(default="{{ problem }}", trim_whitespace=False)
    width = serializers.IntegerField(default=4)
    keep = serializers.IntegerField(default=4)
    max_depth = serializers.IntegerField(default=6)
    mode = serializers.ChoiceField(choices=list(SEARCH_MODES), default="beam")
    simulations = serializers.IntegerField(default=16)
    c_puct = serializers.FloatField(default=1.0)
    sampling = serializers.DictField(required=False, default=dict)
    delimiter = serializers.CharField(default="\n\n", trim_whitespace=False)
    chunk_size = serializers.IntegerField(default=8)


class LongThoughtJobSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    tree_job = serializers.IntegerField(help_text="A finished tree job (a round).")
    trials = serializers.IntegerField(default=2)
    seed = serializers.IntegerField(default=0)
    rewriter = serializers.IntegerField(required=False, allow_null=True, default=None)
    rewrite_prompt = serializers.CharField(
        default=services.DEFAULT_REWRITE_PROMPT, trim_whitespace=False
    )
    sampling = serializers.DictField(required=False, default=dict)
    chunk_size = serializers.IntegerField(default=16)


@extend_schema(request=TreeJobSerializer, responses={202: JobSerializer})
@api_view(["POST"])
def start_tree(request: Request) -> Response:
    form = TreeJobSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(form.validated_data)
    project = access_project(request.user, data.pop("project"), Ability.RESEARCH)
    try:
        job = services.start_tree_job(
            project=project,
            user=request.user,
            model=access_model_config(request.user, data.pop("model")),
            scorer=access_model_config(request.user, data.pop("scorer")),
            **data,
        )
    except DjangoValidationError as error:
        raise ValidationError(error.message_dict) from None
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(request=LongThoughtJobSerializer, responses={202: JobSerializer})
@api_view(["POST"])
def start_long_thought(request: Request) -> Response:
    form = LongThoughtJobSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(form.validated_data)
    project = access_project(request.user, data.pop("project"), Ability.RESEARCH)
    rewriter = data.pop("rewriter")
    try:
        job = services.start_long_thought_job(
            project=project,
            user=request.user,
            tree_job=access_job(request.user, data.pop("tree_job"), Ability.RESEARCH),
            rewriter=access_model_config(request.user, rewriter) if rewriter else None,
            **data,
        )
    except DjangoValidationError as error:
        raise ValidationError(error.message_dict) from None
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
