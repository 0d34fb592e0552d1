"""Typed job parameters: one frozen dataclass per job kind, kept in Job.params as JSON.

A start service builds the object (its ``__post_init__`` checks values and names the field
it refuses), `job_create` checks that everything it names belongs to the job's project
(annotation/jobs/boundary.py) and stores `as_params()`. The task reads it back with
`job_params(job)`; a stored job whose parameters no longer parse fails with "the stored
parameters of this job no longer parse: field X: ...", never a KeyError in a worker.

A field that names rows of the database says which in its metadata (`owns(PROBLEM)`, ...):
the boundary check reads these declarations. No Django model and no heavy library is imported
here, so both the web process and the workers read these classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar

from django.conf import settings
from django.utils.module_loading import import_string

from algorithms import policy_critic, proposal_critique
from algorithms.choices import BackendKind, ScorerHead
from algorithms.prompts import PromptTemplateError, template_variables
from algorithms.sampling import SamplingParams
from algorithms.steering import Limits
from annotation.core.params_fields import ID_OF, described
from annotation.jobs.kinds import kind_of
from annotation.jobs.typed_json import ParamsError, from_json, to_json

if TYPE_CHECKING:
    from annotation.jobs.models import Job
    from annotation.llm.models import ModelConfig, PromptVersion

# What a field names, as declared in its metadata: rows that must belong to the job's project.
OWNER = ID_OF
PROBLEM, TRACE, MODEL_CONFIG, PROMPT_VERSION, JOB = "problem", "trace", "model", "prompt", "job"

MAX_ITEMS_PER_JOB = 100_000
# Which people's work a job or an export reads, by its review (annotation/workspace/
# review_filter.py): only accepted work, anything not rejected (the default), or all of it.
ReviewFilter = Literal["accepted", "not_rejected", "all"]
REVIEW_FILTERS: tuple[str, ...] = ("accepted", "not_rejected", "all")
SAMPLING_KEYS = frozenset({"temperature", "top_p", "max_tokens", "seed", "stop"})


def owns(kind: str) -> dict[str, str]:
    """Field metadata: the field names rows of `kind` (ids, or a snapshot with an id)."""
    return {OWNER: kind}


S = TypeVar("S")


class JobParams(Protocol):
    def as_params(self) -> dict[str, Any]: ...

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self: ...


class Params:
    """Base of the parameter classes: JSON out and in through annotation.jobs.typed_json."""

    def as_params(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        return data

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        return from_json(cls, params)

    # The job row's columns its parameters decide (job_create writes them; job_columns).

    def total(self) -> int | None:
        """How many items the job goes through: the problems and traces it names (None when
        it names none; its runner may set the total once it knows, annotation/jobs/shards.py)."""
        counts = [
            len(value)
            for f in fields(self)  # type: ignore[arg-type]
            if f.metadata.get(OWNER) in (PROBLEM, TRACE)
            and isinstance(value := getattr(self, f.name), tuple)
        ]
        return sum(counts) if counts else None

    def model_version(self) -> str:
        """The labels of the models it runs, in the order its fields name them."""
        return " + ".join(s.label for s in self._snapshots(ModelSnapshot))

    def prompt_version(self) -> str:
        """The labels of the prompt versions it runs."""
        return " + ".join(s.label for s in self._snapshots(PromptSnapshot))

    def _snapshots(self, cls: type[S]) -> list[S]:
        values = (getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]
        return [value for value in values if isinstance(value, cls)]


# Checks ----------------------------------------------------------------------------------------


def check_between(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParamsError(name, f"{name} must be between {low} and {high}, got {value}")


def check_items(name: str, ids: Sequence[int]) -> None:
    if not ids:
        raise ParamsError(name, f"no {name.replace('_ids', 's')} match the filter; widen it")
    if len(ids) > MAX_ITEMS_PER_JOB:
        raise ParamsError(
            name, f"{len(ids)} items is more than {MAX_ITEMS_PER_JOB} per job; narrow the filter"
        )


def check_sampling(sampling: dict[str, Any], name: str = "sampling") -> None:
    """Keys and values SamplingParams takes, except n (each job says its own n)."""
    if not isinstance(sampling, dict):
        raise ParamsError(name, "expected an object of sampling parameters")
    unknown = set(sampling) - SAMPLING_KEYS
    if unknown:
        known = ", ".join(sorted(SAMPLING_KEYS))
        raise ParamsError(name, f"unknown keys {', '.join(sorted(unknown))}; use {known}")
    try:
        from_json(SamplingParams, sampling)
    except ParamsError as error:
        raise ParamsError(name, error.detail) from None
    check_sampling_bounds(sampling, name)


# Stop strings a request may give: a few, short (each is matched against every new token).
MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 200


def check_sampling_bounds(sampling: Mapping[str, Any], name: str = "sampling") -> None:
    """Within the operator's cap (STEPWISE_MAX_NEW_TOKENS): a max_tokens of 1e9 would hold a
    worker for as long as the model keeps writing."""
    cap = settings.STEPWISE_MAX_NEW_TOKENS
    max_tokens = sampling.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens > cap:
        raise ParamsError(
            f"{name}.max_tokens",
            f"{max_tokens:,} is more than the operator's cap of {cap:,} new tokens "
            "(STEPWISE_MAX_NEW_TOKENS)",
        )
    stop = sampling.get("stop") or []
    if len(stop) > MAX_STOP_STRINGS:
        raise ParamsError(f"{name}.stop", f"at most {MAX_STOP_STRINGS} stop strings")
    if any(isinstance(text, str) and len(text) > MAX_STOP_CHARS for text in stop):
        raise ParamsError(f"{name}.stop", f"a stop string is at most {MAX_STOP_CHARS} characters")


def check_within_context(
    sampling: Mapping[str, Any], context: int | None, model_name: str, name: str = "sampling"
) -> None:
    """max_tokens within the model's context (its config's max_length, when given)."""
    max_tokens = sampling.get("max_tokens")
    if context and isinstance(max_tokens, int) and max_tokens > context:
        raise ParamsError(
            f"{name}.max_tokens",
            f"{max_tokens:,} is more than the context of {model_name} ({context:,} tokens, "
            "its max_length)",
        )


def check_template(name: str, text: str, *, required: str, allowed: set[str]) -> None:
    try:
        used = template_variables(text)
    except PromptTemplateError as error:
        raise ParamsError(name, str(error)) from None
    if unknown := used - allowed:
        raise ParamsError(name, f"unknown placeholder {{{{ {sorted(unknown)[0]} }}}}")
    if required not in used:
        raise ParamsError(name, f"the prompt must contain {{{{ {required} }}}}")


def check_mode(mode: str, modes: Sequence[str], joined: str) -> None:
    if mode not in modes:
        raise ParamsError("mode", f"unknown mode {mode!r}; use {joined}")


# Snapshots -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSnapshot(Params):
    """A model config as a job started with it (ModelConfig.snapshot() plus the config's id).

    workers.runners.common.model_spec turns it into the backends' ModelSpec."""

    id: int
    name: str
    label: str
    kind: BackendKind
    path_or_endpoint: str
    dtype: str = "auto"
    max_length: int | None = None
    default_sampling: dict[str, Any] = field(default_factory=dict)
    scorer_head: ScorerHead | None = None
    use_chat_template: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False  # set on the config by an admin only

    def __post_init__(self) -> None:
        check_sampling(self.default_sampling, "default_sampling")

    @classmethod
    def of(cls, config: ModelConfig) -> ModelSnapshot:
        return cls.from_params({**config.snapshot(), "id": config.pk})

    @property
    def is_judge(self) -> bool:
        return self.scorer_head == "judge"


@dataclass(frozen=True)
class PromptSnapshot(Params):
    """A prompt version's text as a job started with it."""

    id: int
    label: str
    text: str

    @classmethod
    def of(cls, version: PromptVersion) -> PromptSnapshot:
        return cls(id=version.pk, label=version.label, text=version.text)


# One class per job kind --------------------------------------------------------------------


class Generation:
    """Sampling overrides of a job (SamplingParams without n: each job says its own n)."""

    sampling: dict[str, Any]

    def sampling_params(self, n: int) -> SamplingParams:
        return SamplingParams(n=n, **self.sampling)


@dataclass(frozen=True)
class SampleParams(Params, Generation):
    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    prompt: PromptSnapshot = field(metadata=owns(PROMPT_VERSION))
    n: int = 4
    sampling: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 8
    preset: str = ""  # the recipe it started from (annotation.llm.services.SAMPLING_PRESETS)

    def __post_init__(self) -> None:
        check_items("problem_ids", self.problem_ids)
        check_between("n", self.n, 1, 256)
        check_sampling(self.sampling)
        check_between("chunk_size", self.chunk_size, 1, 1000)


EXPAND_MODES = ("expand", "rationalize")


@dataclass(frozen=True)
class ExpandParams(Params, Generation):
    """mode expand reads traces (trace_ids); mode rationalize reads problems (problem_ids)."""

    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    prompt: PromptSnapshot = field(metadata=owns(PROMPT_VERSION))
    mode: str = "expand"
    trace_ids: tuple[int, ...] = field(default=(), metadata=owns(TRACE))
    problem_ids: tuple[int, ...] = field(default=(), metadata=owns(PROBLEM))
    scorer: ModelSnapshot | None = field(default=None, metadata=owns(MODEL_CONFIG))
    n: int = 1
    sampling: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 4
    review: ReviewFilter = "not_rejected"  # which thought records may be expanded

    def __post_init__(self) -> None:
        check_mode(self.mode, EXPAND_MODES, "expand or rationalize")
        if self.review not in REVIEW_FILTERS:
            raise ParamsError("review", f"use one of {', '.join(REVIEW_FILTERS)}")
        if self.mode == "expand":
            check_items("trace_ids", self.trace_ids)
        else:
            check_items("problem_ids", self.problem_ids)
        check_between("n", self.n, 1, 64)
        check_sampling(self.sampling)
        check_between("chunk_size", self.chunk_size, 1, 1000)

    @property
    def items(self) -> tuple[int, ...]:
        return self.trace_ids if self.mode == "expand" else self.problem_ids

    def total(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class ScoreParams(Params):
    trace_ids: tuple[int, ...] = field(metadata=owns(TRACE))
    scorer: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    chunk_size: int = 16

    def __post_init__(self) -> None:
        check_items("trace_ids", self.trace_ids)
        check_between("chunk_size", self.chunk_size, 1, 1000)


SEARCH_MODES = ("beam", "judge", "mcts")
MAX_TREE_NODES = 1_000_000  # width ** depth guard: keep * width * depth new nodes per problem


@dataclass(frozen=True)
class TreeParams(Params, Generation):
    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    scorer: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    prompt: str = field(
        default="{{ problem }}",
        metadata=described("The policy's prompt; it contains {{ problem }}.", strip=False),
    )
    width: int = field(default=4, metadata=described("Candidate next steps per frontier node."))
    keep: int = field(default=4, metadata=described("Nodes kept per depth."))
    max_depth: int = 6
    mode: str = field(default="beam", metadata=described(choices=SEARCH_MODES))
    simulations: int = field(default=16, metadata=described("MCTS simulations per problem."))
    c_puct: float = field(default=1.0, metadata=described("MCTS exploration constant."))
    # A judge's own "incorrect" needs no threshold.
    wrong_below: float = field(
        default=0.5,
        metadata=described(
            "A PRM score under this is a wrong verdict a long thought may reflect on."
        ),
    )
    sampling: dict[str, Any] = field(default_factory=dict)
    delimiter: str = field(
        default="\n\n", metadata=described("Step delimiter.", max_length=100, strip=False)
    )
    chunk_size: int = field(default=8, metadata=described("Problems per shard."))

    def __post_init__(self) -> None:
        check_items("problem_ids", self.problem_ids)
        check_mode(self.mode, SEARCH_MODES, ", ".join(SEARCH_MODES))
        if not self.delimiter:
            raise ParamsError("delimiter", "the step delimiter must not be empty")
        check_template("prompt", self.prompt, required="problem", allowed={"problem"})
        check_between("width", self.width, 1, 64)
        check_between("keep", self.keep, 1, 64)
        check_between("max_depth", self.max_depth, 1, 64)
        check_between("simulations", self.simulations, 1, 10_000)
        check_between("wrong_below", self.wrong_below, 0.0, 1.0)
        check_sampling(self.sampling)
        check_between("chunk_size", self.chunk_size, 1, 1000)
        if self.mode != "mcts" and self.keep * self.width * self.max_depth > MAX_TREE_NODES:
            raise ParamsError("width", "keep * width * max_depth is too large; lower one")


K_MEANINGS: tuple[str, ...] = ("trials", "wrong_detours")


@dataclass(frozen=True)
class LongThoughtParams(Params, Generation):
    """One long thought per correct path of each tree (at most ``max_paths`` per problem; None:
    all). ``k`` is the report's K: trials at each node of the correct path, the correct move
    counted (``k_meaning`` "trials"), or wrong detours before it ("wrong_detours"). With a
    rewriter, each draft is also rewritten by that model under the versioned rewrite_prompt."""

    tree_job: int = field(metadata=owns(JOB))
    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    k: int = 2
    k_meaning: Literal["trials", "wrong_detours"] = "trials"
    max_paths: int | None = None
    seed: int = 0
    chunk_size: int = 16
    rewriter: ModelSnapshot | None = field(default=None, metadata=owns(MODEL_CONFIG))
    rewrite_prompt: PromptSnapshot | None = field(default=None, metadata=owns(PROMPT_VERSION))
    sampling: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_items("problem_ids", self.problem_ids)
        if self.k_meaning not in K_MEANINGS:
            raise ParamsError(
                "k_meaning", f"unknown meaning of K {self.k_meaning!r}; use trials or wrong_detours"
            )
        check_between("k", self.k, 1 if self.k_meaning == "trials" else 0, 64)
        if self.max_paths is not None:
            check_between("max_paths", self.max_paths, 1, 10_000)
        check_between("chunk_size", self.chunk_size, 1, 1000)
        check_sampling(self.sampling)
        if self.rewriter is not None:
            if self.rewrite_prompt is None:
                raise ParamsError("rewrite_prompt", "a rewriter needs a rewrite prompt")
            check_template(
                "rewrite_prompt",
                self.rewrite_prompt.text,
                required="draft",
                allowed={"problem", "draft"},
            )


MC_MODES = ("all", "binary_search")
MAX_ROLLOUTS = 256


@dataclass(frozen=True)
class MonteCarloParams(Params, Generation):
    trace_ids: tuple[int, ...] = field(metadata=owns(TRACE))
    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    prompt: PromptSnapshot = field(metadata=owns(PROMPT_VERSION))
    n: int = 8
    mode: str = "all"
    sampling: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 4

    def __post_init__(self) -> None:
        check_items("trace_ids", self.trace_ids)
        check_mode(self.mode, MC_MODES, " or ".join(MC_MODES))
        check_between("n", self.n, 1, MAX_ROLLOUTS)
        check_sampling(self.sampling)
        check_between("chunk_size", self.chunk_size, 1, 1000)


class Steering:
    """What both loops in which the model steers its own long thought take (O1-Journey attempts
    2 and 3): limits per problem, and the versioned texts of the algorithm's ``PromptSet`` the
    job started with (``label`` is the version of the vocabulary, the prompts and the parser),
    so a resumed job goes on with the same prompts whatever the code's defaults became."""

    max_steps: int
    max_backtracks: int
    max_tokens: int
    prompts: dict[str, str]

    def limits(self) -> Limits:
        return Limits(
            max_steps=self.max_steps,
            max_backtracks=self.max_backtracks,
            max_tokens=self.max_tokens,
        )

    def check_steering(self, versions: Mapping[str, Any]) -> None:
        check_between("max_steps", self.max_steps, 1, 256)
        check_between("max_backtracks", self.max_backtracks, 0, 256)
        check_between("max_tokens", self.max_tokens, 1, 1_000_000)
        check_prompt_set(self.prompts, versions)


def check_prompt_set(prompts: dict[str, str], versions: Mapping[str, Any]) -> None:
    """The texts of a known version: the same names, each using only the placeholders the
    version's own text uses."""
    label = prompts.get("label", "")
    if label not in versions:
        known = ", ".join(sorted(versions))
        raise ParamsError("prompts", f"unknown version {label!r}; use {known}")
    default = asdict(versions[label])
    if set(prompts) != set(default):
        names = ", ".join(sorted(default))
        raise ParamsError("prompts", f"{label} has the texts {names}")
    for name, text in prompts.items():
        if name != "label":
            try:
                used = template_variables(text)
            except PromptTemplateError as error:
                raise ParamsError(f"prompts.{name}", str(error)) from None
            if unknown := used - template_variables(default[name]):
                placeholder = sorted(unknown)[0]
                raise ParamsError(f"prompts.{name}", f"unknown placeholder {{{{ {placeholder} }}}}")


T = TypeVar("T")


def prompt_set_of(cls: type[T], prompts: dict[str, str]) -> T:
    """The algorithm's PromptSet from a job's stored texts."""
    return cls(**{f.name: prompts[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProposalCritiqueParams(Params, Generation, Steering):
    """One proposal-critique loop per problem (algorithms.proposal_critique)."""

    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    max_steps: int = 16
    max_backtracks: int = 4
    max_tokens: int = 8192
    prompts: dict[str, str] = field(default_factory=lambda: asdict(proposal_critique.PROMPTS))
    sampling: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 8
    # Attempts after one that used max_steps without an answer (told so, from the problem).
    retries: int = 1

    def __post_init__(self) -> None:
        check_items("problem_ids", self.problem_ids)
        self.check_steering(proposal_critique.PROMPT_SETS)
        check_between("retries", self.retries, 0, 16)
        check_sampling(self.sampling)
        check_between("chunk_size", self.chunk_size, 1, 1000)

    def prompt_set(self) -> proposal_critique.PromptSet:
        return prompt_set_of(proposal_critique.PromptSet, self.prompts)

    def prompt_version(self) -> str:
        return self.prompts["label"]

    def limits(self) -> Limits:
        return replace(super().limits(), retries=self.retries)


@dataclass(frozen=True)
class PolicyCriticParams(Params, Generation, Steering):
    """One policy-critic dialogue per problem (algorithms.policy_critic). Without a critic
    model the policy's model is the critic too, under the critic prompt."""

    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    critic: ModelSnapshot | None = field(default=None, metadata=owns(MODEL_CONFIG))
    max_steps: int = 16
    max_backtracks: int = 4
    max_tokens: int = 8192
    prompts: dict[str, str] = field(default_factory=lambda: asdict(policy_critic.PROMPTS))
    sampling: dict[str, Any] = field(default_factory=dict)
    critic_sampling: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 8

    def __post_init__(self) -> None:
        check_items("problem_ids", self.problem_ids)
        self.check_steering(policy_critic.PROMPT_SETS)
        check_sampling(self.sampling)
        check_sampling(self.critic_sampling, "critic_sampling")
        check_between("chunk_size", self.chunk_size, 1, 1000)

    def prompt_set(self) -> policy_critic.PromptSet:
        return prompt_set_of(policy_critic.PromptSet, self.prompts)

    def prompt_version(self) -> str:
        return self.prompts["label"]

    @property
    def critic_model(self) -> ModelSnapshot:
        return self.critic if self.critic is not None else self.model

    def critic_sampling_params(self) -> SamplingParams:
        return SamplingParams(n=1, **self.critic_sampling)


@dataclass(frozen=True)
class ContinueParams(Params, Generation):
    """Continue an annotator's own path (a trace of origin labeled) from its last step; the
    continuation is shown only while the path still starts with `prefix` (node ids)."""

    trace: int = field(metadata=owns(TRACE))
    prefix: tuple[str, ...]
    model: ModelSnapshot = field(metadata=owns(MODEL_CONFIG))
    sampling: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.prefix:
            raise ParamsError("prefix", "a continuation starts from at least one step")
        check_sampling(self.sampling)

    def total(self) -> int:
        return 1  # the one continuation


@dataclass(frozen=True)
class ImportParams(Params):
    """The file itself is the job's input_file; it names no rows."""

    format: str
    skip_invalid: bool = False
    filename: str = ""


# Each kind's class, named in its row of the kinds table ---------------------------------------


def params_class(kind: str) -> type[JobParams]:
    """The parameters class of a kind (annotation/jobs/kinds.py names it by dotted path:
    exports and training jobs keep theirs in their own apps, above this one)."""
    cls: type[JobParams] = import_string(kind_of(kind).params)
    return cls


def job_columns(params: JobParams) -> dict[str, Any]:
    """The job row's total, model_version and prompt_version, as its parameters say (an
    export's options, not a Params, decide none of them)."""
    if not isinstance(params, Params):
        return {}
    return {
        "total": params.total(),
        "model_version": params.model_version(),
        "prompt_version": params.prompt_version(),
    }


class StoredParamsError(ValueError):
    """A job row's parameters that no longer parse; the job fails with this message."""


P = TypeVar("P", bound=JobParams)


def job_params(job: Job, expected: type[P] | None = None) -> P:
    """The job's stored parameters as its kind's class; StoredParamsError if they do not parse."""
    cls = params_class(job.kind)
    if expected is not None and cls is not expected:
        raise StoredParamsError(f"a {job.kind} job has no {expected.__name__}")
    try:
        params = cls.from_params(job.params)
    except ParamsError as error:  # an export's ExportOptionError is one too
        raise StoredParamsError(
            f"the stored parameters of this job no longer parse: field {error.field}: "
            f"{error.reason}"
        ) from None
    return params  # type: ignore[return-value]
