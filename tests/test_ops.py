"""Every function of the op table: derived, compiled and checked against torch.autograd.

Generated from `tests/op_cases.py` (every op on several shapes, broadcasting included);
a scalar output is checked through d/dx, a non-scalar one as a vector-Jacobian product
with a random upstream gradient.  The closed forms' text also parses back.
"""
import pytest
import yaml

import symgrad
from symgrad.ops import FUNCTIONS
from symgrad.spec.expr import parse_expr_text
from op_cases import CASES
from conftest import parse_back, eval_back


def spec_for(expr, inputs):
    """inputs: name -> (shape, domain) or (shape, domain, value): a value puts the case exactly
    on a tie or a kink, where PyTorch's subgradient must be matched."""
    spec = {"inputs": {}, "nodes": {"y": expr}}
    for name, v in inputs.items():
        shape, domain = v[0], v[1]
        spec["inputs"][name] = input_fields(shape, domain, not name.startswith("c"))
        if len(v) > 2:
            spec["inputs"][name]["value"] = v[2]
    return yaml.safe_dump(spec, sort_keys=False)


def input_fields(shape, domain, requires_grad):
    """An input's YAML fields; the domain "long:C" is an integer input with values in [0, C)
    (C an int or a dim name) and "bool" a bool input -- neither requires grad."""
    if domain.startswith("long:"):
        high = domain[len("long:"):]
        return {"shape": shape, "dtype": "long", "high": int(high) if high.isdigit() else high}
    if domain == "bool":
        return {"shape": shape, "dtype": "bool"}
    return {"shape": shape, "domain": domain, "requires_grad": requires_grad}


ALL = [(name, i, expr, inputs) for name, cases in CASES.items() for i, (expr, inputs) in enumerate(cases)]


def test_every_op_has_cases():
    missing = sorted(set(FUNCTIONS) - set(CASES))
    assert not missing, "ops without test cases: %s" % missing


@pytest.mark.parametrize("name,i,expr,inputs", ALL, ids=["%s-%d" % (a[0], a[1]) for a in ALL])
def test_op_matches_autograd(name, i, expr, inputs):
    d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
    report = d.check(dtype="float64", seed=i)
    bad = [r for r in report.rows if not r.passed]
    assert not bad, "\n".join("%s/%s: %s abs=%g rel=%g\n  closed form: %s" % (
        r.output, r.wrt, r.message, r.max_abs_err, r.max_rel_err, d.gradient(r.output, r.wrt).text) for r in bad)


@pytest.mark.parametrize("name,i,expr,inputs", ALL, ids=["%s-%d" % (a[0], a[1]) for a in ALL])
def test_closed_form_text_round_trips(name, i, expr, inputs):
    d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
    env = dict(d.problem.tensors)
    env.update({name: sym for name, (sym, _) in d.problem.dims.items()})
    for g in d.gradients:
        if g.upstream:
            from symgrad.tensor import Tensor
            env[g.upstream] = Tensor(g.upstream, d.problem.tensors[g.output].tshape, real=True)
        back = parse_back(d, g, env)
        assert (back - g.expr).expand() == 0 or symgrad_equal(back, g.expr), (g.text, back, g.expr)


def symgrad_equal(a, b):
    import sympy
    return sympy.simplify(a - b) == 0


@pytest.mark.parametrize("name,i,expr,inputs", ALL, ids=["%s-%d" % (a[0], a[1]) for a in ALL])
def test_closed_form_text_means_the_same_in_pytorch(name, i, expr, inputs):
    """Evaluate each gradient's text with real torch ops: it equals autograd's gradient."""
    import torch
    from symgrad.numeric.check import reference
    from symgrad.numeric.inputs import draw_inputs, dim_values
    from symgrad.numeric.reference import TorchEval
    d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
    prob = d.problem
    dims = dim_values(prob)
    x = draw_inputs(prob, dims, torch.float64, "cpu", i)
    env, leaves = reference(prob, x, dims, torch.float64, "cpu")
    out = env["y"]
    seed = torch.randn(out.shape, dtype=torch.float64) if out.numel() != 1 else None
    wrt = [leaves[w] for w in prob.wrt]
    want = torch.autograd.grad(out, wrt, grad_outputs=seed, allow_unused=True)
    plain = {k: v.detach() for k, v in env.items()}
    if seed is not None:
        plain["grad_y"] = seed
    for w, t, g in zip(prob.wrt, wrt, want):
        got = eval_back(d, d.gradient("y", w), plain, dims, torch.float64, "cpu")
        got = torch.as_tensor(got, dtype=torch.float64).expand(t.shape)
        ref = torch.zeros_like(t) if g is None else g
        assert torch.allclose(got, ref, rtol=1e-7, atol=1e-9), (w, d.gradient("y", w).text)
