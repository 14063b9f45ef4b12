"""Second order through activations, norms, losses and attention, where PyTorch's double
backward is not the plain calculus of the first derivative:

* the elu family: ``elu'(0) = alpha`` (the negative branch) but ``elu''(0) = 0``
  (``elu_double_backward`` masks by ``x < 0``);
* ``gaussian_nll_loss`` and ``cosine_similarity`` clamp ``var`` / the norms in place under
  ``no_grad``: below eps the first derivative passes the clamp and so does the second.  There
  ``torch.func.hessian`` (forward mode, which does not see ``no_grad``) masks and is not even
  symmetric, so the closed forms are held to PyTorch's double backward, entry by entry;
* ``scaled_dot_product_attention`` on 4-D CPU inputs runs PyTorch's fused kernel, whose
  backward has no derivative: the closed-form Hessians are held to PyTorch's math backend.
"""
import warnings

import pytest
import torch
import yaml

import symgrad
from symgrad.codegen.module import compile_module
from symgrad.numeric.inputs import draw_inputs
from symgrad.numeric.reference import TorchEval


def spec_text(expr, inputs, outer="sum(sin(y))"):
    """inputs: name -> (shape, value or None); names c* do not require grad."""
    spec = {"inputs": {}, "nodes": {"y": expr, "f": outer}, "outputs": ["f"]}
    for name, (shape, value) in inputs.items():
        spec["inputs"][name] = {"shape": shape, "requires_grad": not name.startswith("c")}
        if value is not None:
            spec["inputs"][name]["value"] = value
    xs = [n for n in inputs if not n.startswith("c")]
    spec["hessians"] = [["f", x] for x in xs] + ([["f", xs[0], xs[1]]] if len(xs) > 1 else [])
    return yaml.safe_dump(spec, sort_keys=False)


def setup(expr, inputs, outer="sum(sin(y))", seed=0):
    prob = symgrad.loads(spec_text(expr, inputs, outer))
    d = symgrad.derive(prob)
    vals = draw_inputs(prob, {}, torch.float64, "cpu", seed)
    return prob, d, vals, compile_module(d).hessians(**vals)


def f_of(prob, vals, names):
    """f as a function of the tensors ``names`` (the other inputs fixed), PyTorch's own text."""
    def fn(*ts):
        env = dict(vals)
        env.update(zip(names, ts))
        ev = TorchEval(env, {}, torch.float64, "cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for n in prob.nodes:
                env[n.name] = ev.eval_text(n.text)
        return env["f"]
    return fn


def double_backward_hessian(prob, vals, x, y):
    """d2f/dx dy by double backward, one basis direction of x at a time."""
    names = [x] if x == y else [x, y]
    ts = [vals[n].clone().requires_grad_() for n in names]
    f = f_of(prob, vals, names)(*ts)
    g, = torch.autograd.grad(f, ts[0], create_graph=True)
    rows = [torch.autograd.grad(g.reshape(-1)[k], ts[-1], retain_graph=True)[0].reshape(-1)
            for k in range(g.numel())]
    return torch.stack(rows).reshape(tuple(vals[x].shape) + tuple(vals[y].shape))


def func_hessian(prob, vals, x, y):
    with warnings.catch_warnings():      # torch's forward-mode decompositions load through jit
        warnings.simplefilter("ignore", DeprecationWarning)
        if x == y:
            return torch.func.hessian(f_of(prob, vals, [x]))(vals[x])
        return torch.func.jacfwd(torch.func.jacrev(f_of(prob, vals, [x, y]), argnums=0),
                                 argnums=1)(vals[x], vals[y])


# --- the elu family at 0 -------------------------------------------------------------------------
ELU = ["elu(x)", "elu(x, 0.5)", "elu(x, -1.0)", "elu(x, 2.0, False)", "selu(x)", "celu(x)",
       "celu(x, 0.5)", "celu(x, -1.0)"]
KINKS = [0.0, -0.0, -1.0, 1.0, -2.0, 800.0]


@pytest.mark.parametrize("expr", ELU)
def test_elu_family_second_derivative_is_zero_at_zero(expr):
    prob, d, vals, got = setup(expr, {"x": ([6], KINKS)}, outer="sum(y)")
    h = got["f"]["x"]["x"]
    assert torch.equal(h, torch.diag(torch.diagonal(h)))
    assert torch.diagonal(h)[:2].abs().max() == 0          # elu''(0) = 0 on both zeros
    want = double_backward_hessian(prob, vals, "x", "x")
    assert torch.allclose(h, want, rtol=1e-12, atol=1e-14)
    assert torch.allclose(h, func_hessian(prob, vals, "x", "x"), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("expr", ELU)
def test_elu_family_check_passes_at_the_kink(expr):
    d = symgrad.derive(symgrad.loads(spec_text(expr + " * z", {"x": ([3], [0.0, -1.5, 2.0]), "z": ([2, 1], None)})))
    report = d.check(dtype="float64")
    assert report.passed, [(r.kind, r.wrt, r.message) for r in report.rows if not r.passed]


def test_elu_first_derivative_keeps_the_negative_branch_at_zero():
    d = symgrad.derive(symgrad.loads("inputs:\n  x: {shape: [2], value: [0.0, -0.0]}\nnodes:\n"
                                     "  L: sum(elu(x, 0.5) + selu(x) + celu(x, 2.0))\n"))
    got = d.compile()(x=torch.zeros(2, dtype=torch.float64))["L"]["x"]
    assert torch.allclose(got, torch.full((2,), 0.5 + 1.0507009873554805 * 1.6732632423543772 + 1.0,
                                          dtype=torch.float64))


# --- clamps PyTorch makes in place under no_grad -------------------------------------------------
UNRECORDED = [
    ("gaussian_nll_loss(x, c, v, reduction='sum')",
     {"x": ([2], [1.0, 1.0]), "c": ([2], [0.0, 0.0]), "v": ([2], [1e-8, 2.0])}),
    ("gaussian_nll_loss(x, c, v, reduction='none', eps=0.001)",
     {"x": ([2, 3], None), "c": ([2, 3], None), "v": ([2, 1], [[1e-5], [0.5]])}),
    ("cosine_similarity(x, z, dim=0)", {"x": ([2], [3e-9, 4e-9]), "z": ([2], [1.0, 2.0])}),
    ("cosine_similarity(x, z, dim=1)", {"x": ([2, 3], None), "z": ([2, 3], [[1e-9, 2e-9, 0.0], [1.0, 2.0, 3.0]])}),
]


@pytest.mark.parametrize("expr,inputs", UNRECORDED, ids=[e for e, _ in UNRECORDED])
def test_unrecorded_clamp_differentiates_again_as_double_backward(expr, inputs):
    prob, d, vals, got = setup(expr, inputs)
    for h in d.hessians:
        x, y = h.wrt
        want = double_backward_hessian(prob, vals, x, y)
        scale = want.abs().max().item() + 1
        assert torch.allclose(got["f"][x][y], want, rtol=1e-9, atol=1e-12 * scale), (expr, x, y)
    hvps = [r for r in d.check(dtype="float64").rows if r.kind in ("hvp", "autograd")]
    assert all(r.passed for r in hvps), [(r.wrt, r.message) for r in hvps if not r.passed]


def test_cosine_similarity_hessian_at_a_zero_vector_is_finite():
    """PyTorch's double backward is NaN there (norm's backward differentiated at 0); the
    closed form is torch.func.hessian's 0, not NaN."""
    prob, d, vals, got = setup("cosine_similarity(x, z, dim=0)", {"x": ([2], [0.0, 0.0]), "z": ([2], [1.0, 2.0])})
    for h in d.hessians:
        x, y = h.wrt
        assert torch.isfinite(got["f"][x][y]).all()
        assert torch.allclose(got["f"][x][y], func_hessian(prob, vals, x, y), rtol=1e-10, atol=1e-12)


def test_unrecorded_clamp_first_order_value_is_the_clamp():
    """Above eps the straight-through clamp is the input itself, bit for bit."""
    prob, d, vals, got = setup("gaussian_nll_loss(x, c, v, reduction='sum')",
                               {"x": ([3], None), "c": ([3], None), "v": ([3], [0.5, 2.0, 3.0])})
    want = double_backward_hessian(prob, vals, "v", "v")
    assert torch.allclose(got["f"]["v"]["v"], want, rtol=1e-12, atol=1e-14)
    assert torch.allclose(got["f"]["v"]["v"], func_hessian(prob, vals, "v", "v"), rtol=1e-12, atol=1e-14)


# --- attention: the fused CPU kernel has no double backward ----------------------------------------
SDPA = [
    ("scaled_dot_product_attention(q, k, v)", {"q": ([2, 2, 3, 4], None), "k": ([2, 2, 5, 4], None),
                                               "v": ([2, 2, 5, 4], None)}),
    ("scaled_dot_product_attention(q, k, v, is_causal=True)", {"q": ([1, 2, 2, 4], None), "k": ([1, 2, 4, 4], None),
                                                               "v": ([1, 2, 4, 4], None)}),
    ("scaled_dot_product_attention(q, k, v, attn_mask=cm < 0.5, scale=0.3)",
     {"q": ([1, 2, 3, 4], None), "k": ([1, 2, 5, 4], None), "v": ([1, 2, 5, 4], None), "cm": ([3, 5], None)}),
]


@pytest.mark.parametrize("expr,inputs", SDPA, ids=[e for e, _ in SDPA])
def test_attention_hessians_match_pytorchs_math_backend(expr, inputs):
    from torch.nn.attention import sdpa_kernel, SDPBackend
    prob, d, vals, got = setup(expr, inputs)
    assert len(d.hessians) == 4
    with sdpa_kernel([SDPBackend.MATH]):
        for h in d.hessians:
            x, y = h.wrt
            want = func_hessian(prob, vals, x, y)
            assert torch.allclose(got["f"][x][y], want, rtol=1e-10, atol=1e-12), (expr, x, y)
