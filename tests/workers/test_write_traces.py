"""The runners' trace writer: generated traces, their paths and their step scores."""

import pytest

from annotation.grading.services import model_run_source
from annotation.jobs.models import Job, JobKind
from annotation.problems.selectors import path
from tests.factories import ProblemFactory
from workers.runners.common import NewTrace, StepScores, write_traces

pytestmark = pytest.mark.django_db


def generated(problem, key, steps, scores):
    return NewTrace(
        problem=problem,
        external_id=key,
        origin="expansion",
        text="\n\n".join(steps),
        token_count=10,
        finish="stop",
        seconds=0.5,
        steps=steps,
        scores=StepScores(scores),
    )


def test_written_traces_share_prefix_nodes_and_a_run_scores_each_node_once(project):
    # given two outputs of an expansion job with a scorer, sharing their first step
    problem = ProblemFactory(project=project, answer=None)
    job = Job.objects.create(project=project, kind=JobKind.EXPAND)
    source = model_run_source(job=job, label="tiny prm")
    outputs = [
        generated(problem, "k:0", ["a = 1", "so 2"], [0.9, 0.8]),
        generated(problem, "k:1", ["a = 1", "so 3"], [0.7, 0.1]),
    ]
    # when the chunk is written twice (a redelivery)
    first = write_traces(job, outputs, source)
    again = write_traces(job, outputs, source)
    # then
    assert again == []
    paths = [[(s.position, s.text) for s in path(t.pk)] for t in first]
    assert paths == [[(0, "a = 1"), (1, "so 2")], [(0, "a = 1"), (1, "so 3")]]
    assert path(first[0].pk)[0].node_id == path(first[1].pk)[0].node_id
    scores = sorted(source.grades.values_list("trace_id", "score", "is_current"))
    assert scores == [(first[0].pk, 0.8, True), (first[0].pk, 0.9, True), (first[1].pk, 0.1, True)]
    # the model's text is kept as it wrote it
    assert first[0].metadata == {
        "raw_text": "a = 1\n\nso 2",
        "tokens": 10,
        "finish": "stop",
        "seconds": 0.5,
    }
