"""Two job kinds added the way any new kind is: rows for the kinds table, a parameters class
and a runner, and nothing else. settings.STEPWISE_EXTRA_JOB_KINDS names this module (in the
test process and in the worker's environment), so the table imports it.

`word_count` is sharded (its runner returns the Work any worker may do a chunk of); `word_total`
runs whole (its runner returns the result). Both count the words of the problems they name.
"""

from dataclasses import dataclass, field

from annotation.jobs.boundary import in_project
from annotation.jobs.kinds import Kind
from annotation.jobs.models import Job
from annotation.jobs.params import PROBLEM, Params, job_params, owns
from annotation.jobs.runners import ChunkStats, Work
from annotation.jobs.typed_json import ParamsError
from annotation.problems.models import Problem

HERE = __name__

# The rows.
KINDS = [
    Kind(
        "word_count",
        "Word count",
        params=f"{HERE}.WordCountParams",
        runner=f"{HERE}.word_count_work",
        queue="default",
        sharded=True,
        api_start=True,
    ),
    Kind(
        "word_total",
        "Word total",
        params=f"{HERE}.WordCountParams",
        runner=f"{HERE}.run_word_total",
        queue="default",
        api_start=True,
    ),
]


# The parameters class.
@dataclass(frozen=True)
class WordCountParams(Params):
    problem_ids: tuple[int, ...] = field(metadata=owns(PROBLEM))
    chunk_size: int = 2

    def __post_init__(self) -> None:
        if not self.problem_ids:
            raise ParamsError("problem_ids", "name at least one problem")
        if self.chunk_size < 1:
            raise ParamsError("chunk_size", f"{self.chunk_size} is not a positive number")


# The runners.
def words(problem_ids: list[int], job: Job) -> int:
    texts = in_project(job, Problem, problem_ids).values_list("text", flat=True)
    return sum(len(text.split()) for text in texts)


def word_count_work(job: Job) -> Work:
    params = job_params(job, WordCountParams)

    def process(chunk: list[int]) -> ChunkStats:
        return {"words": words(chunk, job)}

    def result(reports: list[ChunkStats]) -> dict[str, object]:
        return {"words": sum(r["words"] for r in reports), "chunks": len(reports)}

    return Work(
        items=list(params.problem_ids),
        chunk_size=params.chunk_size,
        process=process,
        result=result,
    )


def run_word_total(job: Job) -> dict[str, object]:
    params = job_params(job, WordCountParams)
    return {"words": words(list(params.problem_ids), job), "chunks": 1}
