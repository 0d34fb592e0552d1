"""The step tree has one owner: only the problems and grading services create step nodes,
trace steps, traces, grade sources and grades (docs/architecture.md, "Who writes what").

The source is read with `ast`, so a write hidden in a comment or docstring does not count and
one written any way the ORM, the COPY helpers or raw SQL allow does.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["annotation", "workers", "algorithms", "tests/factories.py", "tests/support"]
OWNERS = ("annotation/problems/services", "annotation/grading/services")

MODELS = {"StepNode", "TraceStep", "Trace", "Grade", "GradeSource"}
MODEL_LABELS = {f"problems.{m}" for m in ("StepNode", "TraceStep", "Trace")} | {
    "grading.Grade",
    "grading.GradeSource",
}
TABLES = r"problems_stepnode|problems_tracestep|problems_trace|grading_grade|grading_gradesource"
# Related managers that create these rows (problem.traces.create(...), source.grades...).
RELATED = {"traces", "nodes", "steps", "grades", "children", "trace_steps", "derived_traces"}
CREATES = {"create", "bulk_create", "get_or_create", "update_or_create"}
COPY_HELPERS = {
    "insert_rows",
    "insert_new_rows",
    "_copy",
    "_copy_ignoring_conflicts",
    "insert_encoded",
    "insert_new_encoded",
    "_copy_encoded",
    "_copy_encoded_ignoring_conflicts",
}
RAW_WRITE = re.compile(rf'\b(INSERT\s+INTO|COPY)\s+"?({TABLES})\b', re.IGNORECASE)
RAW_WRITE_OF_MODEL = re.compile(r"\b(INSERT\s+INTO|COPY)\b", re.IGNORECASE)


def python_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [
        f
        for f in files
        if "migrations" not in f.parts and not str(f.relative_to(ROOT)).startswith(OWNERS)
    ]


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def writes_in(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in MODELS:
                found.append((node.lineno, f"{name}(...)"))
            elif isinstance(func, ast.Attribute) and name in CREATES:
                receiver = names_in(func.value)
                if receiver & (MODELS | RELATED):
                    found.append((node.lineno, f"{ast.unparse(func)}(...)"))
            elif name in COPY_HELPERS and node.args and names_in(node.args[0]) & MODELS:
                found.append((node.lineno, f"{name}({ast.unparse(node.args[0])}, ...)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if RAW_WRITE.search(node.value):
                found.append((node.lineno, "raw INSERT/COPY"))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if RAW_WRITE_OF_MODEL.search(text) and names_in(node) & MODELS:
                found.append((node.lineno, "raw INSERT/COPY"))
        elif isinstance(node, ast.ClassDef) and any(
            "Factory" in ast.unparse(b) for b in node.bases
        ):
            for meta in (n for n in node.body if isinstance(n, ast.ClassDef) and n.name == "Meta"):
                for statement in meta.body:  # a factory_boy factory of one of the models
                    if (
                        isinstance(statement, ast.Assign)
                        and any(getattr(t, "id", "") == "model" for t in statement.targets)
                        and (
                            getattr(statement.value, "value", None) in MODEL_LABELS
                            or getattr(statement.value, "id", None) in MODELS
                        )
                    ):
                        found.append((statement.lineno, f"{node.name}, a factory of the model"))
    return sorted(found)


def tree_writes() -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in python_files()
        for line, what in writes_in(ast.parse(path.read_text(), str(path)))
    ]


def test_only_the_problems_and_grading_services_write_the_tree():
    assert tree_writes() == []


def test_the_scan_sees_each_kind_of_write():
    # given one write of each kind the rule forbids
    source = """
node = StepNode(id=nid, problem=problem, depth=1, text="x")
Grade.objects.bulk_create(grades, ignore_conflicts=True)
GradeSource.objects.get_or_create(name="n")
trace.steps.create(position=0, node=node)
insert_rows(Grade, FIELDS, rows)
cursor.execute('INSERT INTO "problems_trace" (origin) VALUES (%s)', ["imported"])
cursor.execute(f"COPY {TraceStep._meta.db_table} FROM STDIN")

class TraceFactory(DjangoModelFactory):
    class Meta:
        model = "problems.Trace"
"""
    # when
    found = writes_in(ast.parse(source))
    # then
    assert [line for line, _ in found] == [2, 3, 4, 5, 6, 7, 8, 12]
