"""Second order through solves, factorisations, matrix functions and products.

Each op's batching rule (``TensorOp.batch``) must be ``torch.vmap`` of the op: the batch of
an expression ``E(v)`` at the identity direction (`symgrad.diff.batch.Batch`) equals ``E`` at
every basis direction of ``v``, stacked -- lifted arguments in every position, with batch
dims that broadcast, vector and matrix right-hand sides.  Then Hessians in specs (symbolic
dims too), and the conventions that PyTorch's two references disagree on.
"""
import pytest
import torch

import symgrad
from symgrad.diff.batch import Batch
from symgrad.ops.decomp import SolveOp, CholeskyOp, SlogdetOp, EigvalshOp, EighVectorsOp, PinvOp
from symgrad.ops.products import MatrixPowerOp, MatrixExpOp, PadOp, KronOp
from symgrad.ops.pairwise import CrossOp, CdistOp
from symgrad.ops.shape import materialize
from symgrad.printing.torchcode import to_torch
from symgrad.tensor import Tensor, shape_of
from sympy import Integer, Rational, Tuple

F64 = torch.float64


def run(e, env):
    ns = dict(env, torch=torch, F=torch.nn.functional, _dt=F64, _dev="cpu")
    return eval(to_torch(e), ns)


def vmap_check(build, shapes, seed=0):
    """``build(**symbols)`` at the batch of basis directions of ``v`` against a loop."""
    g = torch.Generator().manual_seed(seed)
    syms = {k: Tensor(k, tuple(Integer(n) for n in s), real=True) for k, s in shapes.items()}
    env = {k: torch.randn(s, generator=g, dtype=F64) for k, s in shapes.items() if k != "v"}
    for k in env:
        if k.startswith("S"):           # well conditioned: diagonally dominant
            n = env[k].shape[-1]
            env[k] = env[k] @ env[k].transpose(-1, -2) + n * torch.eye(n, dtype=F64)
    e = build(**syms)
    b, lifted = Batch(syms["v"])(e)
    assert lifted
    full = tuple(shapes["v"]) + tuple(int(d) for d in shape_of(e))
    got = run(materialize(b, tuple(Integer(d) for d in full)), env).expand(full)
    n = 1
    for d in shapes["v"]:
        n *= d
    rows = []
    for k in range(n):
        ek = torch.zeros(n, dtype=F64)
        ek[k] = 1
        rows.append(torch.as_tensor(run(e, dict(env, v=ek.reshape(shapes["v"]))), dtype=F64))
    want = torch.stack(rows).reshape(full)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def near(v, S):
    """A matrix near the spd S along the direction v (nonlinear ops at A + v/10)."""
    return S + v * Rational(1, 10)


VMAP = {
    "solve matrix rhs": (lambda S, v: SolveOp(S, v), {"S": [3, 3], "v": [3, 2]}),
    "solve vector rhs": (lambda S, v: SolveOp(S, v), {"S": [3, 3], "v": [3]}),
    "solve batch of A, one vector": (lambda S, v: SolveOp(S, v), {"S": [2, 3, 3], "v": [3]}),
    "solve batch of vectors": (lambda S, v: SolveOp(S, v), {"S": [2, 3, 3], "v": [2, 3]}),
    "solve square rhs": (lambda S, v: SolveOp(S, v), {"S": [3, 3], "v": [3, 3]}),
    "solve broadcast rhs": (lambda S, v: SolveOp(S, v), {"S": [2, 3, 3], "v": [3, 2]}),
    "solve lifted A": (lambda S, v, B: SolveOp(near(v, S), B), {"S": [3, 3], "v": [3, 3], "B": [3]}),
    "solve lifted A, batch": (lambda S, v, B: SolveOp(near(v, S), B), {"S": [2, 3, 3], "v": [3, 3], "B": [3, 2]}),
    "solve both lifted": (lambda S, v: SolveOp(near(v, S), v), {"S": [3, 3], "v": [3, 3]}),
    "cholesky": (lambda S, v: CholeskyOp(near(v, S)), {"S": [3, 3], "v": [3, 3]}),
    "cholesky batch": (lambda S, v: CholeskyOp(near(v, S)), {"S": [2, 3, 3], "v": [3, 3]}),
    "slogdet": (lambda S, v: SlogdetOp(near(v, S)), {"S": [2, 3, 3], "v": [3, 3]}),
    "eigvalsh": (lambda S, v: EigvalshOp(near(v, S), Integer(0)), {"S": [3, 3], "v": [3, 3]}),
    "eigvecs squared": (lambda S, v: EighVectorsOp(near(v, S), Integer(0)) ** 2, {"S": [3, 3], "v": [3, 3]}),
    "pinv": (lambda A, v: PinvOp(A + v), {"A": [3, 4], "v": [3, 4]}),
    "matrix_power": (lambda S, v: MatrixPowerOp(near(v, S), Integer(5)), {"S": [3, 3], "v": [3, 3]}),
    "matrix_power of a batch": (lambda A, v: MatrixPowerOp(A + v, Integer(4)), {"A": [2, 3, 3], "v": [3, 3]}),
    "matrix_exp": (lambda A, v: MatrixExpOp(A + v), {"A": [3, 3], "v": [3, 3]}),
    "matrix_exp of a column of A": (lambda A, v: MatrixExpOp(A + v), {"A": [3, 3], "v": [3, 1]}),
    "pad": (lambda v: PadOp(v, Tuple(Integer(1), Integer(2))), {"v": [2, 3]}),
    "pad and crop": (lambda v: PadOp(v, Tuple(Integer(-1), Integer(0), Integer(1), Integer(1))), {"v": [3, 4]}),
    "pad a broadcast row": (lambda A, v: PadOp(A * v, Tuple(Integer(0), Integer(0), Integer(1), Integer(0))),
                            {"A": [3, 4], "v": [4]}),
    "kron left": (lambda B, v: KronOp(v, B), {"B": [4, 5], "v": [2, 3]}),
    "kron right": (lambda A, v: KronOp(A, v), {"A": [2], "v": [3, 2]}),
    "kron of v with itself": (lambda v: KronOp(v, v), {"v": [2, 2]}),
    "cross": (lambda b, v: CrossOp(v, b, Integer(1)), {"b": [4, 3], "v": [4, 3]}),
    "cross broadcast": (lambda a, v: CrossOp(a, v, Integer(0)), {"a": [3, 4], "v": [3, 1]}),
    "cross of v with itself": (lambda a, v: CrossOp(v + a, v, Integer(0)), {"a": [3], "v": [3]}),
    "cdist": (lambda b, v: CdistOp(v, b, Integer(2)), {"b": [4, 2], "v": [3, 2]}),
    "cdist p=3 broadcast": (lambda a, v: CdistOp(a, v, Integer(3)), {"a": [2, 3, 2], "v": [4, 2]}),
    "cdist p=1/2": (lambda a, v: CdistOp(a + v, a, Rational(1, 2)), {"a": [3, 2], "v": [3, 2]}),
}


@pytest.mark.parametrize("name", sorted(VMAP))
def test_batching_rule_is_vmap(name):
    build, shapes = VMAP[name]
    vmap_check(build, shapes)


def spec(nodes, inputs, hessians, dims=None):
    import yaml
    d = {"inputs": inputs, "nodes": nodes, "outputs": ["f"], "hessians": hessians}
    if dims:
        d["dims"] = dims
    return symgrad.derive(symgrad.loads(yaml.safe_dump(d, sort_keys=False)))


SPECS = {
    "solve, symbolic dims": ({"y": "solve(A, B)", "f": "sum(sin(y))"},
                             {"A": {"shape": ["n", "n"], "domain": "spd"}, "B": {"shape": ["n", "k"]}},
                             [["f", "A"], ["f", "B"], ["f", "A", "B"]], {"n": 3, "k": 2}),
    "solve of a general A": ({"y": "solve(A, b)", "f": "sum(sin(y))"},
                             {"A": {"shape": [3, 3]}, "b": {"shape": [3]}}, [["f", "A"], ["f", "A", "b"]], None),
    "slogdet of an spd A": ({"f": "sin(slogdet(A))"}, {"A": {"shape": ["n", "n"], "domain": "spd"}},
                            [["f", "A"]], {"n": 3}),
    "matrix_exp, symbolic dims": ({"y": "matrix_exp(A)", "f": "sum(sin(y))"}, {"A": {"shape": ["n", "n"]}},
                                  [["f", "A"]], {"n": 3}),
    "matrix_power of an spd A": ({"y": "matrix_power(A, 4)", "f": "sum(sin(y))"},
                                 {"A": {"shape": [3, 3], "domain": "spd"}}, [["f", "A"]], None),
    "pad, symbolic dims": ({"y": "pad(x, (1, 0, 0, 2)) * 2", "f": "sum(sin(y))"}, {"x": {"shape": ["n", "m"]}},
                           [["f", "x"]], {"n": 2, "m": 3}),
    "cross, symbolic dims": ({"y": "cross(a, b, dim=1)", "f": "sum(sin(y))"},
                             {"a": {"shape": ["n", 3]}, "b": {"shape": ["n", 3]}},
                             [["f", "a"], ["f", "b"], ["f", "a", "b"]], {"n": 4}),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hessians_through_the_ops_equal_pytorch(name):
    d = spec(*SPECS[name])
    bad = [(r.kind, r.wrt, r.message, r.max_abs_err) for r in d.check(dtype="float64").rows if not r.passed]
    assert not bad


def test_spd_closed_forms_transpose_for_second_order_and_not_for_first():
    """d(A^T) = dA^T although A = A^T at the point: second order keeps the transposes that
    first order drops (PyTorch's double backward differentiates A.T, not A)."""
    d = spec({"y": "solve(A, B)", "f": "sum(sin(y))"},
             {"A": {"shape": [3, 3], "domain": "spd"}, "B": {"shape": [3, 2]}}, [["f", "A"]])
    assert d.gradient("f", "A").text == "-solve(A, cos(y)) @ y.T"
    assert "v_A.T" in d.hessian("f", "A").hvp_text


# --- cdist: PyTorch's _cdist_backward has no derivative; the p-norm written out has --------
def cdist_written_out(x1, x2, p):
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
    return diff.pow(p).sum(-1).pow(1 / p)


@pytest.mark.parametrize("p", ["2", "1.0", "3", "0.5"])
def test_cdist_hessians_equal_the_written_out_norm(p):
    d = spec({"y": "cdist(a, b, p=%s)" % p, "f": "sum(sin(y))"}, {"a": {"shape": [3, 2]}, "b": {"shape": [4, 2]}},
             [["f", "a"], ["f", "b"], ["f", "a", "b"]])
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 2, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    H = d.compile().module.hessians(a=a, b=b)["f"]

    def f(x, y):
        return torch.sin(cdist_written_out(x, y, float(p))).sum()
    want = {("a", "a"): torch.func.hessian(f, 0)(a, b), ("b", "b"): torch.func.hessian(f, 1)(a, b),
            ("a", "b"): torch.func.jacfwd(torch.func.jacrev(f, 0), 1)(a, b)}
    for (x, y), w in want.items():
        torch.testing.assert_close(H[x][y], w, rtol=1e-7, atol=1e-9)


def test_cdist_at_coinciding_points_is_finite():
    d = spec({"y": "cdist(a, b, p=3)", "f": "sum(sin(y))"},
             {"a": {"shape": [2, 2], "value": [[0.0, 0.0], [1.0, 1.0]]},
              "b": {"shape": [2, 2], "value": [[0.0, 0.0], [3.0, 5.0]]}}, [["f", "a"]])
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64)
    b = torch.tensor([[0.0, 0.0], [3.0, 5.0]], dtype=F64)
    assert torch.isfinite(d.compile().module.hessians(a=a, b=b)["f"]["a"]["a"]).all()


# --- read by one triangle: the Hessian is double backward's, symmetric ------------------------
@pytest.mark.parametrize("expr", ["eigvalsh(A)", "eigh(A).eigenvectors"])
def test_eigen_hessians_are_double_backwards_jacobian(expr):
    """PyTorch's forward-mode rule of eigh takes a non-symmetric tangent as it is, its
    backward symmetrises: torch.func.hessian (jacfwd of jacrev) is then not even symmetric.
    The closed form is the Jacobian of double backward (jacrev of jacrev), symmetric."""
    d = spec({"y": expr, "f": "sum(sin(y))"}, {"A": {"shape": [3, 3], "domain": "spd"}}, [["f", "A"]])
    g = torch.Generator().manual_seed(2)
    m = torch.randn(3, 3, generator=g, dtype=F64)
    A = m @ m.T + 3 * torch.eye(3, dtype=F64)
    fn = torch.linalg.eigvalsh if expr.startswith("eigvalsh") else (lambda X: torch.linalg.eigh(X).eigenvectors)
    want = torch.func.jacrev(torch.func.jacrev(lambda X: torch.sin(fn(X)).sum()))(A)
    got = d.compile().module.hessians(A=A)["f"]["A"]["A"]
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(got, got.permute(2, 3, 0, 1), rtol=1e-8, atol=1e-10)


# --- a batch that is constant along a logical dim (size 1 there) -------------------------------
def _broadcast_batch(e, i, xshape, bshape, env, fn):
    """``e``'s rule with tensor argument ``i`` a batch of value X (``xshape``, size 1 where it
    broadcasts) against torch.vmap of ``fn`` over X expanded."""
    x = Tensor("X", tuple(Integer(n) for n in xshape), real=True)
    args, lifted = list(e.tensors), [False] * len(e.tensors)
    args[i], lifted[i] = x, True
    out = e.batch(args, lifted, tuple(Integer(n) for n in bshape))
    X = torch.randn(xshape, generator=torch.Generator().manual_seed(3), dtype=F64)
    full = tuple(bshape) + tuple(int(d) for d in shape_of(e.tensors[i]))
    got = run(out, dict(env, X=X))
    want = torch.vmap(fn)(X.expand(full))
    torch.testing.assert_close(got.expand(want.shape), want, rtol=1e-10, atol=1e-10)


def test_rules_make_a_broadcast_batch_full_where_the_op_needs_it():
    g = torch.Generator().manual_seed(4)
    m = torch.randn(3, 3, generator=g, dtype=F64)
    env = {"S": m @ m.T + 3 * torch.eye(3, dtype=F64), "A": torch.randn(4, 3, generator=g, dtype=F64),
           "b": torch.randn(4, 2, generator=g, dtype=F64)}
    Sy, Ay, by = (Tensor(k, tuple(Integer(n) for n in v.shape), real=True) for k, v in
                  (("S", env["S"]), ("A", env["A"]), ("b", env["b"])))
    pads = Tuple(Integer(1), Integer(1), Integer(0), Integer(2))
    x = Tensor("x", (Integer(3), Integer(4)), real=True)
    pad = lambda t: torch.nn.functional.pad(t, (1, 1, 0, 2))
    _broadcast_batch(PadOp(x, pads), 0, (4, 1, 4), (4,), env, pad)
    _broadcast_batch(PadOp(x, pads), 0, (4, 3, 1), (4,), env, pad)
    B = Tensor("B", (Integer(3), Integer(4)), real=True)
    _broadcast_batch(SolveOp(Sy, B), 1, (5, 1, 4), (5,), env, lambda t: torch.linalg.solve(env["S"], t))
    _broadcast_batch(MatrixExpOp(Sy), 0, (2, 3, 1), (2,), env, torch.linalg.matrix_exp)
    a = Tensor("a", (Integer(4), Integer(3)), real=True)
    _broadcast_batch(CrossOp(Ay, a, Integer(1)), 1, (2, 4, 1), (2,), env,
                     lambda t: torch.linalg.cross(env["A"], t, dim=1))
    c = Tensor("c", (Integer(3), Integer(2)), real=True)
    _broadcast_batch(CdistOp(c, by, Integer(2)), 0, (2, 3, 1), (2,), env, lambda t: torch.cdist(t, env["b"]))


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_hvp_equals_double_backward(upper):
    """Its HVP needs no batching rule; its Hessian needs tril's (``symgrad.ops.diag``)."""
    d = spec({"y": "cholesky(A, upper=%s)" % upper, "f": "sum(sin(y))"},
             {"A": {"shape": [3, 3], "domain": "spd"}}, [["f", "A"]])
    g = torch.Generator().manual_seed(5)
    m = torch.randn(3, 3, generator=g, dtype=F64)
    A = (m @ m.T + 3 * torch.eye(3, dtype=F64)).requires_grad_()
    v = torch.randn(3, 3, generator=g, dtype=F64)
    got = d.compile().module.hvps(A=A.detach(), v_A=v)["f"]["A"]["A"]
    gA, = torch.autograd.grad(torch.sin(torch.linalg.cholesky(A, upper=upper)).sum(), A, create_graph=True)
    want, = torch.autograd.grad(gA, A, grad_outputs=v)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
