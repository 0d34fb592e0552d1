"""Splits that load: every split file of every format exported from the demo loads with
`datasets.load_dataset`; a split no row falls in is omitted, with the manifest saying why,
never written as an empty file."""

import json
import re

import pytest
from django.core.management import call_command

from annotation.core.models import Project
from annotation.datasets.export.formats import EXPORT_FORMATS
from annotation.datasets.export.options import ExportOptions
from annotation.datasets.export.pipeline import EmptyExport, export_to_directory
from annotation.datasets.management.commands.load_demo import DEMO_PROJECT
from tests.exports.conftest import human_source, make_problem, make_trace
from tests.factories import ProjectFactory


def load(path, cache):
    import datasets

    return datasets.load_dataset("json", data_files={"x": str(path)}, split="x", cache_dir=cache)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf-cache"


def test_every_split_of_every_format_exported_from_the_demo_loads(db, tmp_path, offline):
    # given the demo project
    call_command("load_demo", model_dir=tmp_path / "demo-model", stdout=None)
    demo = Project.objects.get(name=DEMO_PROJECT)
    loaded: dict[str, dict[str, int]] = {}
    for format_name in sorted(EXPORT_FORMATS):
        directory = tmp_path / format_name
        # when
        try:
            manifest = export_to_directory(
                project=demo,
                options=ExportOptions(format=format_name, test_fraction=0.5, seed=3),
                directory=directory,
            )
        except EmptyExport as refused:  # no row at all: refused, naming why, and no file
            assert str(refused).startswith("the export has no rows")
            assert not directory.exists() or list(directory.iterdir()) == []
            continue
        # then: every file written loads, with the rows the manifest counts
        splits = dict(manifest["splits"])
        splits |= {
            f"paired:{k}": v for k, v in manifest.get("paired", {}).get("splits", {}).items()
        }
        for split, info in splits.items():
            assert info["rows"] > 0
            assert load(directory / info["name"], offline).num_rows == info["rows"], split
        written = {p.name for p in directory.iterdir()} - {"manifest.json", "README.md"}
        assert written == {info["name"] for info in splits.values()}
        for split, why in manifest.get("omitted_splits", {}).items():
            assert split not in manifest["splits"] and why
        loaded[format_name] = {split: info["rows"] for split, info in splits.items()}
    # the step-label formats all gave rows
    assert {"trl-stepwise", "processbench", "math-shepherd", "openr", "qwen-prm"} <= set(loaded)


def test_a_split_no_row_falls_in_is_omitted_and_the_manifest_says_why(db, tmp_path, offline):
    # given one graded problem, and a test fraction that takes no problem of one
    project = ProjectFactory(name="tiny")
    problem = make_problem(project, "t/1", "What is 5 + 5?", answer="10")
    make_trace(problem, ["5 + 5 = 10.", "\\boxed{10}"], ratings=[1, 1], source=human_source("a"))
    options = ExportOptions(format="trl-stepwise", test_fraction=0.01)
    # when
    manifest = export_to_directory(project=project, options=options, directory=tmp_path / "out")
    # then
    assert set(manifest["splits"]) == {"train"}
    assert re.match(r"no row fell in the test split", manifest["omitted_splits"]["test"])
    written = {p.name for p in (tmp_path / "out").iterdir()} - {"README.md"}
    assert written == {"manifest.json", "trl-stepwise-train.jsonl"}
    assert load(tmp_path / "out" / "trl-stepwise-train.jsonl", offline).num_rows == 1
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
