"""The house: stages as packages, no import cycle, small modules, one place per op.

The import graph is read from the source (every ``import`` statement, at module level or
inside a function), so a cycle hidden in a function body fails here too.
"""
import ast
import os
import re

import pytest

from conftest import ROOT

PKG = os.path.join(ROOT, "symgrad")
MAX_LINES = 450
MAX_TOP_MODULES = 10


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def modules():
    out = {}
    for dirpath, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                name = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
                out[name] = path
    return out


def imports(name, path, known):
    """The symgrad modules that ``name`` imports, anywhere in its source."""
    tree = ast.parse(read(path))
    is_pkg = path.endswith("__init__.py")
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[:len(base) - node.level + 1]
                mod = ".".join(parts + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [mod + "." + a.name for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("symgrad"):
                out.add(t)
    return out


def graph():
    mods = modules()
    return {n: imports(n, p, mods) for n, p in mods.items()}


def find_cycle(g, inits=()):
    """A cycle of the graph as a list of modules, or None (package __init__s excluded:
    importing ``symgrad.ops.x`` runs ``symgrad.ops`` first, which is not a dependency)."""
    edges = {n: {m for m in v if m not in inits} for n, v in g.items() if n not in inits}
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None
    for n in sorted(edges):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def test_no_import_cycle():
    mods = modules()
    cycle = find_cycle(graph(), {n for n, p in mods.items() if os.path.basename(p) == "__init__.py"})
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name,path", sorted(modules().items()))
def test_module_is_small(name, path):
    n = read(path).count("\n")
    assert n <= MAX_LINES, "%s has %d lines (at most %d)" % (name, n, MAX_LINES)


@pytest.mark.parametrize("name,path", sorted(modules().items()))
def test_module_says_what_it_owns(name, path):
    doc = ast.get_docstring(ast.parse(read(path)))
    assert doc and len(doc) > 20, "%s has no docstring saying what it owns" % name


def test_few_modules_at_the_top():
    top = [f for f in os.listdir(PKG) if f.endswith(".py")]
    assert len(top) <= MAX_TOP_MODULES, sorted(top)


DTYPE_NAMES = {"float", "long", "bool", "double"}   # dtypes (SPEC section 10) and casts: x.float(), x.double()


def test_an_op_is_named_in_at_most_one_file_outside_the_op_package():
    from symgrad.ops import FUNCTIONS
    sources = {p: read(p) for n, p in modules().items()
               if not n.startswith("symgrad.ops") and n != "symgrad"}     # (symgrad's __all__: API names)
    for name in FUNCTIONS:
        if len(name) < 2 or name in DTYPE_NAMES:
            continue            # "t" is a transpose and also every other one-letter name
        # a quoted name, not a dict key (``c.a["full"]`` is an argument called full)
        quoted = re.compile(r"(?<!\[)[\"']%s[\"']" % re.escape(name))
        where = {_place(os.path.relpath(p, ROOT)) for p, s in sources.items() if quoted.search(s)}
        assert len(where) <= 1, "%s is named in %s" % (name, sorted(where))


def _place(path):
    """The tracer's vocabulary (ATen op -> spec spelling) is one table spread over a package."""
    return "symgrad/trace/vocab" if path.startswith(os.path.join("symgrad", "trace", "vocab")) else path
