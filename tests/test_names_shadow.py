"""Backward compatibility (issue 13): a 0.1 spec whose inputs or nodes are named like a
function of the op table (``var``, ``max``, ``min``, ``diag``, ``clamp`` ...) keeps working.

A spec's own names shadow functions where they are used as values; a call ``max(x)`` (or a
method ``x.max()``) is still the function -- so every function name of the op table can be
an input, a node, and be called in the same spec, through every output (closed forms,
check, compiled module, autograd model, notes).
"""
import pytest
import torch

import symgrad
from symgrad.codegen.module import module_source, load_module
from symgrad.ops import FUNCTIONS
from test_schedule_ops import agree

NAMES = sorted(set(FUNCTIONS) - {"where"})      # where: a node's name below


def shadow_spec(names):
    """Every name an input; sums of them in nodes (chains of at most 20 terms), a node named
    like a function too, and calls of functions whose names are inputs."""
    lines = ["inputs:"] + ["  %s: {shape: [3], domain: positive}" % n for n in names] + ["nodes:"]
    parts = []
    for k in range(0, len(names), 20):
        name = "part%d" % (k // 20)
        lines.append("  %s: %s" % (name, " + ".join(names[k:k + 20])))
        parts.append(name)
    lines.append("  where: exp(clamp(maximum, min=minimum)) * elu(exp) + exp.clamp(max=clip) + sum(sum) * log(log)")
    lines.append("  loss: sum(where * (%s)) + where.sum() * mean(mean)" % " + ".join(parts))
    lines.append("backward: [loss.backward()]")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def derived():
    need = {"maximum", "minimum", "clamp", "clip", "elu", "exp", "sum", "log", "mean"}
    assert need <= set(NAMES) and "where" in FUNCTIONS
    return symgrad.derive(symgrad.loads(shadow_spec(NAMES)))


def test_every_function_name_can_be_an_input(derived):
    d = derived
    assert [x.name for x in d.problem.inputs] == NAMES
    assert d.gradient("loss", "clamp").text == "where"                      # the node named where
    assert d.gradient("loss", "clip").text == "grad_where*(exp > clip) + where"
    assert "exp(clamp(maximum, min=minimum))*(maximum >= minimum)" in d.gradient("loss", "maximum").text
    report = d.check()
    assert report.passed and report.schedule_passed, \
        [(r.wrt, r.message) for r in report.rows if not r.passed][:5]


def test_the_compiled_module_takes_the_spec_names(derived):
    m = load_module(module_source(derived))
    assert m.INPUTS == tuple(NAMES)
    gen = torch.Generator().manual_seed(0)
    xs = {n: torch.rand(3, generator=gen, dtype=torch.float64) + 0.5 for n in NAMES}
    leaves = {n: t.clone().requires_grad_() for n, t in xs.items()}
    from symgrad.numeric.reference import TorchEval
    env = dict(leaves)
    for node in derived.problem.nodes:
        env[node.name] = TorchEval(env, {}, torch.float64, "cpu").eval_text(node.text)
    want = torch.autograd.grad(env["loss"], [leaves[n] for n in NAMES])
    got = m.gradients(**xs)["loss"]
    for n, w in zip(NAMES, want):
        assert torch.allclose(got[n], w, rtol=1e-10), n


def test_notes_name_them_as_values_and_as_functions(derived):
    md = derived.render("md")
    assert r"\max\left(\mathit{maximum}, \mathit{minimum}\right)" in md      # clamp(maximum, min=minimum)
    assert r"\operatorname{elu}\left(\mathit{exp}\right)" in md
    assert "\\begin{document}" in derived.render("tex")


@pytest.mark.parametrize("expr,inputs", [
    ("clamp(clamp, -0.5, 0.5) * maximum", {"clamp": ([3], "real"), "maximum": ([3], "real")}),
    ("maximum(maximum, minimum) + minimum.minimum(maximum)", {"maximum": ([3], "real"), "minimum": ([3], "real")}),
    ("elu(elu) * exp.exp()", {"elu": ([3], "real"), "exp": ([3], "real")}),
    ("sum(sum * mean) + mean.sum()", {"sum": ([3], "real"), "mean": ([3], "real")}),
])
def test_the_autograd_model_with_shadowing_names(expr, inputs):
    agree(expr, inputs)
