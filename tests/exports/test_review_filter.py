"""Review counts downstream: rejected work is neither exported nor expanded by default."""

import json

import pytest

from annotation.core.models import Role
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import export_to_directory
from annotation.datasets.export.prm800k_rows import labeler_id
from annotation.jobs.models import Job
from annotation.llm.models import PromptPurpose
from annotation.llm.services import expand_job_start
from annotation.problems.models import Origin, Trace
from annotation.problems.services import NewTrace, path_steps, trace_create
from annotation.workspace.models import ItemKind
from annotation.workspace.review_filter import traces_passing
from annotation.workspace.services.claims import assignment_claim_next
from annotation.workspace.services.records import record_submit
from annotation.workspace.services.reviews import assignment_return, assignment_review
from annotation.workspace.services.saves import grading_submit
from tests.factories import MembershipFactory, ProblemFactory, UserFactory, trace_with_steps
from tests.support.data import generator_config, prompt

CHECKLIST = {"attempts": True, "common_knowledge": True}


def record(project, username, answer):
    """A thought record submitted by a new annotator; returns its claim."""
    user = MembershipFactory(project=project, user=UserFactory(username=username)).user
    claim = assignment_claim_next(project=project, user=user, kind=ItemKind.RECORD)
    record_submit(
        assignment=claim,
        version=1,
        draft={
            "thoughts": [{"kind": "attempt", "text": f"{username}: it is {answer}"}],
            "final_answer": answer,
        },
        finish_reason="solution",
        checklist=CHECKLIST,
    )
    claim.refresh_from_db()
    return claim


@pytest.fixture
def world(project):
    """Records accepted, rejected, not reviewed, and returned then submitted again; an
    expansion of the rejected one; an imported trace."""
    project.overlap = 5
    project.save()
    ProblemFactory(project=project, answer="4", text="What is $2 + 2$?")
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    accepted, rejected, unreviewed, returned = (
        record(project, name, "4") for name in ("acc", "rej", "unrev", "ret")
    )
    assignment_review(assignment=accepted, reviewer=reviewer, decision="accepted", comment="")
    assignment_review(assignment=rejected, reviewer=reviewer, decision="rejected", comment="no")
    first_version = returned.record
    assignment_return(assignment=returned, reviewer=reviewer, comment="say why")
    returned.refresh_from_db()
    record_submit(
        assignment=returned,
        version=returned.version,
        draft={"thoughts": [{"kind": "attempt", "text": "ret: 2 + 2 = 4"}], "final_answer": "4"},
        finish_reason="solution",
        checklist=CHECKLIST,
    )
    returned.refresh_from_db()
    expansion = trace_create(
        NewTrace(
            problem_id=rejected.problem_id,
            origin=Origin.EXPANSION,
            source_trace_id=rejected.record_id,
            final_answer="4",
            steps=path_steps(["Expanded from a rejected record."]),
        )
    )
    imported = trace_with_steps(rejected.problem, ["An imported step."])
    return {
        "reviewer": reviewer,
        "accepted": accepted.record,
        "rejected": rejected.record,
        "unreviewed": unreviewed.record,
        "returned_first": first_version,
        "returned_again": returned.record,
        "expansion": expansion,
        "imported": imported,
    }


def passing(world, review):
    traces = traces_passing(Trace.objects.all(), review)
    names = {trace.pk: name for name, trace in world.items() if isinstance(trace, Trace)}
    return sorted(names[pk] for pk in traces.values_list("pk", flat=True) if pk in names)


def test_each_filter_lets_through_what_it_says(world):
    assert passing(world, "all") == sorted(
        [
            "accepted",
            "rejected",
            "unreviewed",
            "returned_first",
            "returned_again",
            "expansion",
            "imported",
        ]
    )
    assert passing(world, "not_rejected") == [
        "accepted",
        "imported",
        "returned_again",
        "unreviewed",
    ]
    assert passing(world, "accepted") == ["accepted", "imported"]


def journey_rows(project, tmp_path, **options):
    options = ExportOptions(format="sft-journey", origins=(Origin.THOUGHT_RECORD,), **options)
    manifest = export_to_directory(project=project, options=options, directory=tmp_path)
    lines = (tmp_path / "sft-journey-train.jsonl").read_text().splitlines()
    texts = [json.loads(line)["messages"][1]["content"] for line in lines]
    return manifest, texts


def test_a_rejected_record_is_not_exported_by_default_and_is_with_all(project, world, tmp_path):
    manifest, texts = journey_rows(project, tmp_path / "default")
    _, everything = journey_rows(project, tmp_path / "all", review="all")
    assert manifest["options"]["review"] == "not_rejected"
    assert not any(text.startswith("rej:") for text in texts)
    assert len(texts) == 3  # accepted, not reviewed, and the returned one's new version
    assert sum(text.startswith("rej:") for text in everything) == 1
    assert len(everything) == 5


def test_a_rejected_record_is_not_expanded_by_default_and_is_with_all(project, world):
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    common = {
        "project": project,
        "user": researcher,
        "model": generator_config(project, "transformers"),
        "prompt": prompt(project, PromptPurpose.EXPAND),
    }
    ids = [world["rejected"].pk, world["accepted"].pk]
    default = expand_job_start(trace_ids=ids, **common)
    everything = expand_job_start(trace_ids=ids, review="all", **common)
    assert (default.params["trace_ids"], default.params["review"]) == (
        [world["accepted"].pk],
        "not_rejected",
    )
    assert (everything.params["trace_ids"], everything.params["review"]) == (ids, "all")
    with pytest.raises(Exception, match="none of the traces passes review=not_rejected"):
        expand_job_start(trace_ids=[world["rejected"].pk], **common)
    assert Job.objects.count() == 2


def test_an_annotators_rejected_grades_are_not_exported_by_default(project, tmp_path):
    # given two annotators grade a trace; one's work is rejected
    project.overlap = 2
    project.save()
    trace = trace_with_steps(ProblemFactory(project=project), ["Step one.", "Step two."])
    node = [str(n) for n in trace.steps.order_by("position").values_list("node_id", flat=True)]
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    for name, decision in (("good", "accepted"), ("bad", "rejected")):
        user = MembershipFactory(project=project, user=UserFactory(username=name)).user
        claim = assignment_claim_next(project=project, user=user, kind=ItemKind.GRADE)
        grades = {n: {"rating": 1} for n in node}
        grading_submit(
            assignment=claim, version=1, draft={"grades": grades}, finish_reason="solution"
        )
        claim.refresh_from_db()
        assignment_review(assignment=claim, reviewer=reviewer, decision=decision, comment="why")

    def labelers(**options):
        directory = tmp_path / str(len(list(tmp_path.iterdir())))
        export_to_directory(
            project=project, options=ExportOptions(format="prm800k", **options), directory=directory
        )
        lines = (directory / "prm800k-train.jsonl").read_text().splitlines()
        return sorted(json.loads(line)["labeler"] for line in lines)

    # then
    good, bad = (labeler_id(project.pk, f"user:{name}") for name in ("good", "bad"))
    assert labelers() == [good]
    assert labelers(review="all") == sorted([bad, good])
