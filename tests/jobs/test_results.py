"""A job's result as a table a person reads: labels and units, numbers formatted, nested parts
(a tree job's chunks) as their own table."""

from annotation.jobs.results import ResultRow, chunk_rows, format_value, result_rows


def test_result_rows_have_human_labels_and_units_in_reading_order():
    result = {  # as a JSON column gives it back: not in the order the runner wrote it
        "some_new_key": True,
        "mean_score": None,
        "tokens_per_second": 20.0,
        "generation_seconds": 1.5,
        "traces": 1200,
        "chunks": [{"problems": 2}],
    }
    assert result_rows(result) == [
        ResultRow("traces", "Traces", "1,200"),
        ResultRow("generation_seconds", "Generation time", "1.5 s"),
        ResultRow("tokens_per_second", "Throughput", "20 tokens/s"),
        ResultRow("mean_score", "Mean step score", "—"),
        ResultRow("some_new_key", "Some new key", "yes"),
    ]


def test_values_are_formatted_for_reading():
    assert [format_value(v) for v in (0.123456, 2.0, 1234567, [1, 2], "", False)] == [
        "0.123",
        "2",
        "1,234,567",
        "1, 2",
        "—",
        "no",
    ]


def test_a_tree_jobs_chunks_become_rows():
    result = {
        "chunks": [
            {
                "problems": 2,
                "backend_calls": {"generate": 3, "score": 3},
                "expand_calls": [1, 1, 1],
                "score_calls": [1, 1, 1],
                "expand_requests": [2, 8, 8],
                "score_requests": [8, 32, 32],
            }
        ]
    }
    assert chunk_rows(result) == [["2", "3", "3", "2, 8, 8", "8, 32, 32"]]


def test_a_result_whose_chunks_are_not_a_tree_jobs_list_has_no_chunk_rows():
    # a kind's runner may count its chunks: the page shows no chunk table, and no error
    assert chunk_rows({"chunks": 2}) == []
    assert chunk_rows({"chunks": [2, "a"]}) == []
