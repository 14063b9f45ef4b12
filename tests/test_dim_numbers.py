"""Functions of dims are numbers everywhere (SPEC section 10, issue 13): ``sqrt(d)``,
``1/d``, ``d**0.5``, ``log(d)`` ... in nodes, closed forms, the compiled module, the check,
the torch reference, the autograd model and the notes.

In PyTorch ``torch.sqrt(4)`` is a TypeError; a dim is a Python int there, and a function of
it is a Python number (``math.sqrt(d)``).  The smallest case of the issue,
``dims: {d: 4}``, ``y: sum(x)/sqrt(d)``, used to compile to ``torch.rsqrt(4)``.
"""
import re

import pytest
import torch

import symgrad
from symgrad.codegen.module import module_source, load_module
from symgrad.codegen.plan import MODULE_NAMES
from symgrad.errors import SpecError
from symgrad.numeric.reference import TorchEval
from conftest import eval_back
from test_compile import _free_names
from test_schedule_ops import pytorch_facts, model_facts

ISSUE = "dims: {d: 4}\ninputs:\n  x: {shape: [d]}\nnodes:\n  y: sum(x)/sqrt(d)\n"

DIM_EXPRS = ["sqrt(d)", "1/d", "d**0.5", "d**-0.5", "rsqrt(d)", "log(d)", "exp(-d)", "sqrt(d*n)/n",
             "sigmoid(d)", "lgamma(d)", "digamma(d)", "polygamma(1, n)", "exp2(n)", "log2(d)", "log10(d)",
             "reciprocal(d)", "atan(d)", "tanh(n/d)", "elu(n - d)", "erf(1/d)", "square(d)", "pow(d, 0.25)",
             "relu(d - n)", "leaky_relu(n - d, 0.1)", "softplus(-d)", "clamp(d, 0.0, 3.0)", "d*pi"]

# PyTorch's own function of an int, on a float64 0-d tensor, to compare with what symgrad computes
F64 = lambda f: lambda *a: f(*[torch.tensor(float(v), dtype=torch.float64) if isinstance(v, int) else v  # noqa: E731
                             for v in a]).item()


def spec_of(expr, out="x * (%s)"):
    return ("dims: {d: 4, n: 3}\ninputs:\n  x: {shape: [d], domain: positive}\n"
            "nodes:\n  y: %s\n  s: sum(y * y)\n" % (out % expr))


def test_the_issue_case_forward_gradients_and_check():
    d = symgrad.derive(symgrad.loads(ISSUE))
    assert d.gradient("y", "x").text == "ones_like(x)/sqrt(d)"
    src = module_source(d)
    assert "torch.sqrt(d)" not in src and "torch.rsqrt(d)" not in src and "math.sqrt(d)" in src
    assert "import math" in src
    m = load_module(src)
    x = torch.arange(1.0, 5.0, dtype=torch.float64)
    assert m.forward(x)["y"].item() == 5.0
    assert torch.equal(m.gradients(x)["y"]["x"], torch.full((4,), 0.5, dtype=torch.float64))
    x9 = torch.ones(9, dtype=torch.float64)                 # d is read off the shape: 9 -> 3
    assert m.forward(x9)["y"].item() == 3.0
    assert d.check().passed and d.check(dtype="float32").passed
    assert symgrad.derive(symgrad.loads(ISSUE)).check(fd=True).passed


@pytest.mark.parametrize("expr", DIM_EXPRS)
def test_a_function_of_dims_is_a_number_in_every_output(expr):
    d = symgrad.derive(symgrad.loads(spec_of(expr)))
    report = d.check()
    assert report.passed, [r.message for r in report.rows if not r.passed]
    src = module_source(d)
    assert not re.search(r"torch\.\w+\((d|n)\b", src), src         # no torch function of a dim
    assert _free_names(src) <= MODULE_NAMES | {"_forward", "_gradients"}
    m = load_module(src)
    x = torch.rand(4, dtype=torch.float64) + 0.5
    dims = {"d": 4, "n": 3}
    y = TorchEval({"x": x}, dims, torch.float64, "cpu").eval_text("x * (%s)" % expr)
    assert torch.allclose(m.forward(x)["s"], (y * y).sum(), rtol=1e-12)
    # the closed forms' text means the same in PyTorch, where the dims are Python ints
    g = eval_back(d, d.gradient("s", "x"), {"x": x, "y": y}, dims, torch.float64, "cpu")
    assert torch.allclose(m.gradients(x)["s"]["x"], g, rtol=1e-10)
    assert "$$" in d.render("md") and d.render("tex").count(r"\begin{document}") == 1


@pytest.mark.parametrize("expr,want", [
    ("sqrt(d)", 2.0), ("1/d", 0.25), ("d**0.5", 2.0), ("log(d)", F64(torch.log)(4)), ("exp(-d)", F64(torch.exp)(-4)),
    ("digamma(d)", F64(torch.digamma)(4)), ("lgamma(n)", F64(torch.lgamma)(3)), ("sigmoid(d - n)", F64(torch.sigmoid)(1)),
    ("elu(n - d, alpha=0.5)", 0.5 * (F64(torch.exp)(-1) - 1)), ("clamp(d, max=3.5)", 3.5),
])
def test_the_reference_computes_them_as_python_numbers(expr, want):
    v = TorchEval({}, {"d": 4, "n": 3}, torch.float32, "cpu").eval_text(expr)
    assert isinstance(v, (int, float)) and v == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("expr,msg", [
    ("sum(sqrt(d)) * x", "sum() needs a tensor, not a plain number"),
    ("sqrt(d).T * x", "a plain number has no .T"),
    ("softmax(log(d), 0) * x", "softmax() needs a tensor"),
])
def test_a_number_is_refused_where_pytorch_refuses_a_number(expr, msg):
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec_of(expr, "%s"))
    assert msg in str(e.value)


@pytest.mark.parametrize("expr", ["x * sqrt(d)", "x / sqrt(d)", "sqrt(d) * x + log(n)", "x ** (1/d)",
                                  "elu(x, alpha=1/d)", "clamp(x, max=sqrt(d))", "x * sigmoid(d)"])
def test_the_autograd_model_sees_a_python_number(expr):
    prob = symgrad.loads("dims: {d: 4, n: 3}\ninputs:\n  x: {shape: [4]}\nnodes:\n  y: %s\n" % expr)
    v, first = model_facts(prob)
    real = _pytorch_facts_with_dims(prob, expr)
    assert (v.grad_fn.name if v.grad_fn else None) == real["grad_fn"]
    assert (first is not None and first.saves) == real["raises"]
    if real["raises"]:
        assert first.raiser == real["raiser"] and {f for f, _ in first.saved} == real["saved"]
    if expr == "x * sqrt(d)":
        assert first.saved == (("other", "the scalar sqrt(d)"),)


def _pytorch_facts_with_dims(prob, expr):
    """`test_schedule_ops.pytorch_facts`, with the dims bound to Python ints."""
    import test_schedule_ops as ts
    orig = ts.TorchEval
    ts.TorchEval = lambda env, dims, dt, dev: orig(env, {"d": 4, "n": 3}, dt, dev)
    try:
        return pytorch_facts(prob, expr)
    finally:
        ts.TorchEval = orig


def test_a_spec_named_math_keeps_math():
    spec = ("dims: {math: 4}\ninputs:\n  x: {shape: [math]}\n  torch: {shape: [math]}\n"
            "nodes:\n  y: sum(x * torch)/sqrt(math) + log(math)\n")
    d = symgrad.derive(symgrad.loads(spec))
    src = module_source(d)
    assert "math.sqrt(math_)" in src
    m = load_module(src)
    x = torch.ones(4, dtype=torch.float64)
    assert m.forward(x, 2 * x)["y"].item() == pytest.approx(4.0 + float(torch.log(torch.tensor(4.0))))
    assert d.check().passed
