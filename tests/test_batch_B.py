"""Batching rules of the moves, diagonals, einsum and the statistics (``TensorOp.batch``).

Each rule is checked as ``torch.vmap`` would be: the op applied to a batch of arguments
(leading batch dims, some of them size 1 or missing, logical dims that broadcast) must equal
the op applied to each member; and a Hessian through the op, in a small spec with named
dims, must match PyTorch.
"""
import itertools

import pytest
import torch
import yaml

import symgrad
from symgrad.printing.torchcode import to_torch
from symgrad.spec.expr import parse_expr_text
from symgrad.tensor import Tensor, shape_of

B = (2, 3)


def _run(e, values):
    env = {"torch": torch, "_dt": torch.float64, "_dev": None}
    env.update(values)
    return eval(to_torch(e), env)


def _member(value, b, shape):
    """Member ``b`` of a lifted value of logical ``shape`` (its leading dims broadcast to
    ``B``, its logical dims to ``shape``)."""
    lead = len(value.shape) - len(shape)
    full = value.expand(*(B[len(B) - lead:] + tuple(shape)))
    return full[b[len(B) - lead:]]


# (expression, {name: (logical shape, lifted value shape or None)})
CASES = [
    ("permute(x, (2, 0, 1))", {"x": ((2, 3, 4), B + (2, 3, 4))}),
    ("permute(x, (1, 0))", {"x": ((3, 2), (3, 3, 2))}),
    ("movedim(x, 0, -1)", {"x": ((2, 3, 4), (1, 2, 1, 4))}),
    ("flip(x, (0, 1))", {"x": ((3, 4), (2, 1, 3, 1))}),
    ("cumsum(x, 1)", {"x": ((3, 4), (2, 3, 3, 1))}),
    ("cumsum(x, 0)", {"x": ((4,), (3, 4))}),
    ("x.expand(2, 3, 4)", {"x": ((3, 1), (2, 3, 3, 1))}),
    ("x.repeat(2, 2)", {"x": ((3,), (2, 1, 1))}),
    ("x.repeat(1, 2, 1)", {"x": ((2, 3), B + (1, 3))}),
    ("diagonal(x)", {"x": ((3, 4), (2, 3, 1, 4))}),
    ("diagonal(x, 1, 0, 2)", {"x": ((3, 2, 4), B + (3, 2, 4))}),
    ("diagonal(x, -1, 1, 0)", {"x": ((4, 3), (3, 4, 3))}),
    ("diag(x)", {"x": ((3,), (2, 3, 3))}),
    ("diag(x, 1)", {"x": ((3,), (3, 1))}),
    ("diag(x, -2)", {"x": ((3,), B + (3,))}),
    ("diag(x)", {"x": ((3, 3), (3, 1, 3))}),
    ("diagonal_scatter(x, z)", {"x": ((3, 4), B + (1, 4)), "z": ((3,), (3, 3))}),
    ("diagonal_scatter(x, z, 1)", {"x": ((3, 3), None), "z": ((2,), B + (2,))}),
    ("diagonal_scatter(x, z, -1, 1, 2)", {"x": ((2, 3, 3), (3, 2, 3, 3)), "z": ((2, 2), None)}),
    ("diagonal_scatter(x, z, 0, 0, 2)", {"x": ((3, 2, 3), None), "z": ((2, 3), (2, 1, 1, 3))}),
    ("triu(x, 1)", {"x": ((3, 4), (2, 1, 3, 1))}),
    ("tril(x, -1)", {"x": ((2, 3, 3), (3, 1, 3, 3))}),
    ("einsum('ij,jk->ik', x, z)", {"x": ((2, 3), B + (2, 3)), "z": ((3, 4), None)}),
    ("einsum('ij,jk->ik', x, z)", {"x": ((2, 3), (3, 1, 3)), "z": ((3, 4), (2, 1, 3, 4))}),
    ("einsum('ii->i', x)", {"x": ((3, 3), (3, 1, 3))}),
    ("einsum('ii', x)", {"x": ((3, 3), (2, 3, 3, 1))}),
    ("einsum('ij->', x)", {"x": ((2, 3), (3, 1, 1))}),
    ("einsum('i,i->', x, z)", {"x": ((3,), (3, 1)), "z": ((3,), (2, 1, 1))}),
    ("einsum('iij->j', x)", {"x": ((3, 3, 2), (2, 3, 1, 3, 2))}),
    ("einsum('...ij,jk->...ik', x, z)", {"x": ((5, 2, 3), (3, 5, 2, 3)), "z": ((3, 4), None)}),
    ("prod(x, 1)", {"x": ((3, 4), (2, 3, 1, 4))}),
    ("prod(x)", {"x": ((3,), B + (3,))}),
    ("var(x, 0, keepdim=True)", {"x": ((3, 4), (3, 1, 4))}),
    ("std(x, 1, correction=0)", {"x": ((3, 4), B + (3, 4))}),
]


@pytest.mark.parametrize("expr,args", CASES, ids=["%s-%d" % (c[0], k) for k, c in enumerate(CASES)])
def test_batch_is_the_op_on_each_member(expr, args):
    syms = {n: Tensor(n, shape, real=True) for n, (shape, _) in args.items()}
    e = parse_expr_text(expr, dict(syms))
    op = e if e.tensors == tuple(syms[n] for n in args if n in {s.name for s in e.tensors}) else None
    assert op is not None, "the expression is not one op of the arguments: %s" % e
    gen = torch.Generator().manual_seed(0)
    values, lifted_syms, ups = {}, [], []
    for t in op.tensors:
        shape, lshape = args[t.name]
        up = lshape is not None
        v = torch.randn(lshape if up else shape, generator=gen, dtype=torch.float64)
        if t.name == "x" and expr.startswith("prod"):
            v = torch.where(v.abs() < 0.5, torch.zeros_like(v), v)     # zeros: the piecewise form
        values[t.name] = v
        lifted_syms.append(Tensor("b_" + t.name, tuple(v.shape), real=True) if up else t)
        ups.append(up)
    batched = op.batch(lifted_syms, ups, B)
    got = _run(batched, {("b_" + n if args[n][1] is not None else n): v for n, v in values.items()})
    out_shape = tuple(int(d) for d in shape_of(op))
    got = got.expand(B + out_shape)
    for b in itertools.product(*map(range, B)):
        member = {n: _member(v, b, args[n][0]) if args[n][1] is not None else v
                  for n, v in values.items()}
        want = _run(op, member)
        torch.testing.assert_close(got[b], want.expand(out_shape), rtol=1e-12, atol=1e-12)


def _hessian_spec(expr, inputs, dims, values=None):
    spec = {"dims": dims, "inputs": {}, "nodes": {"y": expr, "f": "sum(sin(y))"}, "outputs": ["f"]}
    for n, shape in inputs.items():
        spec["inputs"][n] = {"shape": shape}
        if values and n in values:
            spec["inputs"][n]["value"] = values[n]
    xs = list(inputs)
    spec["hessians"] = [["f", x] for x in xs] + ([["f", xs[0], xs[1]]] if len(xs) > 1 else [])
    return yaml.safe_dump(spec, sort_keys=False)


HESSIANS = [
    ("x.permute(2, 0, 1) * z", {"x": ["n", "m", "k"], "z": ["k", "n", "m"]}),
    ("cumsum(flip(x, (0,)), 1) * x", {"x": ["n", "m"]}),
    ("sum(diagonal(x, 1, 0, 2), 1) * z", {"x": ["k", "m", "k"], "z": ["m"]}),
    ("diag(x, -1) * sum(x) + diag(x * z, 1)", {"x": ["n"], "z": ["n"]}),
    ("diagonal_scatter(x * x, z * sum(x))", {"x": ["k", "k"], "z": ["k"]}),
    ("diagonal_scatter(x * x, z * z, 1) * sum(z)", {"x": [4, 4], "z": [3]}),
    ("tril(x @ x.T, -1) + triu(x @ z)", {"x": ["k", "m"], "z": ["m", "k"]}),
    ("einsum('bij,jk->bik', x, z) * x", {"x": ["n", "k", "m"], "z": ["m", "m"]}),
    ("einsum('ii->i', x @ x) * einsum('ij,ij->i', x, z)", {"x": ["k", "k"], "z": ["k", "k"]}),
    ("x.expand(n, k, m) * z", {"x": ["k", 1], "z": ["k", "m"]}),
    ("prod(x, 0) * var(x, 1)", {"x": ["m", "m"]}),
]


@pytest.mark.parametrize("expr,inputs", HESSIANS, ids=[h[0] for h in HESSIANS])
def test_hessian_through_the_op_with_named_dims(expr, inputs):
    d = symgrad.derive(symgrad.loads(_hessian_spec(expr, inputs, {"n": 2, "m": 3, "k": 4})))
    report = d.check(dtype="float64")
    assert {"hessian", "hvp"} <= {r.kind for r in report.rows}
    assert report.passed, [(r.kind, r.wrt, r.message) for r in report.rows if not r.passed]


@pytest.mark.parametrize("row", [[2.0, 0.0, 3.0, 1.5], [0.0, 5.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]])
def test_prod_hessian_at_zeros_matches_double_backward(row):
    """One, two and three zeros: the product of the others is differentiated as PyTorch's
    double backward does (no NaN from y/x at a zero, the mixed term of two zeros kept)."""
    for expr in ("prod(x)", "prod(x, 1, keepdim=True) * x"):
        shape = [4] if expr == "prod(x)" else [2, 4]
        value = row if expr == "prod(x)" else [row, [1.0, 2.0, 0.0, 3.0]]
        d = symgrad.derive(symgrad.loads(_hessian_spec(expr, {"x": shape}, {"n": 2}, {"x": value})))
        report = d.check(dtype="float64")
        assert report.passed, [(r.kind, r.message) for r in report.rows if not r.passed]
