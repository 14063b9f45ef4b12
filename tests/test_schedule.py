"""Autograd schedules: predicted symbolically (`symgrad.autograd.schedule.predict`), proven in PyTorch.

Every example with a ``backward`` list is predicted and then run for real (`prove`);
the notebook's lessons are pinned down one by one (``5*a``, the error without
``retain_graph``, None for a non-leaf, ``1/2`` with ``retain_grad``, leaves of an MLP),
as are PyTorch's three refusals and the cases that do *not* raise (``sum`` and ``mean``
save no tensors).  The command line is driven through click's `CliRunner`.
"""
import glob
import json
import os

import pytest
import sympy
import yaml
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.ops.shape import OnesLikeOp
from symgrad.autograd.proof import prove
from symgrad.autograd.refusals import with_retain_graph, error_kind, FREED_MESSAGE, IMPLICIT_MESSAGE, NO_GRAD_MESSAGE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def example(name):
    return os.path.join(EXAMPLES, name)


def scheduled_examples():
    out = []
    for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
        with open(path) as f:
            data = yaml.safe_load(f)
        if isinstance(data, dict) and data.get("backward"):
            out.append(os.path.basename(path))
    return out


def derive_text(text):
    return symgrad.derive(symgrad.loads(text))


def proven(d, ignore_report=False, **kw):
    rows, ok = prove(d, **kw)
    bad = [r for r in rows if not r.passed and not (ignore_report and r.what == "tensors")]
    assert not bad, "\n".join(r.line() for r in rows)
    return rows


def grads(d):
    return d.schedule.to_dict()["grad"]


# --- every example ------------------------------------------------------------------------

@pytest.mark.parametrize("name", scheduled_examples())
def test_example_schedule_is_predicted_and_proven(name):
    d = symgrad.derive(symgrad.load(example(name)))
    s = d.schedule
    assert s is not None and len(s.steps) == len(d.problem.backward)
    rows = proven(d)
    assert any(r.what == "grad" for r in rows) and any(r.what == "step" for r in rows)
    json.dumps(s.to_dict())
    assert all(isinstance(line, str) for line in s.summary_lines())
    assert d.problem.title and d.problem.description


def test_examples_of_this_issue_exist():
    have = set(scheduled_examples())
    for name in ("multi_loss.yaml", "multi_loss_no_retain.yaml", "non_leaf.yaml", "zero_grad.yaml",
                 "detach.yaml", "mlp_leaves.yaml", "vector_jacobian.yaml"):
        assert name in have


def test_multi_loss_accumulates_5a():
    d = symgrad.derive(symgrad.load(example("multi_loss.yaml")))
    s = d.schedule
    g = grads(d)
    assert g["a"] == "5*a"
    b = d.problem.tensors["b"]
    assert sympy.simplify(s.grad["b"] - sympy.Rational(5, 2) * OnesLikeOp(b)) == 0
    assert g["c"] is None and g["d"] is None and g["e"] is None
    assert s.raised_at is None and [st.error for st in s.steps] == [None, None]
    assert s.steps[0].grad["a"] == d.problem.tensors["a"]          # a after d.backward
    assert "non-leaf" in s.why_none["c"]


def test_multi_loss_without_retain_graph_raises_at_step_2():
    d = symgrad.derive(symgrad.load(example("multi_loss_no_retain.yaml")))
    s = d.schedule
    assert s.raised_at == 2
    e = s.steps[1].error
    assert e.kind == "freed" and e.type == "RuntimeError" and e.message == FREED_MESSAGE
    assert e.node == "MulBackward0" and [f for f, _ in e.saved] == ["other"] and e.freed_by == 1
    assert "c = b*2" in e.explanation and "the scalar 2" in e.explanation
    assert e.fix == "d.backward(retain_graph=True) in step 1"
    assert grads(d)["a"] == "a"                      # what step 1 left
    step = s.to_dict()["steps"][1]
    assert step["error"]["type"] == "RuntimeError" and step["error"]["kind"] == "freed"
    assert "explanation" in step["error"]
    proven(d)


def test_non_leaf_and_retain_grad():
    d = symgrad.derive(symgrad.load(example("non_leaf.yaml")))
    g = grads(d)
    assert g["a"] == "a" and g["b"] == "ones_like(b)/2" and g["c"] is None and g["d"] is None
    assert d.schedule.flags["b"] == (True, False, "PowBackward0")
    assert d.schedule.to_dict()["autograd"]["b"]["retains_grad"] is True


def test_zero_grad_example():
    d = symgrad.derive(symgrad.load(example("zero_grad.yaml")))
    s = d.schedule
    assert [st.grad["w"] is None for st in s.steps] == [False, True, False, False]
    assert grads(d)["x"] is None and "requires_grad: false" in s.why_none["x"]


def test_detach_is_a_leaf_and_a_stop_gradient():
    d = symgrad.derive(symgrad.load(example("detach.yaml")))
    s = d.schedule
    assert s.flags["s"] == (False, True, None)
    assert grads(d)["s"] is None and "detach" in s.why_none["s"]
    x, h, sv = (d.problem.tensors[n] for n in "xhs")
    assert sympy.simplify(s.grad["x"] - sv * (1 - h ** 2)) == 0


def test_mlp_weights_are_leaves():
    d = symgrad.derive(symgrad.load(example("mlp_leaves.yaml")))
    s = d.schedule
    g = grads(d)
    for w in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert s.flags[w] == (True, True, None) and g[w] is not None
    for h in ("h1", "h2", "z", "loss"):
        assert s.flags[h][:2] == (True, False) and g[h] is None
    assert s.flags["xf"] == (False, True, None) and g["x"] is None and g["y"] is None
    assert s.flags["loss"][2] == "DivBackward1"


def test_vector_jacobian_example():
    d = symgrad.derive(symgrad.load(example("vector_jacobian.yaml")))
    x, v, y = (d.problem.tensors[n] for n in "xvy")
    assert sympy.simplify(d.schedule.grad["x"] - y * (OnesLikeOp(y) + v)) == 0


# --- the command line ---------------------------------------------------------------------

def test_cli_derive_multi_loss_shows_the_grads():
    r = CliRunner().invoke(main, ["derive", example("multi_loss.yaml"), "--no-check"])
    assert r.exit_code == 0, r.output
    assert "a.grad = 5*a" in r.output
    assert "b.grad = 5*ones_like(b)/2" in r.output


def test_cli_derive_no_retain_shows_the_error_and_its_reason():
    r = CliRunner().invoke(main, ["derive", example("multi_loss_no_retain.yaml"), "--no-check"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "step 2: e.backward() raises RuntimeError: Trying to backward through the graph a second time" in out
    assert "MulBackward0 (c = b*2)" in out and "freed" in out
    assert "fix: d.backward(retain_graph=True) in step 1" in out
    assert "a.grad = a" in out


def test_cli_check_proves_the_schedule():
    r = CliRunner().invoke(main, ["check", example("multi_loss_no_retain.yaml")])
    assert r.exit_code == 0, r.output
    assert "step 2: e.backward()" in r.output and "as predicted" in r.output
    assert "FAIL" not in r.output


def test_cli_json_schedule():
    r = CliRunner().invoke(main, ["derive", example("multi_loss.yaml"), "--no-check", "--format", "json"])
    assert r.exit_code == 0, r.output
    sched = json.loads(r.output)["schedule"]
    assert sched["steps"][0] == {**sched["steps"][0], "call": "d.backward(retain_graph=True)", "error": None}
    assert sched["grad"]["a"] == "5*a" and sched["grad"]["c"] is None


# --- PyTorch's refusals, and what does not raise ------------------------------------------

HEAD = """
inputs:
  x: {shape: [3]}
  k: {shape: [3], requires_grad: false}
"""


def spec(nodes, backward, retain=None, head=HEAD):
    text = head + "nodes:\n" + "".join("  %s: %s\n" % kv for kv in nodes.items())
    if retain:
        text += "retain_grad: [%s]\n" % ", ".join(retain)
    return text + "backward:\n" + "".join("  - %s\n" % b for b in backward)


@pytest.mark.parametrize("node", ["sum(x)", "mean(x)", "sum(x + 1)", "sum(x - k)", "sum(-x)",
                                  "sum(unsqueeze(x, 0).T)", "sum(reshape(x, (3, 1)) + k)"])
def test_nodes_without_saved_tensors_backpropagate_twice(node):
    d = derive_text(spec({"s": node}, ["s.backward()", "s.backward()"]))
    assert d.schedule.raised_at is None
    proven(d)


@pytest.mark.parametrize("node,raiser", [("sum(exp(x))", "ExpBackward0"), ("sum(x**2)", "PowBackward0"),
                                         ("sum(2*x)", "MulBackward0"), ("sum(tanh(x))", "TanhBackward0"),
                                         ("sum(x * k)", "MulBackward0"), ("mean(x / 2)", "DivBackward0")])
def test_saving_nodes_raise_on_a_second_backward(node, raiser):
    d = derive_text(spec({"s": node}, ["s.backward()", "s.backward()"]))
    s = d.schedule
    assert s.raised_at == 2 and s.error.kind == "freed" and s.error.node == raiser
    assert "s.backward(retain_graph=True) in step 1" == s.error.fix
    proven(d)


def test_retain_graph_on_the_later_call_does_not_help():
    d = derive_text(spec({"h": "exp(x)", "d": "sum(h)", "e": "mean(h)"},
                         ["d.backward()", "e.backward(retain_graph=True)", "zero_grad()"]))
    s = d.schedule
    assert s.raised_at == 2 and s.error.node == "ExpBackward0"
    assert [st.ran for st in s.steps] == [True, True, False]
    assert s.to_dict()["steps"][2]["ran"] is False
    assert any("not run" in line for line in s.summary_lines())
    proven(d)


def test_separate_graphs_do_not_interfere():
    d = derive_text(spec({"d": "sum(x**2)", "e": "sum(exp(k) * x)"}, ["d.backward()", "e.backward()"]))
    assert d.schedule.raised_at is None
    assert grads(d)["x"] == "2*x + exp(k)"
    proven(d)


def test_implicit_gradient_for_a_non_scalar_output():
    d = derive_text(spec({"y": "x * 2"}, ["y.backward()"]))
    e = d.schedule.error
    assert e.kind == "implicit_grad" and e.message == IMPLICIT_MESSAGE and "[3]" in e.explanation
    assert "gradient=" in e.fix
    proven(d)


def test_one_element_outputs_get_an_implicit_gradient():
    d = derive_text(spec({"y": "sum(x, keepdim=True)"}, ["y.backward()"]))
    assert d.schedule.raised_at is None and grads(d)["x"] == "ones_like(x)"
    proven(d)


@pytest.mark.parametrize("nodes,out,why", [
    ({"y": "sum(k * 2)"}, "y", "nothing"), ({"y": "sum(detach(x))"}, "y", "nothing"),
    ({"y": "detach(sum(x))"}, "y", "detach"), ({"y": "sum(x > 0)"}, "y", "nothing"),
])
def test_backward_on_a_tensor_that_does_not_require_grad(nodes, out, why):
    d = derive_text(spec(nodes, ["%s.backward()" % out]))
    e = d.schedule.error
    assert e.kind == "no_grad" and e.message == NO_GRAD_MESSAGE and why in e.explanation
    proven(d)


def test_backward_on_an_input_that_does_not_require_grad():
    head = "inputs:\n  x: {shape: [3]}\n  k: {shape: [], requires_grad: false}\n"
    d = derive_text(spec({"y": "sum(x)"}, ["y.backward()", "k.backward()"], head=head))
    s = d.schedule
    assert s.raised_at == 2 and "requires_grad: false" in s.error.explanation
    proven(d)


def test_a_node_without_derivative_raises_when_it_runs():
    # (the report's own 'tensors' flags say heaviside's result does not require grad:
    #  a symgrad.diff.graph issue, not the schedule's, hence ignore_report)
    d = derive_text(spec({"y": "sum(heaviside(x, 0.5) + x)"}, ["y.backward()"]))
    e = d.schedule.error
    assert e.kind == "not_implemented" and "heaviside" in e.message
    proven(d, ignore_report=True)


def test_backward_on_a_leaf_and_on_a_retained_root():
    head = "inputs:\n  c: {shape: []}\n  x: {shape: [3]}\n"
    d = derive_text(spec({"d": "sum(c * x)"}, ["c.backward()", "d.backward()"], retain=["d"], head=head))
    s, t = d.schedule, d.problem.tensors
    assert grads(d)["d"] == "1"                                   # d.grad = tensor(1.)
    assert sympy.simplify(s.grad["x"] - t["c"] * OnesLikeOp(t["x"])) == 0
    assert s.steps[0].grad["c"] == 1 and s.grad["c"] != 1         # 1, then 1 + sum(x)
    proven(d)


def test_explicit_scalar_gradient_scales_the_seed():
    # a 0-d tensor: PyTorch refuses a plain number (test_schedule_calls.py)
    d = derive_text(spec({"d": "sum(x**2)"}, ["d.backward(gradient=3*ones_like(d))"]))
    assert grads(d)["x"] == "6*x"
    proven(d)


def test_aliases_share_one_grad():
    # b is a itself (PyTorch returns the same object); the report's 'tensors' flags
    # (symgrad.diff.graph) call it a non-leaf, so only the schedule's rows are required here.
    head = "inputs:\n  a: {shape: [3]}\n"
    d = derive_text(spec({"b": "a", "c": "+a", "d": "sum(b * c)"}, ["d.backward()"], head=head))
    s = d.schedule
    assert s.flags["b"] == (True, True, None) and s.flags["c"] == (True, True, None)
    g = grads(d)
    assert g["a"] is not None and g["a"] == g["b"] == g["c"] and g["d"] is None
    proven(d, ignore_report=True)


def test_zero_grad_sets_every_grad_to_none():
    d = derive_text(spec({"h": "tanh(x)", "d": "sum(h)"}, ["d.backward(retain_graph=True)", "zero_grad()"],
                         retain=["h"]))
    s = d.schedule
    assert all(v is None for v in grads(d).values())
    assert "zero_grad" in s.why_none["x"]
    assert s.steps[0].grad["h"] is not None
    proven(d)


def test_composite_ops_name_the_node_that_saved():
    head = "inputs:\n  x: {shape: [4, 3], requires_grad: false}\n  W: {shape: [2, 3]}\n  b: {shape: [2]}\n"
    d = derive_text(spec({"z": "linear(x, W, b)", "l1": "sum(z)", "l2": "mean(z)"},
                         ["l1.backward()", "l2.backward()"], head=head))
    e = d.schedule.error
    assert e.node == "AddmmBackward0" and [f for f, _ in e.saved] == ["mat1"]
    proven(d)
    # only the bias requires grad: addmm saves nothing, a second backward is fine
    head = "inputs:\n  x: {shape: [4, 3], requires_grad: false}\n  W: {shape: [2, 3], requires_grad: false}\n" \
           "  b: {shape: [2]}\n"
    d = derive_text(spec({"z": "linear(x, W, b)", "l1": "sum(z)", "l2": "mean(z)"},
                         ["l1.backward()", "l2.backward()"], head=head))
    assert d.schedule.raised_at is None
    proven(d)


def test_prove_in_float32_and_with_another_seed():
    d = symgrad.derive(symgrad.load(example("zero_grad.yaml")))
    proven(d, dtype="float32", seed=3)


def test_prove_reports_a_wrong_prediction():
    d = symgrad.derive(symgrad.load(example("multi_loss.yaml")))
    s = d.schedule
    s.grad["a"] = 4 * d.problem.tensors["a"]
    rows, ok = prove(d)
    assert not ok
    bad = [r for r in rows if not r.passed]
    assert [(r.what, r.step, r.tensor) for r in bad] == [("step", 2, None), ("grad", None, "a")]
    assert all("FAIL" in r.line() and r.to_dict()["passed"] is False for r in bad)
    assert "a.grad: predicted 4*a" in bad[0].got


def test_helpers():
    assert with_retain_graph("d.backward()") == "d.backward(retain_graph=True)"
    assert with_retain_graph("y.backward(gradient=v)") == "y.backward(gradient=v, retain_graph=True)"
    assert with_retain_graph("y.backward(v, False)") == "y.backward(v, retain_graph=True)"
    assert error_kind(FREED_MESSAGE) == "freed" and error_kind(IMPLICIT_MESSAGE) == "implicit_grad"
    assert error_kind(NO_GRAD_MESSAGE) == "no_grad"


def test_no_backward_list_no_schedule():
    d = derive_text(HEAD + "nodes:\n  y: sum(x)\n")
    assert d.schedule is None and d.to_dict()["schedule"] is None


MIXED = """
inputs:
  x: {shape: [4, 3], requires_grad: false}
  W: {shape: [2, 3]}
  b: {shape: [2]}
  t: {shape: [4, 2], requires_grad: false}
  s: {shape: []}
nodes:
  z: linear(x, W, b)
  zd: detach(z)
  m: zd > 0
  k: x * 2
  kk: sum(k, dim=1)
  h: relu(z) * m
  g: exp(t) * s
  c: ones_like(z) + zd
  loss: mse_loss(h, t) + sum(g) + mean(c * z)
backward:
  - loss.backward()
"""


def test_flags_of_a_mixed_graph_agree_with_pytorch():
    """Inputs without grad, detach, comparisons, constants: the schedule's flags and the
    report's ``tensors`` both say what PyTorch says (prove checks both)."""
    import torch
    from symgrad.autograd.proof import _run_forward
    from symgrad.numeric.inputs import draw_inputs
    d = derive_text(MIXED)
    s, info = d.schedule, d.tensor_info()
    env = _run_forward(d.problem, draw_inputs(d.problem, {}, torch.float64, "cpu", 0), {}, torch.float64, "cpu")
    for name, t in env.items():
        real = (t.requires_grad, t.is_leaf, t.grad_fn.name() if t.grad_fn is not None else None)
        assert s.flags[name] == real, name
        assert (info[name]["requires_grad"], info[name]["is_leaf"]) == real[:2], name
    assert s.flags["zd"] == (False, True, None) and s.flags["kk"] == (False, True, None)
    assert grads(d)["x"] is None and grads(d)["zd"] is None and grads(d)["s"] is not None
    proven(d)


# --- flags, shapes and mask text that other stages must get right -----------------------

@pytest.mark.parametrize("node", ["a", "+a", "flatten(a)", "a*0", "heaviside(a, 0.5)"])
def test_report_flags_agree_with_pytorch(node):
    head = "inputs:\n  a: {shape: [3]}\n"
    d = derive_text(spec({"b": node, "d": "sum(a * 2)"}, ["d.backward()"], head=head))
    rows, ok = prove(d)
    assert ok, "\n".join(r.line() for r in rows)


def test_cancelled_node_keeps_its_shape():
    d = derive_text(spec({"h": "x - x", "d": "sum(h * h) + sum(x)"}, ["d.backward()"]))
    assert d.problem.tensors["h"].tshape == d.problem.tensors["x"].tshape
    proven(d)


def test_closed_form_text_never_negates_a_mask():
    import torch
    from symgrad.numeric.reference import TorchEval
    d = derive_text(spec({"h": "where(x > 0, k, x)", "d": "sum(-h * k)"}, ["d.backward()"]))
    proven(d)                                           # the values are right
    env = {"x": torch.randn(3, dtype=torch.float64), "k": torch.randn(3, dtype=torch.float64)}
    TorchEval(env, {}, torch.float64, "cpu").eval_text(d.schedule.text("x"))
