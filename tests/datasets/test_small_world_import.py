"""`manage.py import_small_world`: small-world problems in a project through the importer,
held-out problems marked, the same seed importing the same problems again changing nothing."""

import io

import pytest
from django.core.management import CommandError, call_command

from algorithms import small_world
from annotation.core.models import Project
from annotation.datasets.small_world import HELD_OUT_SUBJECT, TRAIN_SUBJECT, held_out_ids
from annotation.problems.models import Problem

pytestmark = pytest.mark.django_db


def test_the_command_imports_training_and_held_out_problems():
    # when
    call_command(
        "import_small_world", project="World", train=12, test=4, seed=3, stdout=io.StringIO()
    )
    call_command(
        "import_small_world", project="World", train=12, test=4, seed=3, stdout=io.StringIO()
    )

    # then
    project = Project.objects.get(name="World")
    problems = Problem.objects.filter(project=project)
    assert problems.count() == 16
    assert problems.filter(subject=TRAIN_SUBJECT).count() == 12
    expected = small_world.generate(4, seed=3, split="test")
    assert held_out_ids(project) == sorted(p.unique_id for p in expected)
    for generated in expected:
        problem = problems.get(external_id=generated.unique_id)
        assert (problem.text, problem.answer, problem.level, problem.subject) == (
            generated.text,
            str(generated.answer),
            generated.level,
            HELD_OUT_SUBJECT,
        )
        assert small_world.verify(generated, problem.solution).correct


def test_nothing_to_import_is_an_error_naming_the_option():
    with pytest.raises(CommandError, match="--train"):
        call_command("import_small_world", project="World", train=-1, stdout=io.StringIO())
    assert not Project.objects.filter(name="World").exists()
