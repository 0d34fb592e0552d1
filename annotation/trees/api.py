"""REST: starting tree, long-thought, proposal-critique and policy-critic jobs (follow them at
/api/jobs/ID/)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import policy_critic, proposal_critique
from annotation.core.access import Ability
from annotation.core.models import Project
from annotation.core.params_fields import params_serializer
from annotation.jobs.access import access_job
from annotation.jobs.api import JobSerializer, job_started
from annotation.jobs.models import Job
from annotation.jobs.params import TreeParams
from annotation.llm.access import access_model_config, access_prompt_template
from annotation.llm.models import ModelConfig
from annotation.llm.selectors import latest_version
from annotation.trees import services, steered

TreeJobSerializer = params_serializer(
    "TreeJobSerializer",
    TreeParams,
    exclude={"model", "scorer"},
    doc="The project, the two models by id, then every TreeParams field (which checks them).",
    project=serializers.IntegerField(),
    model=serializers.IntegerField(help_text="The policy: a generator model config."),
    scorer=serializers.IntegerField(help_text="A PRM or an LLM judge model config."),
)


class LongThoughtJobSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    tree_job = serializers.IntegerField(help_text="A finished tree job (a round).")
    k = serializers.IntegerField(
        default=2, help_text="The report's K: trials per node of a correct path."
    )
    k_meaning = serializers.ChoiceField(
        choices=["trials", "wrong_detours"],
        default="trials",
        help_text="trials: the correct move counted (the report); wrong_detours: K wrong ones.",
    )
    max_paths = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Long thoughts per problem."
    )
    seed = serializers.IntegerField(default=0)
    rewriter = serializers.IntegerField(required=False, allow_null=True, default=None)
    rewrite_prompt = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A prompt template of purpose rewrite (its latest version is recorded); "
        "default: the project's rewrite prompt.",
    )
    sampling = serializers.DictField(
        required=False,
        default=dict,
        help_text="temperature, top_p, max_tokens, seed, stop for the rewrite; defaults "
        "temperature 0.7, top_p 0.95, max_tokens 4096.",
    )
    chunk_size = serializers.IntegerField(default=16)


class SteeredJobSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    model = serializers.IntegerField(help_text="The policy: a generator model config.")
    problem_ids = serializers.ListField(child=serializers.IntegerField())
    max_steps = serializers.IntegerField(default=16, help_text="Policy turns per problem.")
    max_backtracks = serializers.IntegerField(default=4)
    max_tokens = serializers.IntegerField(
        default=8192, help_text="Tokens generated per problem, every role counted."
    )
    sampling = serializers.DictField(
        required=False,
        default=dict,
        help_text="One reply's temperature, top_p, max_tokens, seed, stop over the model's.",
    )
    chunk_size = serializers.IntegerField(default=8, help_text="Problems per shard.")


class ProposalCritiqueJobSerializer(SteeredJobSerializer):
    retries = serializers.IntegerField(
        default=1, help_text="Attempts after one that ran out of steps without an answer."
    )
    prompt_version = serializers.ChoiceField(
        choices=sorted(proposal_critique.PROMPT_SETS),
        default=proposal_critique.VERSION,
        help_text="The version of the action vocabulary, the prompts and the parser.",
    )


class PolicyCriticJobSerializer(SteeredJobSerializer):
    critic = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The critic's model config; none: the policy's, under the critic prompt.",
    )
    critic_sampling = serializers.DictField(required=False, default=dict)
    prompt_version = serializers.ChoiceField(
        choices=sorted(policy_critic.PROMPT_SETS),
        default=policy_critic.VERSION,
        help_text="The version of the verdicts, the prompts and the parser.",
    )


def _model(request: Request, model_id: int | None) -> ModelConfig | None:
    return access_model_config(request.user, model_id) if model_id else None


class StartTreeApi(APIView):
    @extend_schema(request=TreeJobSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        return job_started(
            request,
            TreeJobSerializer,
            lambda project, data: services.tree_job_start(
                project=project,
                user=request.user,
                params=services.tree_params(
                    model=access_model_config(request.user, data.pop("model")),
                    scorer=access_model_config(request.user, data.pop("scorer")),
                    **data,
                ),
            ),
        )


class StartLongThoughtApi(APIView):
    @extend_schema(request=LongThoughtJobSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        def start(project: Project, data: dict[str, Any]) -> Job:
            prompt = data.pop("rewrite_prompt")
            return services.long_thought_job_start(
                project=project,
                user=request.user,
                tree_job=access_job(request.user, data.pop("tree_job"), Ability.RESEARCH),
                rewriter=_model(request, data.pop("rewriter")),
                rewrite_prompt=(
                    latest_version(access_prompt_template(request.user, prompt)) if prompt else None
                ),
                **data,
            )

        return job_started(request, LongThoughtJobSerializer, start)


class StartProposalCritiqueApi(APIView):
    @extend_schema(request=ProposalCritiqueJobSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        return job_started(
            request,
            ProposalCritiqueJobSerializer,
            lambda project, data: steered.proposal_critique_job_start(
                project=project,
                user=request.user,
                model=access_model_config(request.user, data.pop("model")),
                **data,
            ),
        )


class StartPolicyCriticApi(APIView):
    @extend_schema(request=PolicyCriticJobSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        return job_started(
            request,
            PolicyCriticJobSerializer,
            lambda project, data: steered.policy_critic_job_start(
                project=project,
                user=request.user,
                model=access_model_config(request.user, data.pop("model")),
                critic=_model(request, data.pop("critic")),
                **data,
            ),
        )
