"""Unit tests, stage by stage: each piece on its own, not only end to end.

ops (the registry refuses a block without a fact a stage needs; an unknown function is a
named error, never a silent zero), diff (unbroadcast, tidy's rewrites, forward values by
name, the naming policy of adjoints), printing (each printer on the same expressions),
codegen (the statements of the plan).
"""
import pytest
import sympy
from sympy import S, Tuple, Integer

import symgrad
from symgrad.diff.reuse import Reuse
from symgrad.diff.simplify import tidy, as_means, combine_chains, use_symmetry
from symgrad.diff.sweep import unbroadcast
from symgrad.ops import region_leaves, MissingFact
from symgrad.ops.base import flag
from symgrad.ops.linalg import MatmulOp, T, InverseOp
from symgrad.ops.reduce import SumOp, MeanOp
from symgrad.ops.registry import Function, P, check_facts, FUNCTIONS
from symgrad.printing import to_text, to_latex, to_index_latex, to_torch
from symgrad.tensor import Tensor, shape_of

x = Tensor("x", (3, 4), real=True)
v = Tensor("v", (4,), real=True)
A = Tensor("A", (4, 4), real=True)
S_ = Tensor("S", (4, 4), domain="spd", real=True)


# --- ops ---------------------------------------------------------------------------------
def test_a_block_without_a_torch_reference_is_a_named_error(monkeypatch):
    monkeypatch.setitem(FUNCTIONS, "frobnicate", Function("frobnicate", P("input"), lambda input: input))
    with pytest.raises(MissingFact, match="frobnicate.*torch reference"):
        check_facts()


def test_a_differentiable_block_without_a_reason_is_a_named_error(monkeypatch):
    f = Function("frob", P("input"), lambda input: input, torch="torch.abs", grad_fn="AbsBackward0")
    monkeypatch.setitem(FUNCTIONS, "frob", f)
    with pytest.raises(MissingFact, match="frob.*reason"):
        check_facts()


def test_an_unknown_function_in_a_region_is_never_a_silent_zero():
    with pytest.raises(MissingFact, match="no differentiation rule"):
        region_leaves(sympy.besselj(0, x) * 2)


# --- diff: unbroadcast ----------------------------------------------------------------------
def test_unbroadcast_sums_the_broadcast_dims():
    g = Tensor("g", (3, 4), real=True)
    assert unbroadcast(g, (3, 4), (4,)) == SumOp(g, Tuple(Integer(0)), flag(False))
    assert unbroadcast(g, (3, 4), (3, 1)) == SumOp(g, Tuple(Integer(1)), flag(True))
    assert unbroadcast(g, (3, 4), (3, 4)) is g


def test_unbroadcast_of_a_constant_multiplies_by_the_size():
    assert unbroadcast(S(2), (3, 4), (4,)) == 6
    assert unbroadcast(S(2), (3, 4), ()) == 24


# --- diff: tidy's rewrites ---------------------------------------------------------------------
def test_sum_over_n_reads_as_mean():
    e = SumOp(x, Tuple(Integer(1)), flag(True)) / 4
    assert as_means(e) == MeanOp(x, Tuple(Integer(1)), flag(True))
    assert as_means(SumOp(x, Tuple(Integer(1)), flag(True)) / 3) == SumOp(x, Tuple(Integer(1)), flag(True)) / 3


def test_terms_equal_up_to_reassociation_combine():
    B = Tensor("B", (4, 4), real=True)
    C = Tensor("C", (4, 4), real=True)
    e = MatmulOp(MatmulOp(A, B), C) + MatmulOp(A, MatmulOp(B, C))
    assert combine_chains(e) == 2 * MatmulOp(MatmulOp(A, B), C)


def test_symmetry_of_spd_matrices_in_closed_forms():
    assert use_symmetry(T(S_)) == S_
    assert use_symmetry(T(InverseOp(S_))) == InverseOp(S_)
    assert use_symmetry(MatmulOp(v, S_)) == MatmulOp(S_, v)
    assert use_symmetry(T(A)) == T(A)                       # a general matrix keeps its transpose


def test_tidy_pulls_factors_constant_along_a_sum_out_of_it():
    c = Tensor("c", (3, 1), real=True)
    e = tidy(SumOp(c * x, Tuple(Integer(1)), flag(True)))
    assert e == c * SumOp(x, Tuple(Integer(1)), flag(True))


# --- diff: forward values by name -------------------------------------------------------------
def test_reuse_names_powers_products_and_sums():
    a, b, m = (Tensor(n, (3,), real=True) for n in "abm")
    d, xh, xc = (Tensor(n, (3,), real=True) for n in ("d", "xh", "xc"))
    reuse = Reuse({sympy.sqrt(a): d, xc * (b + 1) ** S("-1/2"): xh, a - m: xc})
    assert reuse(a ** S("-1/2")) == 1 / d
    assert reuse(2 * xc * (b + 1) ** S("-3/2")) == 2 * xh / (b + 1)
    assert reuse(2 * a - 2 * m + b) == 2 * xc + b


# --- diff: the naming policy ---------------------------------------------------------------------
MLP = """
inputs:
  x: {shape: [4, 5], requires_grad: false}
  y: {shape: [4, 3], requires_grad: false, domain: simplex}
  W1: {shape: [6, 5]}
  W2: {shape: [3, 6]}
nodes:
  h: relu(x @ W1.T)
  z: h @ W2.T
  L: cross_entropy(z, y)
"""


def test_an_adjoint_is_named_when_it_feeds_several_gradients():
    d = symgrad.derive(symgrad.loads(MLP))
    assert list(d.adjoints("L")) == ["grad_z"]              # grad_h_pre is short and used once
    assert d.gradient("L", "W2").uses == ("grad_z",)
    assert d.gradient("L", "W1").text == "((grad_z @ W2)*(h > 0)).T @ x"


def test_the_notebook_names_nothing():
    d = symgrad.derive(symgrad.load("examples/multi_loss.yaml"))
    assert d.adjoints("d") == {} and [g.text for g in d.gradients] == ["a", "4*a"]


def test_inline_text_is_null_beyond_two_thousand_characters():
    layers = 100
    spec = "inputs:\n  h0: {shape: [2, 3], requires_grad: false}\n"
    spec += "".join("  W%d: {shape: [3, 3]}\n" % k for k in range(1, layers + 1))
    spec += "nodes:\n" + "".join("  h%d: tanh(h%d @ W%d)\n" % (k, k - 1, k) for k in range(1, layers + 1))
    spec += "  L: sum(h%d)\n" % layers
    d = symgrad.derive(symgrad.loads(spec))
    g = d.gradient("L", "W1")
    assert g.uses and g.inline_text is None and len(g.text) < 60


# --- printing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,text,latex,torch", [
    (MatmulOp(x, v) / 4, "x @ v/4", r"\frac{x v}{4}", "(x @ v)/4"),
    (x / 4 - 2 * x ** 2 / 4, "(x - 2*x**2)/4", r"\frac{x - 2 x^{2}}{4}", None),
    (4 * MatmulOp(MatmulOp(T(A), T(A)), T(A)), "4*(A @ A @ A).T", r"4 \left(A A A\right)^{\top}", None),
    (Tensor("grad_h2_pre", (3, 4), real=True), "grad_h2_pre", r"\overline{h_{2}}^{\mathrm{pre}}", None),
])
def test_the_printers(expr, text, latex, torch):
    assert to_text(expr) == text
    assert to_latex(expr) == latex
    if torch is not None:
        assert to_torch(expr) == torch


def test_index_notation_sums_the_contracted_index():
    assert to_index_latex(MatmulOp(x, v), ["i"]) == r"\sum_{j} x_{ij} v_{j}"


# --- codegen ----------------------------------------------------------------------------------
def test_the_plan_defines_each_named_adjoint_once_before_its_users():
    from symgrad.codegen.plan import Plan
    d = symgrad.derive(symgrad.loads(MLP))
    plan = Plan(d)
    names = [st.name for st in plan.stmts]
    assert names.count("grad_z") == 1
    users = [st.name for st in plan.stmts if "grad_z" in st.deps]
    assert users and all(names.index(u) > names.index("grad_z") for u in users)
    assert [st.name for st in plan.results] == ["dL_dW1", "dL_dW2"]
