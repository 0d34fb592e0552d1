"""REST: start training and evaluation jobs (follow them at /api/jobs/ID/), read a run's loss
curve and ETA (a GRPO run's rewards too, and what it recorded per logging step), an
evaluation's results table, a model's lineage."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms.choices import PRM_HEADS, TrainingMethod, values
from annotation.core.models import Project
from annotation.jobs.access import access_job
from annotation.jobs.api import JobSerializer, job_started
from annotation.jobs.boundary import check_in_project
from annotation.jobs.models import Job, JobKind
from annotation.jobs.params import JOB
from annotation.llm.access import access_model_config, access_prompt_template
from annotation.llm.selectors import latest_version
from annotation.training import selectors, services
from annotation.training.params import SPLITS
from annotation.training.selectors import LineageNode


class StartTrainingSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    method = serializers.ChoiceField(choices=list(values(TrainingMethod)))
    export = serializers.IntegerField(
        required=False,
        help_text="A finished export job of the project: its train split (sft, dpo, prm), or "
        "the problems of its `split` (grpo).",
    )
    base = serializers.IntegerField(help_text="The model config to start from.")
    name = serializers.CharField(max_length=100, help_text="Of the model config to register.")
    head = serializers.ChoiceField(choices=list(PRM_HEADS), required=False)
    hyperparameters = serializers.DictField(required=False, default=dict)
    # GRPO
    prompt = serializers.IntegerField(
        required=False, help_text="grpo: a sample prompt template (its latest version)."
    )
    problem_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="grpo, without an export."
    )
    split = serializers.ChoiceField(choices=list(SPLITS), default="train")
    reward = serializers.DictField(
        required=False,
        default=dict,
        help_text="grpo: outcome_weight, process_weight, aggregation (min, last, product).",
    )
    reward_model = serializers.IntegerField(
        required=False, help_text="grpo: the PRM scoring the steps (a process weight above 0)."
    )


class StartEvaluationSerializer(serializers.Serializer[None]):
    project = serializers.IntegerField()
    models = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    prompt = serializers.IntegerField(help_text="A sample prompt template (its latest version).")
    export = serializers.IntegerField(required=False, help_text="Evaluate on its test split.")
    problem_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    k = serializers.IntegerField(default=4)
    sampling = serializers.DictField(required=False, default=dict)
    chunk_size = serializers.IntegerField(default=8)


def _export(project: Project, export_id: int) -> Job:
    """The job named as the export, once the project boundary lets it be read (the services
    check that it is a finished export)."""
    check_in_project(project, "export", JOB, [export_id])
    return Job.objects.get(pk=export_id)


class StartTrainingApi(APIView):
    @extend_schema(request=StartTrainingSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        return job_started(
            request, StartTrainingSerializer, lambda project, data: _start(request, project, data)
        )


def _start(request: Request, project: Project, data: dict[str, Any]) -> Job:
    if data["method"] == "grpo":
        return _start_grpo(request, project, data)
    if "export" not in data:
        raise ValidationError({"export": ["This field is required."]})
    return services.training_job_start(
        project=project,
        user=request.user,
        method=data["method"],
        export=_export(project, data["export"]),
        base=access_model_config(request.user, data["base"]),
        name=data["name"],
        head=data.get("head"),
        hyperparameters=data["hyperparameters"],
    )


def _start_grpo(request: Request, project: Project, data: dict[str, Any]) -> Job:
    if "prompt" not in data:
        raise ValidationError({"prompt": ["This field is required."]})
    if ("export" in data) == ("problem_ids" in data):
        raise ValidationError(
            {"export": ["give either an export (one side of its split) or problem_ids"]}
        )
    return services.grpo_job_start(
        project=project,
        user=request.user,
        base=access_model_config(request.user, data["base"]),
        name=data["name"],
        prompt=latest_version(access_prompt_template(request.user, data["prompt"])),
        problem_ids=data.get("problem_ids"),
        export=_export(project, data["export"]) if "export" in data else None,
        split=data["split"],
        reward=data["reward"],
        reward_model=access_model_config(request.user, data["reward_model"])
        if "reward_model" in data
        else None,
        hyperparameters=data["hyperparameters"],
    )


class StartEvaluationApi(APIView):
    @extend_schema(request=StartEvaluationSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        return job_started(
            request,
            StartEvaluationSerializer,
            lambda project, data: _evaluate(request, project, data),
        )


def _evaluate(request: Request, project: Project, data: dict[str, Any]) -> Job:
    if ("export" in data) == ("problem_ids" in data):
        raise ValidationError({"export": ["give either an export (its test split) or problem_ids"]})
    return services.evaluation_job_start(
        project=project,
        user=request.user,
        models=[access_model_config(request.user, pk) for pk in data["models"]],
        prompt=latest_version(access_prompt_template(request.user, data["prompt"])),
        problem_ids=data.get("problem_ids"),
        export=_export(project, data["export"]) if "export" in data else None,
        k=data["k"],
        sampling=data["sampling"],
        chunk_size=data["chunk_size"],
    )


class TrainingLogApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, job_id: int) -> Response:
        """A run's progress: step, total, ETA, and loss / learning rate per logging step."""
        job = access_job(request.user, job_id)
        if job.kind not in selectors.TRAINING_KINDS:
            raise NotFound("Not a training job")
        log = selectors.training_log(job)
        return Response(
            {
                "job": job.pk,
                "status": job.status,
                "step": job.done,
                "total": job.total,
                "eta_seconds": selectors.training_eta(job, log),
                "log": [
                    {
                        "step": e.step,
                        "loss": e.loss,
                        "learning_rate": e.learning_rate,
                        "grad_norm": e.grad_norm,
                        "epoch": e.epoch,
                        **(
                            {
                                "reward": e.reward,
                                "reward_std": e.reward_std,
                                "reward_outcome": e.reward_outcome,
                                "reward_process": e.reward_process,
                                "kl": e.kl,
                                "response_length": e.response_length,
                            }
                            if job.kind == JobKind.TRAIN_GRPO
                            else {}
                        ),
                    }
                    for e in log
                ],
            }
        )


class TrainingRewardsApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, job_id: int) -> Response:
        """The completions a GRPO run recorded at one logging step (`?step=N`, else the latest),
        each with the inputs and outputs of its reward."""
        job = access_job(request.user, job_id)
        if job.kind != JobKind.TRAIN_GRPO:
            raise NotFound("Not a GRPO training job")
        step = request.query_params.get("step", "")
        if step and not step.isdigit():
            raise ValidationError({"step": ["a whole number"]})
        entry = selectors.reward_samples(job, int(step) if step else None)
        if entry is None:
            raise NotFound(
                "No rewards recorded at this step" if step else "No rewards recorded yet"
            )
        return Response({"job": job.pk, "step": entry.step, "completions": entry.reward_samples})


class ResultsApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, job_id: int) -> Response:
        job = access_job(request.user, job_id)
        if job.kind != JobKind.EVALUATE:
            raise NotFound("Not an evaluation job")
        return Response({"job": job.pk, "status": job.status, **selectors.evaluation_result(job)})


def _node(node: LineageNode) -> dict[str, Any]:
    row = node.lineage
    return {
        "model_config": node.config.pk if node.config else None,
        "model": node.label,
        "depth": node.depth,
        "lineage": None
        if row is None
        else {
            "method": row.method,
            "parent": row.parent_id,
            "parent_label": row.parent_label,
            "job": row.job_id,
            "export": row.export_job_id,
            "export_format": row.export_format,
            "manifest_sha256": row.manifest_sha256,
            "train_file_sha256": row.train_file_sha256,
            "train_rows": row.train_rows,
            "hyperparameters": row.hyperparameters,
            "code_version": row.code_version,
            **(
                {
                    "reward_model": row.reward_model_id,
                    "reward_model_label": row.reward_model_label,
                    "reward": row.reward,
                    "problems": len(row.problem_ids),
                }
                if row.method == "grpo"
                else {}
            ),
        },
    }


class LineageApi(APIView):
    @extend_schema(responses={200: dict[str, Any]})
    def get(self, request: Request, model_id: int) -> Response:
        config = access_model_config(request.user, model_id)
        return Response(
            {
                "model_config": config.pk,
                "ancestry": [_node(n) for n in selectors.ancestry(config)],
                "descendants": [_node(n) for n in selectors.descendants(config)],
                "rewarded": [row.config_id for row in selectors.rewarded_by(config)],
                "evaluations": [j.pk for j in selectors.evaluations_of(config)],
            }
        )
