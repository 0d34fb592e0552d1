"""Soft labels: Monte-Carlo scores as P(good), cut at the first bad step."""

import json

import pytest

from annotation.datasets.export.options import ExportOptionError, ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from tests.exports.conftest import make_problem, make_trace
from tests.support.training import monte_carlo_estimates


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_monte_carlo_scores_become_soft_labels(project, tmp_path, file_format: str) -> None:
    # given a trace whose steps Monte-Carlo rollouts scored 0.75, 0.25, 0.5
    problem = make_problem(project, "p1", "What is 2 + 3?", answer="5")
    trace = make_trace(problem, ["2 + 3 = 6.", "So 6.", "The answer is 6."])
    steps = trace.steps.order_by("position")
    monte_carlo_estimates(project, zip(steps, [0.75, 0.25, 0.5], strict=True))
    options = ExportOptions(
        format="trl-stepwise", grades="monte_carlo", soft_labels=True, file_format=file_format
    )
    # when
    export_to_directory(project=project, options=options, directory=tmp_path)
    # then the labels are the scores, up to and with the first bad step
    if file_format == "parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(tmp_path / "trl-stepwise-train.parquet").to_pylist()
    else:
        rows = [json.loads(line) for line in (tmp_path / "trl-stepwise-train.jsonl").open()]
    assert rows == [
        {
            "prompt": "What is 2 + 3?",
            "completions": ["2 + 3 = 6.", "So 6."],
            "labels": [0.75, 0.25],
        }
    ]


def test_soft_labels_belong_to_the_step_label_formats_that_carry_them() -> None:
    with pytest.raises(ExportOptionError, match="soft_labels: openr has no soft labels"):
        ExportOptions(format="openr", soft_labels=True)
