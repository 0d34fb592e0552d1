"""The `acyclic` import contract (tests/architecture/contracts.py) finds a cycle of modules,
also one that runs through two packages, and names one chain of imports round it."""

import grimp

from tests.architecture.contracts import cycles


def test_a_cycle_through_two_packages_is_found_with_a_chain_round_it(tmp_path, monkeypatch):
    # given low.a -> high.b -> low.c -> low.a, and low.d importing into the cycle from outside
    sources = {
        "low/__init__.py": "",
        "low/a.py": "import high.b\n",
        "low/c.py": "import low.a\n",
        "low/d.py": "import low.a\n",
        "high/__init__.py": "",
        "high/b.py": "from low import c\n",
    }
    for name, text in sources.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("low", "high", cache_dir=None)
    # when
    found = cycles(graph, graph.modules)
    # then
    assert found == [(["high.b", "low.a", "low.c"], ["high.b", "low.c", "low.a", "high.b"])]


def test_modules_that_import_each_other_in_one_direction_only_make_no_cycle(tmp_path, monkeypatch):
    # given
    (tmp_path / "one").mkdir()
    (tmp_path / "one/__init__.py").write_text("")
    (tmp_path / "one/a.py").write_text("import one.b\n")
    (tmp_path / "one/b.py").write_text("import one.c\n")
    (tmp_path / "one/c.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("one", cache_dir=None)
    # when / then
    assert cycles(graph, graph.modules) == []
