"""The README.md of an export: what a person who was not in the app needs to use the files.

Written from the manifest alone (the files, the options, the counts, what was left out), with
each column's meaning from columns.py, how 0 was counted, and how to load the files with
Hugging Face `datasets` and TRL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from annotation.datasets.export.columns import STEP_LABEL_FORMATS, columns_of

README_NAME = "README.md"

# The TRL trainer that reads each format's rows as they are, where there is one.
TRAINERS = {
    "sft-shortcut": "SFTTrainer",
    "sft-journey": "SFTTrainer",
    "sft-paired": "SFTTrainer",
    "dpo": "DPOTrainer",
}
COUNT_NAMES = {
    "rows": "rows written",
    "traces_read": "traces read",
    "problems_read": "problems read",
    "traces_skipped": "traces skipped",
    "duplicates_removed": "duplicates removed",
    "held_out_rows": "rows of held-out problems (test only)",
}


def export_readme(manifest: Mapping[str, Any]) -> str:
    return "\n".join(_lines(manifest)) + "\n"


def _lines(manifest: Mapping[str, Any]) -> Iterator[str]:
    name = manifest["format"]
    options = manifest.get("options") or {}
    project = manifest.get("project") or {}
    yield f"# {name} export of {project.get('name', 'a Stepwise project')}"
    yield ""
    yield (
        f"Made by Stepwise on {manifest.get('created_at', '?')} "
        f"(code {manifest.get('code_version')}, manifest schema "
        f"{manifest.get('schema_version')}). `manifest.json` beside this file holds every "
        "option, every count and the sha256 of every file."
    )
    yield ""
    yield "## Files"
    yield ""
    yield "| split | file | rows | problems |"
    yield "|---|---|---:|---:|"
    paired = (manifest.get("paired") or {}).get("splits") or {}
    for part in (paired, manifest.get("splits") or {}):
        for split, info in part.items():
            yield f"| {split} | `{info['name']}` | {info['rows']} | {info.get('problems', '')} |"
    yield ""
    yield from _split_note(options)
    yield "## Columns"
    yield ""
    soft = bool(options.get("soft_labels"))
    yield "| column | meaning |"
    yield "|---|---|"
    for column, meaning in columns_of(name, soft=soft).items():
        yield f"| `{column}` | {meaning} |"
    yield ""
    if name in STEP_LABEL_FORMATS:
        yield from _labels_note(options)
    yield from _left_out(manifest)
    yield from _counts(manifest)
    yield from _loading(manifest)


def _split_note(options: Mapping[str, Any]) -> Iterator[str]:
    fraction = options.get("test_fraction") or 0
    held_out = options.get("held_out") or 0  # the manifest keeps their count (and a hash)
    held_out = held_out if isinstance(held_out, int) else len(held_out)
    if fraction or held_out:
        yield (
            f"Problems go to one split only: {fraction:.0%} of them to test, chosen by a hash of "
            f"the problem and seed {options.get('seed', 0)}"
            + (f", plus {held_out} held-out problems, never in train" if held_out else "")
            + "."
        )
    else:
        yield "Every row is in train: the export was made without a test split (test_fraction 0)."
    yield ""


def _labels_note(options: Mapping[str, Any]) -> Iterator[str]:
    zero_is = options.get("zero_is", "good")
    yield "## How the labels were made"
    yield ""
    yield (
        "Steps are graded +1 (good), 0 (okay) or -1 (bad), as in PRM800K. In this export "
        f"**0 counts as {zero_is}** (option `zero_is`): +1 is good, -1 is bad, and 0 is "
        f"{zero_is}. Public projects disagree on this: check what your trainer expects."
    )
    after_error = options.get("after_error")
    if after_error:
        yield ""
        yield (
            "Steps after the first bad one are "
            + (
                "kept"
                if after_error == "keep"
                else "left out (a solution ends at its first bad step)"
            )
            + f" (option `after_error` = {after_error})."
        )
    grades = options.get("grades")
    if grades:
        yield ""
        yield f"Grades come from: `{grades}` (option `grades`)."
    yield ""


def _left_out(manifest: Mapping[str, Any]) -> Iterator[str]:
    yield "## Left out, and why"
    yield ""
    left_out = manifest.get("left_out") or {}
    if not left_out:
        yield "Nothing: every trace read is in a file."
    else:
        yield "| count | reason | why | first ones |"
        yield "|---:|---|---|---|"
        for reason, entry in left_out.items():
            examples = ", ".join(map(str, entry.get("examples") or []))
            yield f"| {entry.get('count')} | `{reason}` | {entry.get('why', '')} | {examples} |"
    yield ""


def _counts(manifest: Mapping[str, Any]) -> Iterator[str]:
    counts = manifest.get("counts") or {}
    yield "## Counts"
    yield ""
    for key, value in counts.items():
        yield f"- {COUNT_NAMES.get(key, key.replace('_', ' '))}: {value}"
    yield ""


def _loading(manifest: Mapping[str, Any]) -> Iterator[str]:
    name = manifest["format"]
    file_format = manifest.get("file_format", "jsonl")
    builder = "parquet" if file_format == "parquet" else "json"
    splits = manifest.get("splits") or {}
    files = ", ".join(
        f'"{split}": "{info["name"]}"' for split, info in splits.items() if info["rows"]
    )
    yield "## Loading"
    yield ""
    yield "With Hugging Face `datasets` (`pip install datasets`):"
    yield ""
    yield "```python"
    yield "from datasets import load_dataset"
    yield ""
    yield f'dataset = load_dataset("{builder}", data_files={{{files}}})'
    yield "```"
    yield ""
    trainer = TRAINERS.get(name)
    if trainer:
        yield f"With TRL (`pip install trl`), the rows are what `{trainer}` reads:"
        yield ""
        yield "```python"
        yield f"from trl import {trainer}"
        yield ""
        yield f'trainer = {trainer}(model=model, train_dataset=dataset["train"], ...)'
        yield "```"
    elif name == "trl-stepwise":
        yield (
            "The rows are TRL's stepwise-supervision dataset type (prompt, completions, "
            "labels): what TRL's PRMTrainer reads, in the TRL versions that ship it."
        )
    else:
        yield (
            f"TRL has no trainer that reads {name} rows as they are: they follow the public "
            f"{name} format, for the scripts that read it."
        )
    yield ""
