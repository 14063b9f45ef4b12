"""Random graphs and random schedules: every prediction is run in PyTorch and must hold.

Hypothesis draws a few nodes over inputs that do and do not require grad (elementwise
ops that save tensors and ops that do not, detach, comparisons, shared sub-graphs),
then a schedule of ``backward()`` calls with and without ``retain_graph=True``, with an
explicit ``gradient=`` (a tensor, a bool mask, a Python number, one of another shape),
``create_graph=True``, ``inputs=`` (leaves, non-leaves, tensors that do not require grad),
positional arguments, ``zero_grad()``, and the occasional non-scalar ``backward()``.
`symgrad.autograd.proof.prove` compares each step's outcome and every ``.grad`` with PyTorch.
Nodes such as ``x - x`` (which cancels to 0 but keeps x's shape) are drawn too.

SYMGRAD_RG=N runs N times more examples with fresh randomness (as tests/test_random_graphs.py).
"""
import os

from hypothesis import given, settings, strategies as st, HealthCheck

import symgrad
from symgrad.autograd.proof import prove

HEAD = """
inputs:
  a: {shape: [3]}
  b: {shape: [3], requires_grad: %s}
  c: {shape: []}
"""
UNARY = ["exp({0})", "tanh({0})", "{0}**2", "2*{0}", "{0} + 1", "-{0}", "detach({0})", "sigmoid({0})",
         "relu({0})", "{0}.T", "{0} * ({0} > 0)", "1 - {0}", "{0} / 2"]
BINARY = ["{0} * {1}", "{0} + {1}", "{0} - {1}", "{0} * exp({1})", "where({1} > 0, {0}, {1})"]
REDUCE = ["sum({0})", "mean({0})", "sum({0} * {1})", "dot({0}, {1})", "norm({0})"]


@st.composite
def problems(draw):
    b_rg = draw(st.booleans())
    vectors = ["a", "b"]
    nodes, scalars = {}, []
    for k in range(draw(st.integers(1, 4))):
        name = "h%d" % k
        if draw(st.booleans()):
            nodes[name] = draw(st.sampled_from(UNARY)).format(draw(st.sampled_from(vectors)))
        else:
            x, y = draw(st.sampled_from(vectors)), draw(st.sampled_from(vectors + ["c"]))
            template = draw(st.sampled_from(BINARY))
            nodes[name] = template.format(x, y)
        vectors.append(name)
    for k in range(draw(st.integers(1, 3))):
        name = "L%d" % k
        x, y = draw(st.sampled_from(vectors)), draw(st.sampled_from(vectors))
        nodes[name] = draw(st.sampled_from(REDUCE)).format(x, y) + draw(st.sampled_from(["", " * c", " + c"]))
        scalars.append(name)
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["plain", "retain", "retain", "zero", "vector", "args", "inputs"]))
        if kind == "zero":
            steps.append("zero_grad()")
        elif kind == "vector":
            v = draw(st.sampled_from(vectors[2:] or ["a"]))
            grad = draw(st.sampled_from(["", "gradient=ones_like(%s)" % v, "gradient=b", "gradient=%s > 0" % v,
                                         "gradient=2.5", "gradient=c", "gradient=sum(b)"]))
            steps.append("%s.backward(%s)" % (v, grad))
        elif kind == "args":
            o = draw(st.sampled_from(scalars))
            args = draw(st.sampled_from(["gradient=2.5", "gradient=2*ones_like(c)", "gradient=a", "None, True",
                                         "create_graph=True", "create_graph=True, retain_graph=False",
                                         "retain_graph=False", "None, None, True"]))
            steps.append("%s.backward(%s)" % (o, args))
        else:
            o = draw(st.sampled_from(scalars if kind != "inputs" or draw(st.booleans()) else vectors))
            args = "retain_graph=True" if kind == "retain" else ""
            if kind == "inputs":
                names = draw(st.lists(st.sampled_from(vectors + ["c"]), min_size=0, max_size=2, unique=True))
                args = "inputs=[%s]" % ", ".join(names)
                if o in vectors:
                    args = "gradient=ones_like(%s), " % o + args
                if draw(st.booleans()):
                    args += ", retain_graph=True"
            steps.append("%s.backward(%s)" % (o, args))
    retain = [n for n in vectors[2:] if draw(st.booleans())]
    text = HEAD % ("true" if b_rg else "false") + "nodes:\n"
    text += "".join("  %s: %s\n" % kv for kv in nodes.items())
    text += "outputs: [%s]\n" % ", ".join(scalars)
    if retain:
        text += "retain_grad: [%s]\n" % ", ".join(retain)
    text += "backward:\n" + "".join("  - %s\n" % s for s in steps)
    return text


SCALE = int(os.environ.get("SYMGRAD_RG", "0") or 0)


@settings(max_examples=60 * max(1, SCALE), deadline=None, derandomize=not SCALE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems())
def test_random_schedules_are_proven(text):
    try:
        prob = symgrad.loads(text)
    except symgrad.SpecError as e:
        # e.g. retain_grad on a tensor that does not require grad
        assert "retain_grad" in str(e) or "requires_grad" in str(e), str(e)
        return
    d = symgrad.derive(prob)
    rows, ok = prove(d, seed=1)
    assert ok, text + "\n" + "\n".join(r.line() for r in rows)
