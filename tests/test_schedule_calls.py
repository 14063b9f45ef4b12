"""Every form of a ``backward`` call, predicted as PyTorch 2.13 behaves and proven in PyTorch.

``Tensor.backward(gradient=None, retain_graph=None, create_graph=False, inputs=None)``:
a Python number as ``gradient`` (a ``TypeError``, even for a scalar output), a gradient of
another shape, a bool tensor as gradient (cast by PyTorch), ``retain_graph=False``/``None``,
``create_graph`` (which retains the graph), positional arguments, ``inputs=`` (only the nodes
on a path to an input run; a non-leaf input retains its grad from then on), ``backward`` on a
name that is a plain number.  Each case is checked three ways: the predicted error (type,
kind, message), `prove` (the replay runs exactly the user's call), and an independent run of
the call's text by Python's own ``eval`` on the PyTorch tensors -- so a replay that runs a
different call than the user's cannot make a wrong prediction pass.
"""
import math

import pytest
import torch

import symgrad
from symgrad.autograd.proof import prove
from symgrad.autograd.refusals import ERROR_KINDS
from symgrad.autograd.proof import _run_forward
from symgrad.numeric.inputs import draw_inputs, dim_values

HEAD = """
dims: {n: 3}
inputs:
  x: {shape: [n]}
  w: {shape: [n]}
  k: {shape: [n], requires_grad: false}
  X: {shape: [2, 4, 3]}
  W: {shape: [5, 3]}
  b: {shape: [5]}
"""
NODES = {
    "c": "2",                    # a plain Python int
    "f": "n/2",                  # a plain Python float
    "h": "exp(x)",
    "y": "h * w",
    "d": "sum(y)",
    "e": "sum(exp(x) + w)",
    "s1": "sum(x, keepdim=True)",
    "kk": "sum(k * 2)",
    "ky": "k * 2",
    "z": "linear(X, W, b)",
    "L": "sum(z)",
}


def spec(steps, retain=()):
    text = HEAD + "nodes:\n" + "".join("  %s: %s\n" % kv for kv in NODES.items())
    if retain:
        text += "retain_grad: [%s]\n" % ", ".join(retain)
    return text + "backward:\n" + "".join("  - %s\n" % s for s in steps)


NAMESPACE = {
    "ones_like": torch.ones_like, "zeros_like": torch.zeros_like, "exp": torch.exp, "sum": torch.sum,
    "ones": lambda *s: torch.ones(*s, dtype=torch.float64), "pi": math.pi,
}


def torch_outcome(d):
    """Run the schedule's calls as Python text on the PyTorch tensors (independent of symgrad's
    replay): the (step, error type) of the first raising step, or None."""
    prob = d.problem
    dims = dim_values(prob, None)
    env = _run_forward(prob, draw_inputs(prob, dims, torch.float64, "cpu", 0), dims, torch.float64, "cpu")
    ns = dict(NAMESPACE, **{k: v for k, v in dims.items()}, **env)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, st in enumerate(prob.backward, 1):
            try:
                if st.kind == "zero_grad":
                    for t in env.values():
                        if isinstance(t, torch.Tensor):
                            t.grad = None
                else:
                    eval(st.call, {"__builtins__": {}}, ns)     # test code: the spec's own text
            except Exception as e:
                return k, type(e).__name__, str(e)
    return None


def check(steps, retain=(), raises=None, at=None, kind=None):
    """Predict, prove and compare with PyTorch run independently; returns the derivation."""
    d = symgrad.derive(symgrad.loads(spec(steps, retain)))
    s = d.schedule
    real = torch_outcome(d)
    rows, ok = prove(d)
    assert ok, "\n".join(r.line() for r in rows)
    if raises is None:
        assert s.raised_at is None and real is None, (s.error, real)
        return d
    at = at or len(steps)
    assert s.raised_at == at and s.error.type == raises and s.error.kind == kind, s.error
    assert real is not None and real[:2] == (at, raises), real
    assert s.error.message == real[2] or kind in ("gradient_shape",), (s.error.message, real[2])
    assert s.error.kind in ERROR_KINDS and s.error.explanation and s.error.fix
    return d


# --- gradient= ----------------------------------------------------------------------------

@pytest.mark.parametrize("call,typ", [
    ("d.backward(gradient=2.5)", "float"), ("d.backward(2.5)", "float"), ("d.backward(gradient=3)", "int"),
    ("d.backward(gradient=True)", "bool"), ("d.backward(gradient=n)", "int"), ("d.backward(gradient=n/2)", "float"),
    ("d.backward(gradient=pi)", "float"), ("d.backward(gradient=-1)", "int"), ("d.backward(gradient=c)", "int"),
    ("d.backward(gradient=f)", "float"), ("d.backward(gradient=n**-1)", "float"), ("d.backward(gradient=2*n)", "int"),
    ("y.backward(gradient=2.5)", "float"),            # before the implicit-gradient check
    ("kk.backward(gradient=2.5)", "float"),           # before the no-grad check
])
def test_a_python_number_as_gradient_is_a_type_error(call, typ):
    d = check([call], raises="TypeError", kind="number_argument")
    e = d.schedule.error
    assert e.message == "'%s' object is not iterable" % typ
    assert "plain Python %s" % typ in e.explanation and "ones_like" in e.fix


def test_gradient_2_5_on_a_scalar_reads_as_pytorch_says():
    d = check(["d.backward(retain_graph=True)", "d.backward(gradient=2.5)"], raises="TypeError",
              kind="number_argument")
    lines = d.schedule.summary_lines()
    assert "step 2: d.backward(gradient=2.5) raises TypeError: 'float' object is not iterable" in lines
    step = d.schedule.to_dict()["steps"][1]
    assert step["error"]["type"] == "TypeError" and step["error"]["kind"] == "number_argument"
    assert d.schedule.text("x") is not None                # what step 1 left


@pytest.mark.parametrize("call", [
    "d.backward(gradient=ones_like(x))",        # [3] for a scalar
    "s1.backward(gradient=sum(x))",             # [] for [1]
    "d.backward(gradient=s1)",                  # [1] for []
    "y.backward(gradient=ones(2, 3))",          # [2, 3] for [3]: no broadcasting
    "ky.backward(gradient=ones(2, 3))",         # checked before the no-grad error
])
def test_a_gradient_of_another_shape_raises(call):
    d = check([call], raises="RuntimeError", kind="gradient_shape")
    assert d.schedule.error.message.startswith("Mismatch in shape: grad_output[0] has a shape of torch.Size(")


@pytest.mark.parametrize("call", [
    "y.backward(gradient=x > 0)",               # a bool tensor: PyTorch casts it
    "d.backward(gradient=sum(x))",              # a 0-d tensor (that requires grad)
    "d.backward(gradient=3*ones_like(d))",
    "y.backward(gradient=w)",                   # a tensor that requires grad
    "d.backward(gradient=None)",
    "d.backward(None)",
])
def test_tensor_gradients_complete(call):
    check([call])


def test_scalar_tensor_gradient_scales_the_seed():
    d = check(["d.backward(gradient=3*ones_like(d))"])
    h, w = d.problem.tensors["h"], d.problem.tensors["w"]
    assert d.schedule.grad["x"] == 3 * h * w


# --- retain_graph, create_graph, positional arguments ----------------------------------------

@pytest.mark.parametrize("first", ["d.backward(retain_graph=False)", "d.backward(retain_graph=None)",
                                   "d.backward(None, False)", "d.backward(create_graph=False)",
                                   "d.backward(create_graph=True, retain_graph=False)"])
def test_graph_freed_unless_retained(first):
    d = check([first, "d.backward()"], raises="RuntimeError", kind="freed")
    assert d.schedule.error.freed_by == 1


@pytest.mark.parametrize("first", ["d.backward(retain_graph=True)", "d.backward(None, True)",
                                   "d.backward(create_graph=True)", "d.backward(None, None, True)",
                                   "y.backward(ones_like(y), True, False, [x, w])"])
def test_graph_kept(first):
    check([first, "d.backward()"])


def test_positional_and_keyword_twice_is_a_spec_error():
    with pytest.raises(symgrad.SpecError, match="multiple values for 'gradient'"):
        symgrad.loads(spec(["d.backward(None, gradient=None)"]))
    with pytest.raises(symgrad.SpecError, match="at most 4 positional"):
        symgrad.loads(spec(["d.backward(None, True, False, [x], 1)"]))
    with pytest.raises(symgrad.SpecError, match="create_graph must be True or False"):
        symgrad.loads(spec(["d.backward(create_graph=1)"]))
    with pytest.raises(symgrad.SpecError, match="inputs= must name tensors"):
        symgrad.loads(spec(["d.backward(inputs=[x * 2])"]))
    with pytest.raises(symgrad.SpecError, match="'zz' in inputs= is not a tensor"):
        symgrad.loads(spec(["d.backward(inputs=[zz])"]))
    # [3] and [n] agree only when n is 3: symbolic, as the loader treats x + ones(3) for x of [n]
    with pytest.raises(symgrad.SpecError, match=r"gradient has shape \[3\] but 'y' has shape \[n\]"):
        symgrad.loads(spec(["y.backward(gradient=ones(3))"]))


# --- inputs= ------------------------------------------------------------------------------

def test_inputs_accumulate_only_into_the_inputs():
    d = check(["d.backward(inputs=[w], retain_graph=True)", "d.backward(inputs=x)"])
    s = d.schedule
    assert s.steps[0].grad["x"] is None and s.steps[0].grad["w"] is not None
    assert s.grad["x"] is not None


def test_a_non_leaf_input_retains_its_grad_from_then_on():
    d = check(["d.backward(inputs=[h], retain_graph=True)", "d.backward()"])
    s = d.schedule
    w = d.problem.tensors["w"]
    assert s.steps[0].grad["x"] is None and s.steps[0].grad["h"] == w
    assert s.grad["h"] == 2 * w                      # still accumulating in step 2


def test_inputs_run_only_the_needed_nodes():
    # e = sum(exp(x) + w): inputs=[w] runs no node that saved tensors, so exp(x)'s are kept
    check(["e.backward(inputs=[w])", "e.backward(inputs=[x])"])
    d = check(["e.backward(inputs=[w])", "e.backward(inputs=[x])", "e.backward()"],
              raises="RuntimeError", kind="freed")
    assert d.schedule.error.node == "ExpBackward0" and d.schedule.error.freed_by == 2
    # d = sum(exp(x) * w): the product runs (and frees) for either input
    check(["d.backward(inputs=[w])", "d.backward(inputs=[x])"], raises="RuntimeError", kind="freed")
    # a non-leaf input's own grad_fn runs even though nothing below it is needed
    check(["d.backward(inputs=[y])", "d.backward()"], raises="RuntimeError", kind="freed")


def test_a_composite_non_leaf_input_runs_only_its_first_node():
    # z = linear(X, W, b) on a 3-D X records ViewBackward0 over AddmmBackward0: inputs=[z]
    # runs the view only, so the second call still finds addmm's saved tensors
    d = check(["L.backward(inputs=[z])", "L.backward()", "L.backward()"], raises="RuntimeError",
              kind="freed")
    assert d.schedule.error.freed_by == 2 and d.schedule.error.node == "AddmmBackward0"


def test_a_retained_root_gets_its_grad_with_any_inputs():
    # the engine starts at h's grad_fn and fires h's retain_grad hook, but runs (and frees)
    # exp's node only in step 2, when it leads to x
    d = check(["h.backward(gradient=ones_like(h), inputs=[W])", "h.backward(gradient=ones_like(h))",
               "h.backward(gradient=ones_like(h))"], retain=["h"], raises="RuntimeError", kind="freed")
    s = d.schedule
    assert s.steps[0].grad["h"] is not None and s.steps[0].grad["x"] is None and s.error.freed_by == 2


def test_an_input_that_is_not_reached_gets_nothing():
    d = check(["e.backward(inputs=[W])"])
    assert all(v is None for v in d.schedule.grad.values())


@pytest.mark.parametrize("call,raises,kind", [
    ("d.backward(inputs=[])", "RuntimeError", "empty_inputs"),
    ("d.backward(gradient=2.5, inputs=[])", "RuntimeError", "empty_inputs"),   # inputs first
    ("d.backward(inputs=[x, k])", "RuntimeError", "input_no_grad"),
    ("d.backward(inputs=c)", "TypeError", "number_argument"),
    ("d.backward(inputs=[x, c])", "RuntimeError", "input_not_tensor"),
    ("y.backward(inputs=[x])", "RuntimeError", "implicit_grad"),
    ("kk.backward(inputs=[k])", "RuntimeError", "no_grad"),                  # the output first
])
def test_inputs_refusals(call, raises, kind):
    check([call], raises=raises, kind=kind)


# --- backward on a name that is not a tensor -----------------------------------------------

@pytest.mark.parametrize("name,typ", [("c", "int"), ("f", "float")])
def test_backward_on_a_plain_number(name, typ):
    d = check(["%s.backward()" % name], raises="AttributeError", kind="no_backward")
    assert d.schedule.error.message == "'%s' object has no attribute 'backward'" % typ
    assert "plain Python %s" % typ in d.schedule.why_none[name]


def test_the_fix_keeps_every_other_argument():
    from symgrad.autograd.refusals import with_retain_graph
    assert with_retain_graph("d.backward(None, False, True, [x])") == \
        "d.backward(None, create_graph=True, inputs=[x], retain_graph=True)"
    assert with_retain_graph("d.backward(inputs=[x], gradient=g)") == \
        "d.backward(inputs=[x], gradient=g, retain_graph=True)"
    d = check(["y.backward(ones_like(y), None, False, [x])", "d.backward()"], raises="RuntimeError", kind="freed")
    assert d.schedule.error.fix == "y.backward(ones_like(y), create_graph=False, inputs=[x], retain_graph=True) in step 1"
