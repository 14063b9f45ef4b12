"""Regressions: integer tensors standing for float adjoints, and named tuples picked by position.

* a closed form whose value holds an integer tensor (``one_hot``, a long input) combined
  only with Python numbers (``one_hot(y, 3)/3``) must be evaluated in the working dtype,
  not in PyTorch's default float32 -- in the compiled module and in the schedule's proof;
* an adjoint that is an integer tensor (``one_hot(y, 4)`` put back by ``index_add``) is a
  float adjoint: the proof and the text evaluation run it as one;
* ``eigh(A)[0]`` (a field of a named tuple by position) is walked like ``.eigenvalues``.
"""
import symgrad


def _rows(text):
    d = symgrad.derive(symgrad.loads(text))
    return d, d.check()


def _assert_all_pass(res):
    bad = [r.line() for r in res.schedule_rows if not r.passed]
    assert not bad, bad
    assert res.schedule_rows


EIGH = """
inputs: {W: {shape: [4, 4], requires_grad: true}}
nodes: {loss: "sum(eigh(W @ W.T)[0])"}
outputs: [loss]
backward: [loss.backward()]
"""

EIGH_FIELDS = """
inputs: {W: {shape: [4, 4], requires_grad: true}}
nodes: {A: "W @ W.T", ev: "eigh(A)[1]", lam: "eigh(A)[-2]", loss: "sum(lam) + sum(ev[:, -1]**4)"}
outputs: [loss]
backward: [loss.backward()]
"""


def test_eigh_by_position_is_walked_like_its_field():
    d, res = _rows(EIGH)
    _assert_all_pass(res)
    assert all(r.passed for r in res.rows)
    assert d.schedule.text("W") == "2*W"


def test_eigh_both_fields_by_position_and_negative_index():
    d, res = _rows(EIGH_FIELDS)
    _assert_all_pass(res)
    assert all(r.passed for r in res.rows)
    info = d.tensor_info()
    assert info["ev"]["requires_grad"] and info["lam"]["requires_grad"]


# --- integer tensors in float closed forms ----------------------------------------------------
import math                                             # noqa: E402

import sympy                                            # noqa: E402

import torch                                            # noqa: E402

from symgrad.codegen.lower import fix_bools              # noqa: E402
from symgrad.numeric.reference import TorchEval          # noqa: E402
from symgrad.ops.registry import build                   # noqa: E402
from symgrad.printing import to_torch                    # noqa: E402
from symgrad.tensor import Tensor                        # noqa: E402

EMBED = """
inputs: {tokens: {shape: [3, 4], dtype: long, high: 13}, y: {shape: [3], dtype: long, high: 3},
         W: {shape: [13, 5], requires_grad: true}, V: {shape: [3, 5], requires_grad: true}}
nodes: {e: "W[tokens]", fc: "linear(sum(e, dim=1), V)", loss: "cross_entropy(fc, y)"}
outputs: [loss]
backward: [loss.backward()]
"""

ONE_HOT_THIRD = """
inputs: {y: {shape: [3], dtype: long, high: 3}, x: {shape: [3, 3], requires_grad: true}}
nodes: {loss: "sum(x * one_hot(y, 3))/3"}
outputs: [loss]
backward: [loss.backward()]
"""

ONE_HOT_PICK = """
inputs: {y: {shape: [3], dtype: long, high: 4}, W: {shape: [5, 4], requires_grad: true}}
nodes: {loss: "sum(W[y]*one_hot(y, 4))"}
outputs: [loss]
backward: [loss.backward()]
"""


def _grad_errors(res):
    return [r.max_abs_err for r in res.schedule_rows if r.what == "grad"] + [r.max_abs_err for r in res.rows]


def test_embedding_with_2d_tokens_is_proven_in_float64():
    _, res = _rows(EMBED)
    _assert_all_pass(res)
    assert max(_grad_errors(res)) < 1e-12


def test_one_hot_over_a_number_is_computed_in_the_working_dtype():
    # PyTorch computes one_hot(y, 3)/3 in float32 (its default dtype): ~1e-8 off in float64
    d, res = _rows(ONE_HOT_THIRD)
    _assert_all_pass(res)
    assert all(r.passed for r in res.rows), [r.line() for r in res.rows]
    assert max(_grad_errors(res)) < 1e-12


def test_lowering_casts_an_integer_tensor_before_float_arithmetic():
    y = Tensor("y", (3,), dtype="long", high=3)
    p = Tensor("p", (3, 3))
    oh = build("one_hot", tensor=y, num_classes=sympy.Integer(3))
    yv = torch.tensor([0, 2, 1])
    pv = torch.rand(3, 3, dtype=torch.float64)
    ns = {"torch": torch, "math": math, "_dt": torch.float64, "_dev": "cpu", "y": yv, "p": pv}
    want = (pv - torch.nn.functional.one_hot(yv, 3).double()) / 3
    for e, ref in ((p / 3 - oh / 3, want), (oh / 3, torch.nn.functional.one_hot(yv, 3).double() / 3),
                   (oh + sympy.Rational(1, 2), torch.nn.functional.one_hot(yv, 3).double() + 0.5)):
        got = eval(to_torch(fix_bools(e, ())), ns)
        assert got.dtype == torch.float64, to_torch(fix_bools(e, ()))
        assert (got - ref).abs().max() < 1e-15          # float32 would be ~1e-8 off
    # an integer value stays an integer where PyTorch keeps it one (2*one_hot is long)
    assert eval(to_torch(fix_bools(2 * oh, (), top_long_ok=True)), ns).dtype == torch.int64


def test_one_hot_adjoint_through_index_add_is_float():
    d, res = _rows(ONE_HOT_PICK)
    _assert_all_pass(res)
    assert all(r.passed for r in res.rows)
    assert "one_hot" in d.schedule.text("W")


def test_text_evaluation_of_a_closed_form_runs_integer_adjoints_as_floats():
    y = torch.tensor([0, 3, 1])
    x = torch.randn(3, 3, dtype=torch.float64)
    ev = TorchEval({"y": y, "x": x}, {}, torch.float64, "cpu", closed_form=True)
    g = ev.eval_text("index_add(zeros((5, 4)), 0, y, one_hot(y, 4))")
    assert g.dtype == torch.float64
    assert torch.equal(g, torch.zeros(5, 4, dtype=torch.float64).index_add(
        0, y, torch.nn.functional.one_hot(y, 4).double()))
    third = ev.eval_text("one_hot(y, 4)/3")
    assert third.dtype == torch.float64
    assert torch.equal(third, torch.nn.functional.one_hot(y, 4).double() / 3)
    assert ev.eval_text("-(x > 0)").dtype == torch.float64
    assert ev.eval_text("one_hot(y, 4)[:, :3].T @ x").dtype == torch.float64
    assert ev.eval_text("x[y - 1]").shape == (3, 3)           # an index stays an integer
    # the spec's own text keeps PyTorch's meaning: float32, as PyTorch computes it
    plain = TorchEval({"y": y}, {}, torch.float64, "cpu")
    assert plain.eval_text("one_hot(y, 4)/3").dtype == torch.float32


def test_proof_of_the_schedule_text_in_closed_form_mode():
    d = symgrad.derive(symgrad.loads(ONE_HOT_PICK))
    y = torch.tensor([0, 3, 1])
    W = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    (W[y] * torch.nn.functional.one_hot(y, 4)).sum().backward()
    got = TorchEval({"y": y, "W": W.detach()}, {}, torch.float64, "cpu", closed_form=True).eval_text(
        d.schedule.text("W"))
    assert torch.equal(got, W.grad)
