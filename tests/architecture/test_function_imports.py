"""Every import inside a function of a project module, each with the reason it cannot be at
the top of its module (docs/architecture.md, "Layers").

An import inside a function that dodges a cycle is a cycle that lint-imports cannot see (its
`acyclic` contract holds the imports at the top). What may stay inside a function:
- a heavy library (HEAVY): a process loads torch, transformers, vLLM, the OpenAI SDK, pyarrow
  or math-verify only when it uses a model, writes a Parquet file or checks an answer, and the
  web process never loads a model library (import-linter forbids the top-level import there).
  These are allowed by name, wherever they are, and not listed one by one;
- the imports listed in REASONS, at most ten, each with its reason.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("algorithms", "annotation", "workers")
MAX_LISTED = 10

HEAVY = frozenset(
    {
        "torch",
        "transformers",
        "tokenizers",
        "vllm",
        "peft",
        "trl",
        "datasets",
        "openai",
        "httpx2",  # the OpenAI SDK's HTTP client, which workers/backends/guarded.py wraps
        "httpcore2",
        "pyarrow",
        "math_verify",
    }
)

PARSING_PROCESS = "the import's parsing process imports models after its own django.setup()"
ACCELERATE_PROCESS = "a process `accelerate launch` starts imports models after its django.setup()"
# (module, function, imported module): why the import waits for the function to run.
REASONS = {
    ("annotation.core.apps", "ready", "annotation.core.tokens"): (
        "connects its signal receivers, which import models: Django's place is AppConfig.ready"
    ),
    ("annotation.core.apps", "add_username_validator", "django.contrib.auth"): (
        "get_user_model() needs the app registry, which is not ready when apps.py is imported"
    ),
    ("annotation.datasets.pipeline", "_child", "annotation.datasets.parsing"): PARSING_PROCESS,
    ("annotation.datasets.pipeline", "_child", "annotation.datasets.reader"): PARSING_PROCESS,
    ("annotation.datasets.pipeline", "_child", "annotation.datasets.rows"): PARSING_PROCESS,
    ("workers.training.launch", "main", "annotation.jobs.models"): ACCELERATE_PROCESS,
    ("workers.training.launch", "main", "workers.training.run"): ACCELERATE_PROCESS,
    ("workers.small_world_model", "prompt_templates", "annotation.llm.defaults"): (
        "the build runs as `python -m`, and the prompts module imports models: after main()'s "
        "django.setup()"
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def function_imports() -> list[tuple[str, str, str]]:
    """(module, function, imported module) for every import statement inside a function."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = module_name(path)
            for function in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        found += [(module, function.name, alias.name) for alias in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        assert node.level == 0, f"{module}: a relative import"
                        found += [
                            (module, function.name, imported_from(str(node.module), alias.name))
                            for alias in node.names
                        ]
    return sorted(set(found))


def imported_from(module: str, name: str) -> str:
    """The module `from module import name` imports: module.name when that is a module of
    ours (`from annotation.core import tokens`), else `module`."""
    path = ROOT.joinpath(*module.split("."), name)
    return f"{module}.{name}" if path.with_suffix(".py").is_file() or path.is_dir() else module


def is_heavy(imported: str) -> bool:
    return imported.split(".")[0] in HEAVY


def test_every_import_inside_a_function_is_a_heavy_library_or_has_its_reason() -> None:
    # given
    found = function_imports()
    # when
    listed = sorted({entry for entry in found if not is_heavy(entry[2])})
    # then
    assert listed == sorted(REASONS), "\n".join(
        [
            "imports inside functions without a reason (move them to the top of the module):",
            *(f"  {m}.{f}: {i}" for m, f, i in listed if (m, f, i) not in REASONS),
            "reasons for imports that are gone:",
            *(f"  {m}.{f}: {i}" for m, f, i in REASONS if (m, f, i) not in listed),
        ]
    )
    assert len(REASONS) <= MAX_LISTED
    assert all(reason for reason in REASONS.values())
