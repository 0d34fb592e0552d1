"""Export options: every choice that changes the rows, all recorded in the manifest.

The formats (formats.py) and what they read (selection.py) take the options as a type only,
so that the options may check themselves against the formats' table."""

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from annotation.core import strict_json
from annotation.core.columns import USERNAME_MAX_CHARS
from annotation.core.params_fields import described
from annotation.datasets.export.errors import ExportOptionError
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.jobs.params import JOB, REVIEW_FILTERS, ReviewFilter, owns
from annotation.jobs.typed_json import ParamsError, from_json
from annotation.problems.models import Origin

# The grades option: which grades label the steps (not grading.step_grades.GradeChoice, the
# query that reads the grades an option chooses).
GradesOption = Literal["trace", "annotator", "majority", "reviewed", "run", "monte_carlo"]
GRADE_CHOICES: tuple[str, ...] = get_args(GradesOption)
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
SOFT_LABEL_FORMATS: tuple[str, ...] = tuple(
    name for name, spec in EXPORT_FORMATS.items() if spec.soft_labels
)


@dataclass(frozen=True)
class ExportOptions:
    """The options of one export: the export API's body, the export page's form and the
    command's flags are built from these fields (annotation/core/params_fields.py), and their
    checks answer each of them under the option's name."""

    format: str = field(metadata=described(choices=sorted(EXPORT_FORMATS)))
    file_format: str = field(default="jsonl", metadata=described(choices=FILE_FORMATS))
    # How a 0 ("okay") rating becomes binary: OpenR and Qwen count it good, TRL's script bad.
    zero_is: Literal["good", "bad"] = field(
        default="good", metadata=described("How a 0 (okay) rating becomes a binary label.")
    )
    # Which grades label the steps (see selection.py for each choice).
    grades: GradesOption = "trace"
    annotator: str | None = field(
        default=None,
        metadata=described("Username, for grades = annotator.", max_length=USERNAME_MAX_CHARS),
    )
    # job id of a PRM / judge / Monte-Carlo run of the project, for grades="run"
    run: int | None = field(
        default=None, metadata={**described("Job id, for grades = run."), **owns(JOB)}
    )
    # a machine score at or above it counts as a good step
    score_threshold: float = field(
        default=0.5, metadata=described("A machine score at or above it is a good step.")
    )
    min_agreement: float = field(
        default=0.0,
        metadata=described("The share of votes that must agree with a combined grade (0-1)."),
    )
    origins: tuple[str, ...] | None = field(
        default=None,
        metadata=described(
            "Only traces of these origins; none: the format's default origins.",
            choices=Origin.values,
        ),
    )
    after_error: Literal["drop", "keep"] | None = field(
        default=None,
        metadata=described("The steps after the first error; none: the format's default."),
    )
    test_fraction: float = field(
        default=0.0,
        metadata=described(
            "The share of problems kept out of train, in a test split: what a model trained "
            "on this export can be evaluated on (Training and results). 0: all in train."
        ),
    )
    seed: int = 0
    held_out: tuple[str, ...] = field(
        default=(),
        metadata=described(
            "Problems kept out of train: ids or texts (one a line, or MATH-style JSONL)."
        ),
    )
    dedupe: bool = field(
        default=False,
        metadata=described("Drop a row whose content equals an earlier row of its problem."),
    )
    pairs_per_problem: int = field(
        default=5,
        metadata=described("dpo: pairs of distinct correct and incorrect responses per problem."),
    )
    # Scope: only traces written by these jobs (none: every job and none) ...
    jobs: tuple[int, ...] = field(
        default=(), metadata={**described("Only traces of these jobs (ids)."), **owns(JOB)}
    )
    # ... derived from this tree job (a round): its shortcuts, drafts and rewrites ...
    tree_round: int | None = field(
        default=None,
        metadata={
            **described(
                "Only traces derived from this tree job (a round): shortcuts, drafts, rewrites.",
            ),
            **owns(JOB),
        },
    )
    # ... of these kinds (none: every kind).
    kinds: tuple[str, ...] = field(
        default=(), metadata=described("Only these kinds; none: every kind.", choices=TRACE_KINDS)
    )
    include_unfaithful: bool = field(
        default=False,
        metadata=described("sft-journey: keep rewrites that failed their fidelity check."),
    )
    include_no_trial: bool = field(
        default=False,
        metadata=described("sft-journey: keep long thoughts that make no trial."),
    )
    include_unverified: bool = field(
        default=False,
        metadata=described("sft-journey: keep loops that ended without a verified correct answer."),
    )
    one_per_problem: bool = field(
        default=False,
        metadata=described("sft-shortcut, sft-paired: one correct solution (pair) per problem."),
    )
    exclude_unanswered: bool = field(
        default=False,
        metadata=described("dpo: leave unanswered samples out (default: rejected responses)."),
    )
    # each step's score as a float label (Monte-Carlo: the share of rollouts that reached the
    # answer; a rating: +1 -> 1.0, 0 -> 0.5, -1 -> 0.0), in the formats that take them
    soft_labels: bool = field(
        default=False,
        metadata=described(f"{', '.join(SOFT_LABEL_FORMATS)}: float labels (Monte-Carlo scores)."),
    )
    # People's work by its review: accepted only, not rejected, or all (see
    # annotation/workspace/review_filter.py)
    review: ReviewFilter = field(
        default="not_rejected",
        metadata=described("People's work (thought records, annotators' grades) by its review."),
    )
    keep_unlabeled: bool = field(
        default=False,
        metadata=described("prm800k: also write traces nobody rated (labeler and ratings null)."),
    )
    # Stepwise formats: only the chosen path, no row per rated alternative (the path before
    # it, then it), which is what they write by default, as the public conversions do.
    chosen_path_only: bool = field(
        default=False,
        metadata=described("stepwise formats: the chosen path only, no row per rated alternative."),
    )
    # Labels that may not teach a model are left out unless kept: those of gold items
    # (quality control, screening) and of people who failed screening. Rejected work is
    # kept with review="all".
    keep_gold_items: bool = field(
        default=False,
        metadata=described(
            "step-label formats: also the labels of gold items (quality control, screening)."
        ),
    )
    keep_failed_screening: bool = field(
        default=False,
        metadata=described("step-label formats: also the labels of people who failed screening."),
    )
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
        if self.soft_labels and not EXPORT_FORMATS[self.format].soft_labels:
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
