"""Typed job parameters: every kind's class goes to JSON and back unchanged, and a stored dict
that no longer fits its class (an old format, a garbled value) fails the job with a message
naming the field, never a KeyError in a worker."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms import policy_critic, proposal_critique
from algorithms.rewards import AGGREGATIONS, RewardSpec
from algorithms.training import Hyperparameters
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import (
    FILE_FORMATS,
    GRADE_CHOICES,
    SOFT_LABEL_FORMATS,
    TRACE_KINDS,
    ExportOptions,
)
from annotation.evaluation.analyses import AnalysisParams, BestOfNParams, RoundComparisonParams
from annotation.jobs.models import Job, JobKind, JobStatus
from annotation.jobs.params import (
    EXPAND_MODES,
    MC_MODES,
    REVIEW_FILTERS,
    SEARCH_MODES,
    ContinueParams,
    ExpandParams,
    ImportParams,
    LongThoughtParams,
    ModelSnapshot,
    MonteCarloParams,
    PolicyCriticParams,
    PromptSnapshot,
    ProposalCritiqueParams,
    SampleParams,
    ScoreParams,
    StoredParamsError,
    TreeParams,
    job_params,
    params_class,
)
from annotation.llm.models import PromptPurpose
from annotation.llm.services import model_config_create, sample_job_start
from annotation.problems.models import Origin, Trace
from annotation.training.params import (
    FORMATS_FOR_METHOD,
    PRM_HEADS,
    EvaluationParams,
    ExportInput,
    GRPOParams,
    HeldOutSet,
    ProblemSet,
    TrainingParams,
)
from tests.support.data import make_problems, prompt
from workers.tasks import run_job

# Strategies: valid parameters of every kind ------------------------------------------------

ids = st.lists(st.integers(1, 2**62), min_size=1, max_size=5).map(tuple)
text = st.text(max_size=12)
plain = st.text(alphabet=st.characters(exclude_characters="{}"), max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(text, json_values, max_size=3)
sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1, exclude_min=True),
        "max_tokens": st.integers(1, 4096),
        "seed": st.none() | st.integers(0, 2**31),
        "stop": st.lists(text, max_size=3),
    },
)
snapshots = st.builds(
    ModelSnapshot,
    id=st.integers(1, 2**62),
    name=text,
    label=text,
    kind=st.sampled_from(["vllm", "openai", "transformers"]),
    path_or_endpoint=text,
    dtype=text,
    max_length=st.none() | st.integers(1, 2**20),
    default_sampling=sampling,
    scorer_head=st.sampled_from([None, "math-shepherd", "qwen-prm", "judge"]),
    use_chat_template=st.booleans(),
    options=json_objects,
)
prompts = st.builds(PromptSnapshot, id=st.integers(1, 2**62), label=text, text=text)


def template_with(*names: str) -> st.SearchStrategy[str]:
    """A prompt template using exactly these placeholders, between plain text."""
    parts = [plain, *(st.just(f"{{{{ {name} }}}}") for name in names), plain]
    return st.tuples(*parts).map("".join)


@st.composite
def expand_params(draw: st.DrawFn) -> ExpandParams:
    mode = draw(st.sampled_from(EXPAND_MODES))
    return ExpandParams(
        model=draw(snapshots),
        prompt=draw(prompts),
        mode=mode,
        trace_ids=draw(ids) if mode == "expand" else draw(st.just(()) | ids),
        problem_ids=draw(ids) if mode == "rationalize" else draw(st.just(()) | ids),
        scorer=draw(st.none() | snapshots),
        n=draw(st.integers(1, 64)),
        sampling=draw(sampling),
        chunk_size=draw(st.integers(1, 1000)),
        review=draw(st.sampled_from(REVIEW_FILTERS)),
    )


@st.composite
def long_thought_params(draw: st.DrawFn) -> LongThoughtParams:
    rewriter = draw(st.none() | snapshots)
    k_meaning = draw(st.sampled_from(["trials", "wrong_detours"]))
    rewrite_prompt = st.builds(
        PromptSnapshot,
        id=st.integers(1, 2**62),
        label=text,
        text=template_with("problem", "draft"),
    )
    return LongThoughtParams(
        tree_job=draw(st.integers(1, 2**62)),
        problem_ids=draw(ids),
        k=draw(st.integers(1 if k_meaning == "trials" else 0, 64)),
        k_meaning=k_meaning,
        max_paths=draw(st.none() | st.integers(1, 10_000)),
        seed=draw(st.integers(-(2**31), 2**31)),
        chunk_size=draw(st.integers(1, 1000)),
        rewriter=rewriter,
        rewrite_prompt=draw(rewrite_prompt if rewriter else st.none() | rewrite_prompt),
        sampling=draw(sampling),
    )


def steered_params(cls: type[Any], prompt_set: Any, **more: Any) -> st.SearchStrategy[Any]:
    return st.builds(
        cls,
        problem_ids=ids,
        model=snapshots,
        max_steps=st.integers(1, 256),
        max_backtracks=st.integers(0, 256),
        max_tokens=st.integers(1, 1_000_000),
        prompts=st.just(asdict(prompt_set)),
        sampling=sampling,
        chunk_size=st.integers(1, 1000),
        **more,
    )


@st.composite
def export_options(draw: st.DrawFn) -> ExportOptions:
    grades = draw(st.sampled_from(GRADE_CHOICES))
    options = ExportOptions(
        format=draw(st.sampled_from(sorted(EXPORT_FORMATS))),
        file_format=draw(st.sampled_from(FILE_FORMATS)),
        zero_is=draw(st.sampled_from(["good", "bad"])),
        grades=grades,
        annotator=draw(st.text(min_size=1, max_size=8)) if grades == "annotator" else None,
        run=draw(st.integers(1, 2**62)) if grades == "run" else draw(st.none()),
        score_threshold=draw(finite),
        min_agreement=draw(st.floats(0, 1)),
        origins=draw(st.none() | st.lists(st.sampled_from(Origin.values), max_size=3).map(tuple)),
        after_error=draw(st.sampled_from([None, "drop", "keep"])),
        test_fraction=draw(st.floats(0, 1, exclude_max=True)),
        seed=draw(st.integers()),
        held_out=draw(st.lists(text, max_size=3).map(tuple)),
        dedupe=draw(st.booleans()),
        pairs_per_problem=draw(st.integers(1, 50)),
        jobs=draw(ids | st.just(())),
        tree_round=draw(st.none() | st.integers(1, 2**62)),
        kinds=draw(st.lists(st.sampled_from(TRACE_KINDS), max_size=3).map(tuple)),
        include_unfaithful=draw(st.booleans()),
        review=draw(st.sampled_from(REVIEW_FILTERS)),
        extra=draw(json_objects),
    )
    if options.format in SOFT_LABEL_FORMATS:
        options = replace(options, soft_labels=draw(st.booleans()))
    return options


hyperparameters = st.builds(
    Hyperparameters,
    epochs=st.floats(0, 100, exclude_min=True),
    learning_rate=st.floats(0, 1, exclude_min=True, exclude_max=True),
    batch_size=st.integers(1, 512),
    gradient_accumulation=st.integers(1, 512),
    max_length=st.integers(16, 2**20),
    lora=st.booleans(),
    lora_r=st.integers(1, 512),
    lora_alpha=st.integers(1, 1024),
    seed=st.integers(0, 2**31),
    warmup_steps=st.integers(0, 10**6),
    logging_steps=st.integers(1, 10**6),
    save_steps=st.integers(1, 10**6),
    beta=st.floats(0, 100, exclude_min=True),
    max_steps=st.none() | st.integers(1, 10**9),
)


@st.composite
def training_params(draw: st.DrawFn, method: str) -> TrainingParams:
    export = ExportInput(
        job=draw(st.integers(1, 2**62)),
        format=draw(st.sampled_from(FORMATS_FOR_METHOD[method])),
        file=draw(text),
        sha256=draw(text),
        rows=draw(st.integers(1, 10**9)),
        manifest_sha256=draw(text),
        test_problems=draw(st.integers(0, 10**9)),
    )
    return TrainingParams(
        method=method,  # type: ignore[arg-type]
        name=draw(text),
        base=draw(snapshots),
        export=export,
        hyperparameters=draw(hyperparameters),
        head=draw(st.sampled_from(PRM_HEADS)) if method == "prm" else None,
    )


@st.composite
def grpo_params(draw: st.DrawFn) -> GRPOParams:
    reward = RewardSpec(
        outcome_weight=draw(st.floats(0.001, 100)),
        process_weight=draw(st.just(0.0) | st.floats(0.001, 100)),
        aggregation=draw(st.sampled_from(AGGREGATIONS)),
    )
    from_export = draw(st.booleans())
    prm = draw(snapshots.map(lambda s: replace(s, scorer_head="math-shepherd")))
    return GRPOParams(
        name=draw(text),
        base=draw(snapshots),
        problems=ProblemSet(
            problem_ids=draw(ids),
            source="export" if from_export else "project",
            export=draw(st.integers(1, 2**62)) if from_export else None,
            split=draw(st.sampled_from(["train", "test"])) if from_export else None,
            without_answer=draw(st.integers(0, 1000)),
        ),
        prompt=draw(prompts),
        reward=reward,
        hyperparameters=draw(hyperparameters),
        reward_model=prm if reward.uses_process else None,
    )


evaluation_params = st.builds(
    EvaluationParams,
    models=st.lists(snapshots, min_size=1, max_size=3, unique_by=lambda m: m.id).map(tuple),
    problem_ids=ids,
    prompt=prompts,
    held_out=st.builds(
        HeldOutSet,
        source=st.sampled_from(["project", "export"]),
        export=st.none() | st.integers(1, 2**62),
        excluded_training_problems=st.integers(0, 10**6),
    ),
    k=st.integers(1, 64),
    sampling=sampling,
    chunk_size=st.integers(1, 1000),
)


PARAMS: dict[str, st.SearchStrategy[Any]] = {
    JobKind.IMPORT: st.builds(ImportParams, format=text, skip_invalid=st.booleans(), filename=text),
    JobKind.EXPORT: export_options(),
    JobKind.SAMPLE: st.builds(
        SampleParams,
        problem_ids=ids,
        model=snapshots,
        prompt=prompts,
        n=st.integers(1, 256),
        sampling=sampling,
        chunk_size=st.integers(1, 1000),
    ),
    JobKind.EXPAND: expand_params(),
    JobKind.SCORE: st.builds(
        ScoreParams, trace_ids=ids, scorer=snapshots, chunk_size=st.integers(1, 1000)
    ),
    JobKind.TREE: st.builds(
        TreeParams,
        problem_ids=ids,
        model=snapshots,
        scorer=snapshots,
        prompt=template_with("problem"),
        width=st.integers(1, 64),
        keep=st.integers(1, 64),
        max_depth=st.integers(1, 64),
        mode=st.sampled_from(SEARCH_MODES),
        simulations=st.integers(1, 10_000),
        c_puct=finite,
        sampling=sampling,
        delimiter=st.text(min_size=1, max_size=4),
        chunk_size=st.integers(1, 1000),
    ),
    JobKind.LONG_THOUGHT: long_thought_params(),
    JobKind.MONTE_CARLO: st.builds(
        MonteCarloParams,
        trace_ids=ids,
        model=snapshots,
        prompt=prompts,
        n=st.integers(1, 256),
        mode=st.sampled_from(MC_MODES),
        sampling=sampling,
        chunk_size=st.integers(1, 1000),
    ),
    JobKind.CONTINUE: st.builds(
        ContinueParams,
        trace=st.integers(1, 2**62),
        prefix=st.lists(text, min_size=1, max_size=4).map(tuple),
        model=snapshots,
        sampling=sampling,
    ),
    JobKind.TRAIN_SFT: training_params("sft"),
    JobKind.TRAIN_DPO: training_params("dpo"),
    JobKind.TRAIN_PRM: training_params("prm"),
    JobKind.TRAIN_GRPO: grpo_params(),
    JobKind.EVALUATE: evaluation_params,
    JobKind.PROPOSAL_CRITIQUE: steered_params(ProposalCritiqueParams, proposal_critique.PROMPTS),
    JobKind.POLICY_CRITIC: steered_params(
        PolicyCriticParams,
        policy_critic.PROMPTS,
        critic=st.none() | snapshots,
        critic_sampling=sampling,
    ),
    JobKind.SCORER_COMPARISON: st.builds(AnalysisParams),
    JobKind.BEST_OF_N: st.builds(BestOfNParams, sample_job=st.none() | st.integers(1, 2**62)),
    JobKind.DISAGREEMENT_QUEUE: st.builds(AnalysisParams),
    JobKind.AGREEMENT: st.builds(AnalysisParams),
    JobKind.ROUND_COMPARISON: st.builds(
        RoundComparisonParams,
        round_a=st.none() | st.integers(1, 2**62),
        round_b=st.none() | st.integers(1, 2**62),
        subject=st.text(max_size=20),
        level=st.none() | st.integers(0, 9),
        correct=st.none() | st.booleans(),
        keyword=st.text(max_size=20),
    ),
}


def stored(params: Any) -> Any:
    """What a JSONField gives back after a round trip through the database."""
    return json.loads(json.dumps(params.as_params()))


# Round trip ---------------------------------------------------------------------------------


def test_every_job_kind_has_a_parameters_class_and_a_strategy():
    assert set(PARAMS) == set(list(JobKind))
    assert {kind: params_class(kind) for kind in list(JobKind)} == {
        "import": ImportParams,
        "export": ExportOptions,
        "sample": SampleParams,
        "expand": ExpandParams,
        "score": ScoreParams,
        "tree": TreeParams,
        "long_thought": LongThoughtParams,
        "monte_carlo": MonteCarloParams,
        "continue": ContinueParams,
        "train_sft": TrainingParams,
        "train_dpo": TrainingParams,
        "train_prm": TrainingParams,
        "train_grpo": GRPOParams,
        "evaluate": EvaluationParams,
        "proposal_critique": ProposalCritiqueParams,
        "policy_critic": PolicyCriticParams,
        "scorer_comparison": AnalysisParams,
        "best_of_n": BestOfNParams,
        "disagreement_queue": AnalysisParams,
        "agreement": AnalysisParams,
        "round_comparison": RoundComparisonParams,
    }


@pytest.mark.parametrize("kind", sorted(PARAMS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_parameters_come_back_from_json_unchanged(kind, data):
    # given
    params = data.draw(PARAMS[kind])
    # when
    back = params_class(kind).from_params(stored(params))
    # then
    assert back == params
    assert stored(back) == stored(params)


# Garbled and old parameters -----------------------------------------------------------------

NOT_PARSED = "the stored parameters of this job no longer parse: field "


@st.composite
def garbled(draw: st.DrawFn, kind: str) -> Any:
    """A valid stored dict of `kind` with one thing changed: a key dropped, a value replaced
    (at the top or inside the model snapshot) or a key added; or no dict at all."""
    params = stored(draw(PARAMS[kind]))
    # parameters with no field (a whole-project analysis) can only gain a key or be replaced
    ways = ["drop", "replace", "add", "nested", "whole"] if params else ["add", "whole"]
    how = draw(st.sampled_from(ways))
    if how == "whole":
        return draw(json_values.filter(lambda v: not isinstance(v, dict)))
    target = params
    if how == "nested" and isinstance(params.get("model"), dict):
        target = params["model"]
    if how == "add":
        target[draw(text.filter(lambda k: k not in target))] = draw(json_values)
        return params
    key = draw(st.sampled_from(sorted(target)))
    if how == "drop":
        del target[key]
    else:
        target[key] = draw(json_values)
    return params


@pytest.mark.parametrize("kind", sorted(PARAMS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_garbled_parameters_parse_or_fail_naming_a_field(kind, data):
    # given a job row whose stored parameters were changed
    job = Job(kind=kind, params=data.draw(garbled(kind)))
    # when / then: they still parse (a dropped default, a value of the right type), or the
    # error names the field; no other exception escapes
    try:
        params = job_params(job)
    except StoredParamsError as error:
        assert str(error).startswith(NOT_PARSED), str(error)
    else:
        assert isinstance(params, params_class(kind))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # stored before snapshots carried the model config's id
        (lambda p: p["model"].pop("id"), "field model.id: missing"),
        (lambda p: p.pop("problem_ids"), "field problem_ids: missing"),
        (lambda p: p.update(n="4"), "field n: expected a whole number, got text '4'"),
        (
            lambda p: p.update(problem_ids=[1, None]),
            "field problem_ids[1]: expected a whole number, got null",
        ),
        (
            lambda p: p["model"].update(kind="tgi"),
            "field model.kind: expected one of 'vllm', 'openai', 'transformers', got 'tgi'",
        ),
        (
            lambda p: p.update(sampling={"top_p": 2}),
            "field sampling: top_p must be in (0, 1], got 2",
        ),
        (lambda p: p.update(beam=3), "field beam: unknown field"),
        (
            lambda p: p.update(chunk_size=0),
            "field chunk_size: chunk_size must be between 1 and 1000, got 0",
        ),
    ],
    ids=[
        "old-snapshot",
        "missing",
        "wrong-type",
        "null-id",
        "unknown-backend",
        "bad-sampling",
        "unknown-key",
        "out-of-range",
    ],
)
def test_a_stored_job_whose_parameters_no_longer_parse_fails_through_the_task(
    project, change, message
):
    # given a sample job whose stored parameters were changed after it was queued
    problems = make_problems(project, 2)
    model = model_config_create(
        project=project, name="gen", kind="transformers", path_or_endpoint="/nowhere"
    )
    job = sample_job_start(
        project=project,
        user=None,
        model=model,
        prompt=prompt(project, PromptPurpose.SAMPLE),
        problem_ids=[p.pk for p in problems],
    )
    params = job.params
    change(params)
    Job.objects.filter(pk=job.pk).update(params=params)
    # when the job task runs it
    run_job(job.pk)
    # then
    job.refresh_from_db()
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        f"the stored parameters of this job no longer parse: {message}",
    )
    assert (job.attempts, Trace.objects.filter(job=job).count()) == (1, 0)


def stored_steering(**prompts: str) -> dict[str, Any]:
    params = ProposalCritiqueParams(problem_ids=(1,), model=stored_model())
    return {**stored(params), "prompts": {**params.prompts, **prompts}}


def stored_model() -> ModelSnapshot:
    return ModelSnapshot(id=1, name="m", label="m", kind="vllm", path_or_endpoint="/m")


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        (
            {"label": "proposal-critique v0"},
            "field prompts: unknown version 'proposal-critique v0'; use proposal-critique v1",
        ),
        (
            {"policy": "{{ problem }} {{ answer }}"},
            "field prompts.policy: unknown placeholder {{ answer }}",
        ),
        (
            {"critic": "Judge."},
            "field prompts: proposal-critique v1 has the texts label, negative_signal, "
            "no_answer_signal, policy, unreadable",
        ),
    ],
    ids=["unknown-version", "unknown-placeholder", "other-texts"],
)
def test_a_steered_jobs_stored_prompts_are_a_known_versions_texts(prompts, message):
    # given a proposal-critique job whose stored prompt texts were changed
    job = Job(kind=JobKind.PROPOSAL_CRITIQUE, params=stored_steering(**prompts))
    # when / then
    with pytest.raises(StoredParamsError) as error:
        job_params(job)
    assert str(error.value) == f"the stored parameters of this job no longer parse: {message}"
