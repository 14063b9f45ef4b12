"""The elementwise functions of SPEC section 10 beyond the op table's generated tests:
PyTorch's gradients at ties and kinks where they are NaN (which a check counts as a
failure), what PyTorch refuses, and every formula of their notes rendering in KaTeX.

The generated tests (`tests/test_ops.py`, `tests/test_schedule_ops.py`) run every case of
`tests/op_cases_elementwise.py`, ties and kinks included, against autograd.
"""
import os
import re
import shutil

import pytest
import torch

import symgrad
from symgrad.codegen.module import compile_module, module_source
from symgrad.errors import SpecError
from op_cases_elementwise import CASES
from test_render import KATEX, formulas, run_katex


def compiled_vs_autograd(expr, values, wrt):
    """(closed forms, autograd) at exactly the given values (float64), for the output y."""
    spec = "inputs:\n" + "".join("  %s: {shape: [%d], requires_grad: %s}\n" % (k, len(v), k in wrt)
                                 for k, v in values.items()) + "nodes:\n  y: %s\n" % expr
    d = symgrad.derive(symgrad.loads(spec))
    m = compile_module(d)
    xs = {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}
    seed = torch.ones(len(next(iter(values.values()))), dtype=torch.float64)
    got = m.gradients(*[xs[k] for k in values], **({"grad_y": seed} if d.gradients[0].upstream else {}))["y"]
    leaves = {k: t.clone().requires_grad_(k in wrt) for k, t in xs.items()}
    from symgrad.numeric.reference import TorchEval
    y = TorchEval(leaves, {}, torch.float64, "cpu").eval_text(expr)
    want = torch.autograd.grad(y, [leaves[k] for k in wrt], seed)
    return {k: got[k] for k in wrt}, dict(zip(wrt, want))


def test_xlogy_at_zero_is_pytorchs_nan_included():
    # xlogy(0, 0): grad_input 0 (masked), grad_other NaN (0/0); xlogy(0, 2): log 2
    got, want = compiled_vs_autograd("xlogy(x, z)", {"x": [0.0, 0.0, 1.0], "z": [0.0, 2.0, 3.0]}, ["x", "z"])
    for k in ("x", "z"):
        assert torch.equal(got[k].isnan(), want[k].isnan()), k
        assert torch.allclose(got[k].nan_to_num(), want[k].nan_to_num(), rtol=1e-12, atol=0), k
    assert got["x"].tolist()[:2] == [0.0, pytest.approx(0.6931471805599453)] and got["z"][0].isnan()


def test_atan2_at_the_origin_is_zero():
    got, want = compiled_vs_autograd("atan2(x, z)", {"x": [0.0, 1.0, 0.0], "z": [0.0, 0.0, -1.0]}, ["x", "z"])
    assert got["x"].tolist() == want["x"].tolist() == [0.0, 0.0, -1.0]
    assert got["z"].tolist() == want["z"].tolist()


MEASURED = [    # (expr, input values, gradients for an upstream gradient of ones): OPS.md, torch 2.13
    ("maximum(x, z)", {"x": [1.0, 2.0, 3.0], "z": [1.0, 0.0, 5.0]}, {"x": [0.5, 1.0, 0.0], "z": [0.5, 0.0, 1.0]}),
    ("minimum(x, z)", {"x": [1.0, 2.0, 3.0], "z": [1.0, 0.0, 5.0]}, {"x": [0.5, 0.0, 1.0], "z": [0.5, 1.0, 0.0]}),
    ("clamp(x, -1.0, 1.0)", {"x": [-1.0, 1.0, 0.0, 2.0, -2.0]}, {"x": [1.0, 1.0, 1.0, 0.0, 0.0]}),
    ("clamp(x, 1.0, -1.0)", {"x": [-2.0, 0.0, 1.0, -1.0, 2.0]}, {"x": [0.0] * 5}),
    ("clamp(x, a, b)", {"x": [-1.0, 1.0, 0.0, 2.0, -2.0], "a": [-1.0] * 5, "b": [1.0] * 5},
     {"x": [1.0, 1.0, 1.0, 0.0, 0.0], "a": [0.0, 0.0, 0.0, 0.0, 1.0], "b": [0.0, 0.0, 0.0, 1.0, 0.0]}),
    ("clamp(x, a, b)", {"x": [-2.0, 0.0, 2.0], "a": [0.0] * 3, "b": [0.0] * 3},
     {"x": [0.0, 1.0, 0.0], "a": [0.0, 0.0, 0.0], "b": [0.0, 0.0, 1.0]}),
    ("clamp(x, a, b)", {"x": [-2.0, 0.0, 2.0], "a": [1.0] * 3, "b": [-1.0] * 3},
     {"x": [0.0, 0.0, 0.0], "a": [0.0, 0.0, 0.0], "b": [1.0, 1.0, 1.0]}),
    ("hardtanh(x)", {"x": [-1.0, 1.0, 0.0, 2.0]}, {"x": [0.0, 0.0, 1.0, 0.0]}),
    ("relu6(x)", {"x": [0.0, 6.0, 3.0, -1.0, 7.0]}, {"x": [0.0, 0.0, 1.0, 0.0, 0.0]}),
    ("elu(x)", {"x": [0.0, -0.0]}, {"x": [1.0, 1.0]}),
    ("elu(x, 0.5) + elu(x, 2.0)", {"x": [0.0]}, {"x": [2.5]}),
    ("selu(x)", {"x": [0.0]}, {"x": [1.758099340847]}),
    ("celu(x) + celu(x, 2.0)", {"x": [0.0]}, {"x": [2.0]}),
    ("softsign(x)", {"x": [0.0]}, {"x": [1.0]}),
    ("abs(x)", {"x": [0.0, -0.0, 1.0, -2.0]}, {"x": [0.0, 0.0, 1.0, -1.0]}),
    ("relu(x)", {"x": [0.0, 1.0, -1.0]}, {"x": [0.0, 1.0, 0.0]}),
    ("leaky_relu(x, 0.2)", {"x": [0.0, 1.0, -1.0]}, {"x": [0.2, 1.0, 0.2]}),
]


@pytest.mark.parametrize("expr,values,grads", MEASURED, ids=[m[0] for m in MEASURED])
def test_measured_tie_and_kink_gradients(expr, values, grads):
    got, want = compiled_vs_autograd(expr, values, list(values))
    for k, v in grads.items():
        assert want[k].tolist() == pytest.approx(v, rel=1e-10), ("PyTorch", k)
        assert got[k].tolist() == pytest.approx(v, rel=1e-10), ("closed form", k)


@pytest.mark.parametrize("expr,msg", [
    ("maximum(x, 0.0)", "maximum() needs a tensor"),
    ("minimum(2.0, x)", "minimum() needs a tensor"),
    ("atan2(x, 1.0)", "atan2() needs a tensor"),
    ("clamp(x)", "at least one of 'min' or 'max' must not be None"),
    ("clip(x, None, None)", "at least one of 'min' or 'max'"),
    ("clamp(x, 0.0, z)", "must both be numbers or both tensors"),
    ("hardtanh(x, 1.0, -1.0)", "min_val cannot be greater than max_val"),
    ("elu(x, inplace=True)", "inplace=True is not supported"),
    ("celu(x, 0.0)", "alpha cannot be 0"),
    ("polygamma(-1, x)", "n must be a nonnegative integer"),
    ("polygamma(x, 1)", "n must be an integer literal"),
    ("xlogy(2.0, 3.0)", "not two plain numbers"),
    ("elu(x > 0)", "not defined for a comparison"),
    ("relu6(x, 6)", "inplace must be True or False"),
    ("hardtanh(x, min_val=z)", "min_val must be a number"),
    ("elu(x, alpha=0.5, beta=1)", "unexpected keyword argument 'beta'"),
])
def test_what_pytorch_refuses_is_a_spec_error(expr, msg):
    spec = "inputs: {x: {shape: [3]}, z: {shape: [3]}}\nnodes: {y: '%s'}\n" % expr
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec)
    assert msg in str(e.value) and str(e.value).startswith("<spec>:2:"), str(e.value)


def test_pytorch_accepts_what_the_spec_accepts():
    """The calls above that PyTorch refuses raise there too; these run in both."""
    x, z = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    F = torch.nn.functional
    with pytest.raises(TypeError):
        torch.maximum(x, 0.0)
    with pytest.raises(TypeError):
        torch.clamp(x, 0.0, z)
    with pytest.raises(ValueError):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(TypeError):
        torch.xlogy(2.0, 3.0)
    for call in (torch.clamp(x, min=z), torch.clip(x, max=0.3), torch.xlogy(2.0, z), torch.xlogy(x, 2.0),
                 F.hardtanh(x, min_val=0.0, max_val=6.0, inplace=False), F.elu(x, 2.0, False), torch.polygamma(2, z)):
        assert call.shape == (3,)


EVERY = {  # one node per function (and variant), on inputs of the right domains
    "inputs": "x: {shape: [2, 3]}, a: {shape: [3]}, b: {shape: [2, 1]}, p: {shape: [3], domain: positive}, "
              "u: {shape: [3], domain: unit}",
    "nodes": ["maximum(x, a)", "minimum(x, b)", "clamp(x, -0.5, 0.5)", "clamp(x, min=a)", "x.clip(max=b)",
              "clamp(x, a, b)", "asin(u) + acos(u) + atan(x)", "atan2(x, a)", "log2(p) + log10(p) + exp2(a)",
              "reciprocal(p)", "lgamma(p) + digamma(p) + polygamma(2, p)", "xlogy(x, p) + xlogy(u, u)",
              "elu(x) + elu(x, alpha=0.5)", "selu(x)", "celu(x, 2.0)", "mish(x)", "hardtanh(x, -0.5, 0.5)",
              "relu6(x * 4)", "logsigmoid(x)", "softsign(x)", "tanhshrink(x)"],
}


def every_spec():
    nodes = ["  n%d: %s" % (k, e) for k, e in enumerate(EVERY["nodes"])]
    total = " + ".join("sum(n%d)" % k for k in range(len(nodes)))
    return "inputs: {%s}\nnodes:\n%s\n  loss: %s\n" % (EVERY["inputs"], "\n".join(nodes), total)


def test_every_function_is_in_the_notes_spec():
    used = {n for e in EVERY["nodes"] for n in CASES if re.search(r"\b%s\(" % n, e)}
    assert used == set(CASES) - {"abs", "sign", "relu", "leaky_relu"}


@pytest.mark.skipif(not shutil.which("node") or not os.path.isdir(KATEX),
                    reason="node or node_modules/katex missing (npm install --no-save katex@0.16)")
def test_every_formula_of_their_notes_renders_in_katex(tmp_path):
    d = symgrad.derive(symgrad.loads(every_spec()))
    assert d.check().passed
    items = [[t, disp, "every"] for t, disp in formulas(d.render("md"))]
    assert d.render("tex").count("\\begin{document}") == 1
    res = run_katex(items, tmp_path)
    assert res["n"] > 100 and not res["bad"], "\n".join(res["bad"][:20])


def test_spellings_in_latex_and_torch():
    spec = ("inputs: {x: {shape: [3]}, z: {shape: [3], domain: positive}}\n"
            "nodes: {y: 'clamp(x, min=z) + clamp(x, max=z) + maximum(x, z) + lgamma(z) + log2(z) + digamma(z)"
            " + elu(x, 0.5) + hardtanh(x) + xlogy(x, z) + atan2(x, z) + logsigmoid(x)'}\n")
    d = symgrad.derive(symgrad.loads(spec))
    md = d.render("md")
    for s in (r"\max\left(x, z\right)", r"\min\left(x, z\right)", r"\log\left|\Gamma\left(z\right)\right|",
              r"\psi\left(z\right)", r"\alpha = \frac{1}{2}", r"\operatorname{hardtanh}", r"\log\sigma"):
        assert s in md, s
    src = module_source(d)
    for s in ("torch.clamp(x, min=z)", "torch.clamp(x, max=z)", "torch.maximum(x, z)", "torch.lgamma(z)",
              "torch.nn.functional.elu(x, (1/2))", "torch.xlogy(x, z)", "torch.atan2(x, z)"):
        assert s in src, s


def torch_params(fn):
    """(name, default) of a PyTorch function's positional parameters, from its signature or,
    for a builtin, the first line of its docstring (``clamp(input, min=None, max=None, *,
    out=None) -> Tensor``)."""
    import inspect
    try:
        return [(p.name, None if p.default is inspect.Parameter.empty else p.default)
                for p in inspect.signature(fn).parameters.values() if p.kind != p.KEYWORD_ONLY]
    except (ValueError, TypeError):
        head = fn.__doc__.strip().splitlines()[0]
        inner = head[head.index("(") + 1:head.rindex(")")].split(", *")[0]
        out = []
        for part in inner.split(", "):
            name, _, default = part.partition("=")
            out.append((name.split(":")[0].strip(), eval(default) if default else None))
        return out


@pytest.mark.parametrize("name", sorted(set(CASES) - {"abs", "sign", "relu", "leaky_relu"}))
def test_argument_names_and_defaults_are_pytorchs(name):
    from symgrad.ops import FUNCTIONS, REQUIRED
    from symgrad.numeric.reference import resolve
    f = FUNCTIONS[name]
    want = torch_params(getattr(torch, name) if name == "clip" else resolve(f.torch))
    got = [(p.name, None if p.default is REQUIRED else p.default) for p in f.params]
    assert [n for n, _ in got] == [n for n, _ in want]
    same = lambda a, b: a == b if isinstance(b, (bool, type(None))) else float(a) == float(b)  # noqa: E731
    assert all(same(a, b) for (_, a), (_, b) in zip(got, want)), (got, want)
