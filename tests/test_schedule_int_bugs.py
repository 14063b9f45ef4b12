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
