"""The schedule's model of PyTorch's autograd graph, op by op, against PyTorch itself.

Generated from the op table: every differentiable function of `FUNCTIONS` (and every
operator of `OPERATORS`) is run in PyTorch and its recorded ``grad_fn`` name, whether a
second ``backward()`` without ``retain_graph=True`` raises, which node raises, and what
that node saved (``grad_fn._saved_<field>``) are compared with the op table and with
`symgrad.autograd.recorded`.  The op samples of `tests/op_cases.py` (every op
on several shapes, some inputs not requiring grad) and a list of variants (which
arguments require grad, Python scalars, ranks, composite ops) go through the same check.
"""
import warnings

import pytest
import torch
import yaml

import symgrad
from symgrad.numeric.inputs import draw_inputs
from symgrad.ops import FUNCTIONS, OPERATORS
from symgrad.autograd.recorded import autograd_graph
from symgrad.numeric.reference import TorchEval
from op_cases import CASES
from test_ops import input_fields

R, P, U = "real", "positive", "unit"
NOT_IMPLEMENTED = "torch::autograd::NotImplemented"


def spec_text(expr, inputs):
    """inputs: name -> (shape, domain[, requires_grad or value]); names c* default to no grad."""
    spec = {"inputs": {}, "nodes": {"y": expr}}
    for name, v in inputs.items():
        shape, domain = v[0], v[1]
        rg = v[2] if len(v) > 2 and isinstance(v[2], bool) else not name.startswith("c")
        spec["inputs"][name] = input_fields(shape, domain, rg)
        if len(v) > 2 and not isinstance(v[2], bool):       # an op case placed on a tie or kink
            spec["inputs"][name]["value"] = v[2]
    return yaml.safe_dump(spec, sort_keys=False)


def pytorch_facts(prob, expr, seed=0):
    """What PyTorch does with y = expr: flags, and what a second backward() runs into."""
    vals = draw_inputs(prob, {}, torch.float64, "cpu", seed)
    env = {d.name: vals[d.name].clone().requires_grad_(d.requires_grad) for d in prob.inputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = TorchEval(env, {}, torch.float64, "cpu").eval_text(expr)
    facts = {"requires_grad": y.requires_grad, "is_leaf": y.is_leaf,
             "grad_fn": y.grad_fn.name() if y.grad_fn is not None else None,
             "raises": False, "raiser": None, "saved": None, "first_error": None}
    if not y.requires_grad:
        return facts
    nodes, stack = [], [y.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or n in nodes or "AccumulateGrad" in n.name():
            continue
        nodes.append(n)
        stack.extend(f for f, _ in n.next_functions)
    saved = {n: {a[len("_saved_"):] for a in dir(n) if a.startswith("_saved_")
                 and _is_saved_tensor(getattr(n, a))} for n in nodes}
    order = []
    for n in nodes:
        n.register_prehook(lambda grads, n=n: order.append(n))
    g = torch.ones_like(y)
    try:
        y.backward(g)
    except RuntimeError as e:
        facts["first_error"] = (str(e), order[-1].name())
        return facts
    del order[:]
    try:
        y.backward(g)
    except RuntimeError as e:
        assert "second time" in str(e), str(e)
        facts["raises"] = True
        facts["raiser"] = order[-1].name()
        facts["saved"] = saved[order[-1]]
    return facts


def _is_saved_tensor(v):
    """A saved tensor field: a tensor, or a tuple of them (IndexBackward0's indices)."""
    if isinstance(v, (tuple, list)):
        return any(isinstance(t, torch.Tensor) for t in v)
    return isinstance(v, torch.Tensor)


def model_facts(prob):
    ag = autograd_graph(prob)
    v = ag.values["y"]
    order = ag.executed(v)
    first = next((n for n in order if n.saves or n.not_implemented), None)
    return v, first


def agree(expr, inputs, seed=0):
    prob = symgrad.loads(spec_text(expr, inputs))
    real = pytorch_facts(prob, expr, seed)
    v, first = model_facts(prob)
    where = "%s with %s" % (expr, inputs)
    assert v.requires_grad == real["requires_grad"], where
    assert v.is_leaf == real["is_leaf"], where
    assert (v.grad_fn.name if v.grad_fn else None) == real["grad_fn"], where
    if real["first_error"]:
        assert first is not None and first.not_implemented, where
        assert first.not_implemented in real["first_error"][0], where
        return real
    raises = first is not None and first.saves
    assert raises == real["raises"], "%s: second backward raises in PyTorch: %s" % (where, real["raises"])
    if raises:
        assert first.raiser == real["raiser"], where
        fields = {f for f, _ in first.saved}
        if fields:
            assert fields == real["saved"], "%s: %s saved %s, PyTorch %s" % (where, first.raiser, fields, real["saved"])
    return real


# --- the op table itself ----------------------------------------------------------------

CANON = {
    "exp": "exp(x)", "log": "log(x)", "log1p": "log1p(x)", "expm1": "expm1(x)", "sqrt": "sqrt(x)",
    "rsqrt": "rsqrt(x)", "abs": "abs(x)", "sin": "sin(x)", "cos": "cos(x)", "tan": "tan(x)",
    "tanh": "tanh(x)", "sigmoid": "sigmoid(x)", "relu": "relu(x)", "softplus": "softplus(x)",
    "gelu": "gelu(x)", "silu": "silu(x)", "leaky_relu": "leaky_relu(x, 0.2)", "square": "square(x)",
    "pow": "pow(x, 3)", "sign": "sign(x)", "erf": "erf(x)", "sinh": "sinh(x)", "cosh": "cosh(x)", "logaddexp": "logaddexp(x, z)", "heaviside": "heaviside(x, 0.5)",
    "where": "where(x > 0.5, x, z)", "sum": "sum(x)", "mean": "mean(x)",
    "logsumexp": "logsumexp(x, 1)", "softmax": "softmax(x, 1)", "log_softmax": "log_softmax(x, 1)",
    "norm": "norm(x)", "matmul": "matmul(x, w)", "transpose": "transpose(x, 0, 1)", "t": "t(x)",
    "trace": "trace(m)", "det": "det(s)", "logdet": "logdet(s)", "inverse": "inverse(s)",
    "outer": "outer(u, v)", "dot": "dot(u, u2)", "reshape": "reshape(x, (12,))", "flatten": "flatten(x)",
    "unsqueeze": "unsqueeze(x, 0)", "squeeze": "squeeze(q)", "linear": "linear(x, w2, b)",
    "mse_loss": "mse_loss(x, c)", "cross_entropy": "cross_entropy(x, cp)",
    "binary_cross_entropy": "binary_cross_entropy(x, c)",
    "binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits(x, c)",
}
CANON_INPUTS = {"x": ([3, 4], U), "z": ([3, 4], U), "w": ([4, 2], U), "m": ([3, 3], U), "s": ([3, 3], "spd"),
                "u": ([3], U), "v": ([4], U), "u2": ([3], U), "q": ([3, 1], U), "w2": ([5, 4], U),
                "b": ([5], U), "c": ([3, 4], U), "cp": ([3, 4], "simplex")}
OPERATOR_CANON = {"+": "x + z", "-": "x - z", "*": "x * z", "/": "x / z", "**": "x ** 2", "@": "x @ w",
                  "neg": "-x", ".T": "x.T", "cmp": "x > z", ".mT": "x.mT", "[]": "x[1]"}


def differentiable(name):
    spec = FUNCTIONS[name]
    return spec.grad_fn is not None and spec.grad_fn != NOT_IMPLEMENTED


def inputs_of(expr):
    import ast
    names = {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}
    return {k: v for k, v in CANON_INPUTS.items() if k in names}


def canonical(name):
    """The call whose node the op table declares: CANON's, else the op's first test case."""
    if name in CANON:
        return CANON[name], inputs_of(CANON[name])
    return CASES[name][0]


def test_every_differentiable_op_has_a_canonical_call():
    missing = sorted(n for n in FUNCTIONS if differentiable(n) and n not in CANON and n not in CASES)
    assert not missing, "ops of the op table without a canonical call here: %s" % missing
    assert set(OPERATORS) == set(OPERATOR_CANON)


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if FUNCTIONS[n].grad_fn is not None
                                         or FUNCTIONS[n].differentiable))
def test_op_table_autograd_values(name):
    """grad_fn is the node PyTorch records; saves says whether a second backward raises.
    (A differentiable function without a node returns its input itself: dropout in eval.)"""
    expr, inputs = canonical(name)
    real = agree(expr, inputs)
    spec = FUNCTIONS[name]
    assert spec.grad_fn == real["grad_fn"]
    if spec.grad_fn == NOT_IMPLEMENTED:
        assert real["first_error"] and "not implemented" in real["first_error"][0]
    else:
        assert spec.saves == real["raises"], "%s: a second backward raises in PyTorch: %s" % (name, real["raises"])


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if FUNCTIONS[n].grad_fn is None
                                         and not FUNCTIONS[n].differentiable))
def test_ops_without_grad_fn_give_tensors_that_do_not_require_grad(name):
    expr = {"ones": "ones(3, 4)", "zeros": "zeros(3, 4)", "full": "full((3, 4), 0.5)", "eye": "eye(3)",
            "ones_like": "ones_like(x)", "zeros_like": "zeros_like(x)", "detach": "detach(x)",
            "count_nonzero": "count_nonzero(x, dim=1)", "one_hot": "one_hot(k, 5)", "arange": "arange(3)",
            "float": "k.float()", "double": "(x > 0).double()"}[name]
    real = agree(expr, {"x": ([3, 4], U), "k": ([3, 4], "long:5")} if "k" in expr else {"x": ([3, 4], U)})
    assert real["requires_grad"] is False and real["is_leaf"] is True


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_operator_table_values(op):
    expr = OPERATOR_CANON[op]
    real = agree(expr, inputs_of(expr))
    assert OPERATORS[op].grad_fn == real["grad_fn"]
    assert OPERATORS[op].saves == real["raises"]


# --- every sample of the op tests, and the variants that change the graph ----------------

ALL = [(name, i, expr, inputs) for name, cases in CASES.items() for i, (expr, inputs) in enumerate(cases)]


@pytest.mark.parametrize("name,i,expr,inputs", ALL, ids=["%s-%d" % (a[0], a[1]) for a in ALL])
def test_op_case_graph_matches_pytorch(name, i, expr, inputs):
    agree(expr, inputs, seed=i)


T, F = True, False
VARIANTS = [
    # which arguments require grad decides what a node saves
    ("x * z", {"x": ([3], R, T), "z": ([3], R, F)}), ("x * z", {"x": ([3], R, F), "z": ([3], R, T)}),
    ("x / z", {"x": ([3], P, T), "z": ([3], P, F)}), ("x / z", {"x": ([3], P, F), "z": ([3], P, T)}),
    ("x ** z", {"x": ([3], P, T), "z": ([3], R, F)}), ("x ** z", {"x": ([3], P, F), "z": ([3], R, T)}),
    ("x @ w", {"x": ([2, 3], R, F), "w": ([3, 4], R, T)}), ("x @ w", {"x": ([2, 3], R, T), "w": ([3, 4], R, F)}),
    ("dot(u, v)", {"u": ([3], R, T), "v": ([3], R, F)}), ("outer(u, v)", {"u": ([3], R, F), "v": ([2], R, T)}),
    ("where(x > 0, x, z)", {"x": ([3], R, F), "z": ([3], R, T)}),
    ("mse_loss(x, z)", {"x": ([3], R, F), "z": ([3], R, T)}),
    ("cross_entropy(x, z)", {"x": ([2, 3], R, F), "z": ([2, 3], "simplex", T)}),
    ("binary_cross_entropy(x, z)", {"x": ([3], U, F), "z": ([3], U, T)}),
    # Python scalars
    ("x + 1", {"x": ([3], R)}), ("1 + x", {"x": ([3], R)}), ("1 - x", {"x": ([3], R)}), ("x - 1", {"x": ([3], R)}),
    ("2 * x", {"x": ([3], R)}), ("x * 2", {"x": ([3], R)}), ("x / 2", {"x": ([3], R)}), ("2 / x", {"x": ([3], P)}),
    ("2 ** x", {"x": ([3], R)}), ("x ** 0.5", {"x": ([3], P)}), ("x * pi", {"x": ([3], R)}),
    ("-x", {"x": ([3], R)}), ("+x * 2", {"x": ([3], R)}),
    # ranks and composite ops
    ("u @ w", {"u": ([3], R), "w": ([3, 4], R)}), ("u @ w", {"u": ([3], R, F), "w": ([3, 4], R)}),
    ("x @ u", {"x": ([2, 3], R), "u": ([3], R)}), ("b @ w", {"b": ([2, 2, 3], R), "w": ([3, 4], R)}),
    ("b @ u", {"b": ([2, 2, 3], R), "u": ([3], R)}), ("b @ e", {"b": ([2, 2, 3], R), "e": ([2, 3, 4], R)}),
    ("x @ e", {"x": ([2, 3], R), "e": ([2, 3, 4], R)}), ("x @ e", {"x": ([2, 3], R, F), "e": ([2, 3, 4], R)}),
    ("u @ e", {"u": ([3], R), "e": ([2, 3, 4], R)}), ("u @ e", {"u": ([3], R, F), "e": ([2, 3, 4], R)}),
    ("linear(x, w, b)", {"x": ([4, 3], R, F), "w": ([2, 3], R, F), "b": ([2], R, T)}),
    ("linear(x, w, b)", {"x": ([4, 3], R, F), "w": ([2, 3], R, T), "b": ([2], R, T)}),
    ("linear(x, w, b)", {"x": ([4, 3], R, T), "w": ([2, 3], R, F), "b": ([2], R, F)}),
    ("linear(x, w)", {"x": ([4, 3], R), "w": ([2, 3], R)}),
    ("linear(u, w, b)", {"u": ([3], R), "w": ([2, 3], R), "b": ([2], R)}),
    ("linear(u, w, b)", {"u": ([3], R, F), "w": ([2, 3], R, F), "b": ([2], R, T)}),
    ("linear(u, w)", {"u": ([3], R), "w": ([2, 3], R)}),
    ("linear(e, w, b)", {"e": ([2, 4, 3], R), "w": ([2, 3], R), "b": ([2], R)}),
    ("linear(e, w)", {"e": ([2, 4, 3], R), "w": ([2, 3], R)}),
    ("linear(e.transpose(0, 1), w, b)", {"e": ([4, 2, 3], R), "w": ([2, 3], R), "b": ([2], R)}),
    ("linear(e, v, s)", {"e": ([2, 4, 3], R), "v": ([3], R), "s": ([], R)}),
    ("linear(x, v)", {"x": ([4, 3], R), "v": ([3], R)}),
    ("linear(u, v, s)", {"u": ([3], R), "v": ([3], R), "s": ([], R)}),
    ("linear(u, v, s)", {"u": ([3], R, F), "v": ([3], R, F), "s": ([], R, T)}),
    ("cross_entropy(x, z, reduction='sum')", {"x": ([2, 3], R), "z": ([2, 3], "simplex", F)}),
    ("cross_entropy(x, z, reduction='none')", {"x": ([2, 3], R), "z": ([2, 3], "simplex", F)}),
    ("logdet(s)", {"s": ([3, 3], "spd")}),
    # reductions and views: the variant of the node
    ("sum(x, 1)", {"x": ([2, 3], R)}), ("sum(x, keepdim=True)", {"x": ([2, 3], R)}),
    ("mean(x, dim=(0, 1))", {"x": ([2, 3], R)}), ("mean(x, keepdim=True)", {"x": ([2, 3], R)}),
    ("sum(s)", {"s": ([], R)}), ("mean(s)", {"s": ([], R)}),
    ("squeeze(x, 1)", {"x": ([3, 1], R)}), ("squeeze(x, (0, 1))", {"x": ([1, 3, 1], R)}), ("squeeze(x)", {"x": ([2, 3], R)}),
    ("flatten(u)", {"u": ([3], R)}), ("flatten(s)", {"s": ([], R)}), ("flatten(x, 1, 1)", {"x": ([2, 3], R)}),
    ("flatten(x.T)", {"x": ([2, 3], R)}), ("reshape(x.T, (6,))", {"x": ([2, 3], R)}),
    ("reshape(exp(x.T), (6,))", {"x": ([2, 3], R)}), ("reshape(x.T + 1, (6,))", {"x": ([2, 3], R)}),
    ("reshape(x.T, (3, 2))", {"x": ([2, 3], R)}), ("reshape(sum(x.T, 1), (3,))", {"x": ([2, 3], R)}),
    ("u.T", {"u": ([3], R)}), ("s.T", {"s": ([], R)}), ("t(u)", {"u": ([3], R)}),
    ("transpose(s, 0, 0)", {"s": ([], R)}), ("unsqueeze(s, 0)", {"s": ([], R)}),
    # graphs cut by comparisons, constants and detach
    ("x > 0", {"x": ([3], R)}), ("x * (x > 0)", {"x": ([3], R)}), ("detach(x) * 2", {"x": ([3], R)}),
    ("heaviside(x, z)", {"x": ([3], R, F), "z": ([3], R, T)}), ("sign(x)", {"x": ([3], R)}),
    ("exp(x) * exp(z)", {"x": ([3], R, F), "z": ([3], R, F)}), ("x * 0", {"x": ([3], R)}), ("x - x", {"x": ([3], R)}),
    ("x + x", {"x": ([3], R)}), ("where(c > 0, x * 2, 0.5)", {"x": ([4], R), "c": ([4], R)}),
    ("exp(tanh(x) * sigmoid(z)) @ w", {"x": ([2, 3], R), "z": ([3], R, F), "w": ([3], R)}),
]


@pytest.mark.parametrize("expr,inputs", VARIANTS, ids=[v[0] + "-%d" % k for k, v in enumerate(VARIANTS)])
def test_variant_graph_matches_pytorch(expr, inputs):
    agree(expr, inputs)


def test_dims_are_python_numbers():
    spec = "dims: {n: 3}\ninputs:\n  x: {shape: [n]}\nnodes:\n  y: x * n\n"
    prob = symgrad.loads(spec)
    v, first = model_facts(prob)
    assert v.grad_fn.name == "MulBackward0" and [f for f, _ in first.saved] == ["other"]
    assert first.saved[0][1] == "the scalar n"
