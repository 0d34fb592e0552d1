"""The importer's bulk writes: foreign-key checks per chunk instead of per row."""

import io
import json
import threading

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotation.core.bulk import insert_new_rows, lock_keys, row_triggers_skipped
from annotation.core.models import Project
from annotation.datasets.importer import import_dataset
from annotation.grading.models import Grade, GradeSource
from annotation.problems.models import Problem, StepNode, Trace
from annotation.problems.services import NODE_FIELDS
from annotation.problems.tree import node_id
from tests.conftest import PRM800K_DIR


def setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def first_step_rows(project, texts):
    """Step-node rows (NODE_FIELDS order) of first steps with these texts, by node id."""
    problem = Problem.objects.create(project=project, external_id="p", text="t", text_digest="d")
    now = timezone.now()
    return {
        nid: (nid, problem.pk, None, 1, "step", text, now)
        for text in texts
        for nid in [node_id(problem.pk, None, "step", text)]
    }


def test_row_triggers_are_off_only_inside_the_block(db):
    source = GradeSource.objects.create(name="someone")
    dangling = node_id(10**9, None, "step", "x")
    with transaction.atomic(), row_triggers_skipped() as unchecked:
        assert unchecked is True
        assert setting("session_replication_role") == "replica"
    assert setting("session_replication_role") == "origin"
    with pytest.raises(RuntimeError), transaction.atomic(), row_triggers_skipped():
        raise RuntimeError("a failed block is rolled back, and the setting with it")
    assert setting("session_replication_role") == "origin"
    # Outside the block every write is checked again.
    with pytest.raises(IntegrityError), transaction.atomic():
        Grade.objects.create(node_id=dangling, source=source, rating=1)
        connection.check_constraints()


def test_a_role_without_the_privilege_keeps_the_checks(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "DO $$ BEGIN CREATE ROLE stepwise_test_plain NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL ROLE stepwise_test_plain")
        with row_triggers_skipped() as unchecked:
            assert unchecked is False
            assert setting("session_replication_role") == "origin"
        assert setting("role") == "stepwise_test_plain"  # the transaction is still usable


def test_new_rows_are_told_from_existing_ones_which_are_locked(project):
    rows = first_step_rows(project, ["a", "b"])
    first = dict(list(rows.items())[:1])
    with transaction.atomic():
        assert insert_new_rows(StepNode, NODE_FIELDS, first) == set(first)
    with transaction.atomic():
        assert insert_new_rows(StepNode, NODE_FIELDS, rows) == set(rows) - set(first)
        assert lock_keys(StepNode, [*rows, node_id(0, None, "step", "gone")]) == set(rows)
    assert StepNode.objects.count() == 2


def test_an_import_leaves_every_reference_valid(project):
    raw = (PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes()
    import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(raw))
    # What the per-row triggers would have checked, checked once over everything written.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM problems_tracestep s
                 LEFT JOIN problems_stepnode n ON n.id = s.node_id WHERE n.id IS NULL),
              (SELECT count(*) FROM problems_stepnode n
                 LEFT JOIN problems_stepnode p ON p.id = n.parent_id
                 WHERE n.parent_id IS NOT NULL AND p.id IS NULL),
              (SELECT count(*) FROM grading_grade g
                 LEFT JOIN problems_stepnode n ON n.id = g.node_id WHERE n.id IS NULL),
              (SELECT count(*) FROM grading_grade g
                 LEFT JOIN problems_trace t ON t.id = g.trace_id WHERE t.id IS NULL)
            """
        )
        assert cursor.fetchone() == (0, 0, 0, 0)
    assert Trace.objects.count() == 6


def test_a_value_only_the_standard_json_library_reads_round_trips(project):
    row = json.loads((PRM800K_DIR / "prm800k_raw_samples.jsonl").read_bytes().splitlines()[0])
    row["question"]["pre_generated_verifier_score"] = 2**70  # over orjson's 64 bits
    line = json.dumps(row).encode()
    first = import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(line))
    again = import_dataset(project=project, format_name="prm800k", stream=io.BytesIO(line))
    assert (first.traces_created, again.traces_existing) == (1, 1)
    kept = Trace.objects.get().metadata["prm800k"]["question"]
    assert kept["pre_generated_verifier_score"] == 2**70


def test_a_node_written_meanwhile_by_another_transaction_is_not_inserted_twice(
    transactional_db: None,
):
    rows = first_step_rows(Project.objects.create(name="race"), ["theirs", "ours"])
    problem_id = next(iter(rows.values()))[1]
    theirs = next(iter(rows))
    # Another session, as a second writer (a plain psycopg connection: usable from a timer).
    other = psycopg.connect(**connection.get_connection_params())
    try:
        other.execute(
            "INSERT INTO problems_stepnode (id, problem_id, parent_id, depth, kind, text, "
            "created_at) VALUES (%s, %s, NULL, 1, 'step', 'theirs', now())",
            [theirs, problem_id],
        )
        # Not committed yet: our check does not see it, and our COPY waits for it.
        threading.Timer(0.5, other.commit).start()
        with transaction.atomic():
            new = insert_new_rows(StepNode, NODE_FIELDS, rows)
    finally:
        other.close()
    assert new == set(rows) - {theirs}
    assert sorted(StepNode.objects.values_list("text", flat=True)) == ["ours", "theirs"]


def test_encoded_rows_written_meanwhile_by_another_transaction_are_skipped(project):
    """The scratch-table path of insert_new_encoded: rows that appear between its look-up and
    its COPY are skipped, and only the others are reported new (as 16-byte keys)."""
    from annotation.core.bulk import _columns, _copy_encoded_ignoring_conflicts
    from annotation.problems.services import imported_node_encoder

    rows = first_step_rows(project, ["a", "b", "c"])
    encoder = imported_node_encoder(binary=True)
    # the encoder takes a uuid as its 16 bytes, as the parsing process gives it
    encoded = {key.bytes: encoder.encode((key.bytes, *row[1:])) for key, row in rows.items()}
    first = next(iter(rows))
    with transaction.atomic():
        insert_new_rows(StepNode, NODE_FIELDS, {first: rows[first]})
    table, columns, _ = _columns(StepNode, NODE_FIELDS)
    with transaction.atomic():
        new = _copy_encoded_ignoring_conflicts(table, columns, list(encoded.values()))
    assert new == {key.bytes for key in rows} - {first.bytes}
    assert StepNode.objects.count() == 3
