"""Import-linter contracts of our own, registered in pyproject.toml ([tool.importlinter]
contract_types) and checked by `lint-imports` in `make lint`.

`acyclic`: no cycle of imports between the modules of the root packages. import-linter's own
`acyclic_siblings` compares the children of one package at a time, so it neither sees a cycle
that runs through two root packages (annotation -> workers -> annotation) nor tells a cycle
of modules from two packages that merely use each other. This one looks at modules: a set of
modules each reachable from the others (a strongly connected component of the import graph)
is a cycle, reported as one chain of imports round it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application.contract_utils import AlertLevel, remove_ignored_imports_and_report


def cycles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[tuple[list[str], list[str]]]:
    """The strongly connected components of `modules` (imports of other modules left out),
    each with one chain of imports through it that ends where it starts."""
    inside = set(modules)
    found = []
    for component in components(graph, inside):
        first = component[0]
        nxt = min(graph.find_modules_directly_imported_by(first) & set(component))
        chain = graph.find_shortest_chain(importer=nxt, imported=first)
        assert chain is not None  # a component's modules reach each other
        found.append((component, [first, *chain]))
    return found


def components(graph: grimp.ImportGraph, inside: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative:
    a chain of imports can be longer than Python's recursion limit allows)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(inside):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & inside)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    imported = graph.find_modules_directly_imported_by(step) & inside
                    work.append((step, iter(sorted(imported))))
                elif step in on_stack:
                    low[module] = min(low[module], index[step])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


class AcyclicContract(Contract):
    type_name = "acyclic"

    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[attr-defined]
            unmatched_alerting=AlertLevel.ERROR,
        )
        roots = self.session_options["root_packages"]
        ours = [m for m in graph.modules if m.split(".")[0] in roots]
        found = cycles(graph, ours)
        return ContractCheck(
            kept=not found,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"cycles": found},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for component, cycle in check.metadata["cycles"]:
            output.print_error(
                f"{len(component)} modules import each other: {', '.join(component)}"
            )
            output.print_error("for example:")
            for importer, imported in pairwise(cycle):
                output.print_error(f"- {importer} -> {imported}")
            output.new_line()
