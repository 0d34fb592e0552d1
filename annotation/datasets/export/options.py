"""Export options: every choice that changes the rows, all recorded in the manifest.

The formats (formats.py) and what they read (selection.py) take the options as a type only,
so that the options may check themselves against the formats' table."""

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from annotation.core import strict_json
from annotation.datasets.export.errors import ExportOptionError
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.jobs.params import JOB, REVIEW_FILTERS, ReviewFilter, owns
from annotation.jobs.typed_json import ParamsError, from_json
from annotation.problems.models import Origin

GradeChoice = Literal["trace", "annotator", "majority", "reviewed", "run", "monte_carlo"]
GRADE_CHOICES: tuple[str, ...] = (
    "trace",
    "annotator",
    "majority",
    "reviewed",
    "run",
    "monte_carlo",
)
FILE_FORMATS: tuple[str, ...] = ("jsonl", "jsonl.gz", "parquet")
# What a trace is beyond its origin (selection.KIND_FILTERS): the parts of a long-thought job,
# the two modes of an expansion job, and the long thoughts of the loops a model steers itself
# (a proposal-critique or policy-critic job's; their shortcuts are kind shortcut).
TRACE_KINDS: tuple[str, ...] = (
    "shortcut",
    "draft",
    "rewrite",
    "expansion",
    "rationalization",
    "proposal_critique",
    "policy_critic",
)
SCHEMA_VERSION = 1
SOFT_LABEL_FORMATS: tuple[str, ...] = ("trl-stepwise", "math-shepherd")


@dataclass(frozen=True)
class ExportOptions:
    format: str
    file_format: str = "jsonl"
    # How a 0 ("okay") rating becomes binary: OpenR and Qwen count it good, TRL's script bad.
    zero_is: Literal["good", "bad"] = "good"
    # Which grades label the steps (see selection.py for each choice).
    grades: GradeChoice = "trace"
    annotator: str | None = None  # username, for grades="annotator"
    # job id of a PRM / judge / Monte-Carlo run of the project, for grades="run"
    run: int | None = field(default=None, metadata=owns(JOB))
    score_threshold: float = 0.5  # a machine score at or above it counts as a good step
    min_agreement: float = 0.0  # share of votes that must agree with a combined grade
    origins: tuple[str, ...] | None = None  # None: the format's default origins
    after_error: Literal["drop", "keep"] | None = None  # None: the format's default
    test_fraction: float = 0.0  # share of problems in the test split
    seed: int = 0
    held_out: tuple[str, ...] = ()  # problem external ids or texts never written to train
    dedupe: bool = False  # drop a row whose content equals an earlier row of its problem
    pairs_per_problem: int = 5  # dpo: pairs of distinct correct and incorrect responses
    # Scope: only traces written by these jobs (none: every job and none) ...
    jobs: tuple[int, ...] = field(default=(), metadata=owns(JOB))
    # ... derived from this tree job (a round): its shortcuts, drafts and rewrites ...
    tree_round: int | None = field(default=None, metadata=owns(JOB))
    # ... of these kinds (TRACE_KINDS; none: every kind).
    kinds: tuple[str, ...] = ()
    # sft-journey: also rewrites that failed their fidelity check (left out by default)
    include_unfaithful: bool = False
    # sft-journey: also long thoughts with no trial (the shortcut again) ...
    include_no_trial: bool = False
    # ... and loops that ended without a verified correct answer (left out by default)
    include_unverified: bool = False
    # sft-shortcut, sft-paired: one correct solution (one pair) per problem
    one_per_problem: bool = False
    # dpo: leave unanswered samples out instead of using them as rejected responses
    exclude_unanswered: bool = False
    # trl-stepwise, math-shepherd: each step's score as a float label (Monte-Carlo: the share of
    # rollouts that reached the answer; a rating: +1 -> 1.0, 0 -> 0.5, -1 -> 0.0)
    soft_labels: bool = False
    # People's work by its review: accepted only, not rejected, or all (see
    # annotation/workspace/review_filter.py)
    review: ReviewFilter = "not_rejected"
    # prm800k: also write native traces nobody rated (labeler and ratings null)
    keep_unlabeled: bool = False
    # Stepwise formats: only the chosen path, no row per rated alternative (the path before
    # it, then it), which is what they write by default, as the public conversions do.
    chosen_path_only: bool = False
    # Labels that may not teach a model are left out unless kept: those of gold items
    # (quality control, screening) and of people who failed screening. Rejected work is
    # kept with review="all".
    keep_gold_items: bool = False
    keep_failed_screening: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # reserved for format-specific options

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ExportOptionError(
                f"format: unknown format {self.format!r}; "
                f"choose one of {', '.join(sorted(EXPORT_FORMATS))}"
            )
        if self.file_format not in FILE_FORMATS:
            raise ExportOptionError(
                f"file_format: {self.file_format!r} is not one of {', '.join(FILE_FORMATS)}"
            )
        if self.zero_is not in ("good", "bad"):
            raise ExportOptionError(f"zero_is: expected 'good' or 'bad', got {self.zero_is!r}")
        if self.grades not in GRADE_CHOICES:
            raise ExportOptionError(
                f"grades: {self.grades!r} is not one of {', '.join(GRADE_CHOICES)}"
            )
        if self.grades == "annotator" and not self.annotator:
            raise ExportOptionError("annotator: give the username whose grades to export")
        if self.grades == "run" and self.run is None:
            raise ExportOptionError("run: give the id of the job whose grades to export")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ExportOptionError(f"min_agreement: {self.min_agreement} is not in [0, 1]")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ExportOptionError(f"test_fraction: {self.test_fraction} is not in [0, 1)")
        if self.after_error not in (None, "drop", "keep"):
            raise ExportOptionError(
                f"after_error: expected 'drop' or 'keep', got {self.after_error!r}"
            )
        if self.review not in REVIEW_FILTERS:
            raise ExportOptionError(
                f"review: {self.review!r} is not one of {', '.join(REVIEW_FILTERS)}"
            )
        if self.pairs_per_problem < 1:
            raise ExportOptionError(
                f"pairs_per_problem: {self.pairs_per_problem} must be at least 1"
            )
        if self.soft_labels and self.format not in SOFT_LABEL_FORMATS:
            raise ExportOptionError(
                f"soft_labels: {self.format} has no soft labels; "
                f"use {' or '.join(SOFT_LABEL_FORMATS)}"
            )
        if unknown_kinds := sorted(set(self.kinds) - set(TRACE_KINDS)):
            raise ExportOptionError(
                f"kinds: unknown {', '.join(unknown_kinds)}; choose from {', '.join(TRACE_KINDS)}"
            )
        unknown = set(self.origins or ()) - set(Origin.values)
        if unknown:
            raise ExportOptionError(
                f"origins: unknown {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(Origin.values)}"
            )

    @property
    def resolved_origins(self) -> tuple[str, ...] | None:
        return self.origins if self.origins is not None else EXPORT_FORMATS[self.format].origins

    @property
    def resolved_after_error(self) -> str:
        return self.after_error or EXPORT_FORMATS[self.format].after_error

    def as_dict(self) -> dict[str, Any]:
        """Every option with defaults resolved, as the manifest records them."""
        data = asdict(self)
        data["origins"] = list(self.resolved_origins) if self.resolved_origins else None
        data["after_error"] = self.resolved_after_error
        data["held_out"] = len(self.held_out)  # the list itself can be long; its size and
        data["held_out_sha256"] = _digest_of(self.held_out)  # digest identify it
        data["jobs"], data["kinds"] = list(self.jobs), list(self.kinds)
        return data

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "ExportOptions":
        """Options from a job's params (JSON): an unknown key, a missing one or a value of the
        wrong type is an error naming it."""
        try:
            return from_json(cls, params)
        except ParamsError as error:  # __post_init__'s own errors name their option already
            raise ExportOptionError(error.detail) from None

    def as_params(self) -> dict[str, Any]:
        data = asdict(self)
        data["origins"] = list(self.origins) if self.origins is not None else None
        data["held_out"] = list(self.held_out)
        data["jobs"] = list(self.jobs)
        data["kinds"] = list(self.kinds)
        return data


def _digest_of(items: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def held_out_from_text(text: str) -> tuple[str, ...]:
    """Held-out entries from a file: one per line, a problem id or text, or a JSON object with
    `unique_id` / `id` and `problem` / `question` (a MATH-500 line gives both)."""
    entries: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("{"):
            entries.append(line)
            continue
        try:
            obj = strict_json.decode(line.encode("utf-8", "surrogatepass"))
        except strict_json.JSONInputError as error:
            raise ExportOptionError(f"held_out: line {number}: {error}") from None
        found = [
            obj[key]
            for key in ("unique_id", "id", "problem", "question")
            if isinstance(obj.get(key), str)
        ]
        if not found:
            raise ExportOptionError(
                f"held_out: line {number} has none of unique_id, id, problem, question"
            )
        entries.extend(found)
    return tuple(entries)
