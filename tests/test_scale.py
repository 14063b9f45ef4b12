"""Deriving a long elementwise chain costs the same per node at any length (issue 10).

Wall-clock time is measured by ``bench/chain_scaling.py``; these tests pin down, cheaply and
deterministically, the mechanisms that make it linear:

* every step of the reverse sweep simplifies a bounded expression: an adjoint that grows
  beyond `HIDE_ABOVE` arithmetic nodes enters later steps as one `Hidden` symbol (before,
  the product of all local partials was re-walked and re-simplified at every node);
* SymPy's calculus and simplification run once per distinct local question, not once per
  node (`symgrad.diff.canon.up_to_renaming`), and the autograd graph is built once per problem,
  each template's text once;
* no `Hidden` symbol is ever seen outside the sweep, and the closed forms are still right.
"""
import importlib

import pytest
import sympy

import symgrad
from symgrad.autograd.recorded import autograd_graph
from symgrad.diff.canon import up_to_renaming, rename

derive_mod = importlib.import_module("symgrad.diff.sweep")
simplify_mod = importlib.import_module("symgrad.diff.simplify")
autograd_mod = importlib.import_module("symgrad.autograd.recorded")
shapes_mod = importlib.import_module("symgrad.autograd.shapes")

TEMPLATES = ["sin({a})*{a} + exp(-{a})", "tanh({a})", "sigmoid({a})*{a}", "{a}**2/4 - {a}",
             "exp(-{a}**2) + {a}/2", "log1p({a}**2) + {a}"]


def chain(n, backward=True):
    lines = ["inputs:", "  x: {shape: [3]}", "nodes:", "  h1: tanh(x)"]
    for k in range(2, n + 1):
        lines.append("  h%d: %s" % (k, TEMPLATES[k % len(TEMPLATES)].format(a="h%d" % (k - 1))))
    lines.append("  loss: sum(h%d)" % n)
    if backward:
        lines += ["retain_grad: [h%d]" % (n // 2), "backward:", "  - loss.backward()"]
    return "\n".join(lines) + "\n"


def visible_size(e):
    flat, _ = simplify_mod.opaque(e)
    return simplify_mod.size(flat)


def tidy_sizes(monkeypatch, n):
    sizes = []
    real = derive_mod.tidy

    def recording(e):
        sizes.append(visible_size(e))
        return real(e)
    monkeypatch.setattr(derive_mod, "tidy", recording)
    d = symgrad.derive(symgrad.loads(chain(n, backward=False)))
    monkeypatch.setattr(derive_mod, "tidy", real)
    return d, sizes


def test_each_step_simplifies_a_bounded_expression(monkeypatch):
    _, short = tidy_sizes(monkeypatch, 40)
    _, long = tidy_sizes(monkeypatch, 160)
    bound = 2 * derive_mod.HIDE_ABOVE
    assert max(long) <= bound and max(short) <= bound, (max(short), max(long))
    assert len(long) <= 4 * len(short) + 8          # one tidy per node


def test_sympy_runs_once_per_distinct_local_question(monkeypatch):
    calls = {"diff": 0, "factor_terms": 0}
    real_diff, real_ft = sympy.diff, simplify_mod.factor_terms

    def diff(*a, **k):
        calls["diff"] += 1
        return real_diff(*a, **k)

    def factor_terms(*a, **k):
        calls["factor_terms"] += 1
        return real_ft(*a, **k)
    monkeypatch.setattr(sympy, "diff", diff)
    monkeypatch.setattr(simplify_mod, "factor_terms", factor_terms)
    for f in (derive_mod._derivative, simplify_mod._factor_terms, simplify_mod._simplest):
        f.cache_clear()
    symgrad.derive(symgrad.loads(chain(240, backward=False)))
    # 240 nodes from 6 templates: a handful of derivatives, not one per node
    assert calls["diff"] <= 3 * len(TEMPLATES), calls
    assert calls["factor_terms"] <= 60, calls


def test_the_autograd_graph_and_each_template_are_built_once(monkeypatch):
    prob = symgrad.loads(chain(60))
    ag = autograd_graph(prob)
    d = symgrad.derive(prob)
    assert d.schedule.autograd is ag and autograd_graph(prob) is ag
    builds = []
    real = shapes_mod.Recorder.build

    def build(self, node, depth=0):
        if depth == 0:
            builds.append(node)
        return real(self, node, depth)
    monkeypatch.setattr(shapes_mod.Recorder, "build", build)
    shapes_mod._SHAPES.clear()
    autograd_mod._build(symgrad.loads(chain(120)))
    assert len(builds) <= len(TEMPLATES) + 3, len(builds)


def test_hidden_adjoints_never_leak_and_the_chain_is_right():
    d = symgrad.derive(symgrad.loads(chain(150)))
    texts = [g.text for g in d.gradients] + [g.latex for g in d.gradients]
    texts += [d.schedule.text(n) or "" for n in d.schedule.names]
    texts += [str(st.contribution) for st in d.sweeps["loss"].steps[:50]]
    assert not any("\x02" in t for t in texts)
    for g in d.gradients:
        assert not g.expr.atoms(derive_mod.Hidden)
    report = d.check(seed=1)
    assert report.passed, [r.message for r in report.rows]
    from symgrad.autograd.proof import prove
    rows, ok = prove(d)
    assert ok, "\n".join(r.line() for r in rows)


def test_a_chain_that_uses_the_two_nodes_before_derives_in_linear_size():
    # h_k uses h_{k-1} and h_{k-2}: the adjoint is a sum over exponentially many paths as a
    # tree, but the sweep builds it as a DAG of linear size (each adjoint once, shared)
    lines = ["inputs:", "  x: {shape: [3]}", "nodes:", "  h1: tanh(x)", "  h2: sin(h1)*h1 + exp(-h1)"]
    for k in range(3, 41):
        lines.append("  h%d: tanh(h%d) + h%d/2" % (k, k - 1, k - 2))
    lines.append("  loss: sum(h40)")
    d = symgrad.derive(symgrad.loads("\n".join(lines) + "\n"))
    g = d.gradient("loss", "x").expr
    seen, stack = set(), [g]
    while stack:
        e = stack.pop()
        if id(e) not in seen:
            seen.add(id(e))
            stack.extend(e.args)
    assert len(seen) < 3000, len(seen)


def test_a_deep_network_is_not_rewalked_at_every_layer(monkeypatch):
    # tanh(h @ W_k) layers: each contribution holds the incoming adjoint whole (G @ W.T);
    # replacing forward values by name must not walk it again at every layer
    import sys, os
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    from _common import chain_spec
    from sympy.core.basic import Basic
    count = [0]
    real = Basic._xreplace

    def counting(self, rule):
        count[0] += 1
        return real(self, rule)
    monkeypatch.setattr(Basic, "_xreplace", counting)
    calls = []
    for layers in (30, 60):
        count[0] = 0
        symgrad.derive(symgrad.loads(chain_spec(layers)))
        calls.append(count[0])
    assert calls[1] <= 2.5 * calls[0], calls          # linear, not quadratic (4x)


# --- the renaming memo itself -----------------------------------------------------------------

def test_up_to_renaming_gives_the_direct_answer():
    from symgrad.tensor import Tensor
    calls = []

    @up_to_renaming
    def f(e):
        calls.append(e)
        return sympy.factor_terms(e)
    a, b = Tensor("a", (3,), real=True), Tensor("b", (3,), real=True)
    p, q = Tensor("p", (3,), domain="positive", positive=True), Tensor("q", (3,), real=True)
    e1 = 2 * a * sympy.exp(b) + 4 * a
    e2 = 2 * q * sympy.exp(p) + 4 * q          # other names, other assumptions: no hit
    e3 = 2 * b * sympy.exp(a) + 4 * b          # the names swapped: the same question
    for e in (e1, e2, e3, e1):
        assert f(e) == sympy.factor_terms(e)
    assert len(calls) == 3                      # e1 again is a hit; e3 is not e1 renamed
    # kept unevaluated: 2*(x + y) stays a product when renamed
    x, y = sympy.symbols("x y")
    u = sympy.Mul(2, x + y, evaluate=False)
    r = rename(u, {x: y, y: x})
    assert isinstance(r, sympy.Mul) and r.args[0] == 2


@pytest.mark.parametrize("n", [70, 140])
def test_closed_form_is_a_product_of_n_local_partials(n):
    d = symgrad.derive(symgrad.loads(chain(n, backward=False)))
    g = d.gradient("loss", "x").expr
    assert isinstance(g, sympy.Mul) and len(g.args) >= n // 2


def test_a_long_schedule_costs_the_same_per_step(monkeypatch):
    # the .grad of each tensor is kept as a growing sum, not rebuilt from all the parts
    # (and hashed as a tuple of them) at every step
    import os
    from sympy.core.basic import Basic
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "examples", "multi_loss.yaml")) as f:
        head = f.read().split("backward:")[0]
    count = [0]
    real = Basic.__hash__

    def counting(self):
        count[0] += 1
        return real(self)
    costs = []
    for n in (100, 400):
        text = head + "backward:\n" + "".join("  - %s.backward(retain_graph=True)\n" % "de"[k % 2] for k in range(n))
        d = symgrad.derive(symgrad.loads(text))
        monkeypatch.setattr(Basic, "__hash__", counting)
        count[0] = 0
        s = d.schedule
        monkeypatch.setattr(Basic, "__hash__", real)
        costs.append(count[0])
        assert s.text("a") == "%d*a" % (5 * n // 2)
    assert costs[1] <= 6 * costs[0], costs           # linear: 4x; quadratic: 16x
