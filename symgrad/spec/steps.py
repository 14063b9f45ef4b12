"""Parsing the ``backward`` list of a spec: ``o.backward(...)`` and ``zero_grad()`` only.

`parse_step` reads one line with the same whitelist parser as node expressions, and
checks it against the only two forms a schedule allows.  The graph PyTorch records
while running the nodes is `symgrad.autograd.recorded`.
"""
import ast

from .expr import Builder
from .parse import parse_tree, err, suggest
from ..tensor import shape_of, fmt_shape

BACKWARD_KWARGS = ("gradient", "retain_graph")


def parse_step(text, prob, env, mark):
    from .problem import BackwardStep
    tree = parse_tree(text)
    call = tree.body
    if not isinstance(call, ast.Call):
        raise err(call, "a backward step must be 'o.backward(...)' or 'zero_grad()'")
    f = call.func
    if isinstance(f, ast.Name) and f.id == "zero_grad":
        if call.args or call.keywords:
            raise err(call, "zero_grad() takes no arguments")
        return BackwardStep(text.strip(), "zero_grad", None, False, None, mark)
    if not (isinstance(f, ast.Attribute) and f.attr == "backward" and isinstance(f.value, ast.Name)):
        raise err(call, "a backward step must be 'o.backward(...)' on a named tensor, or 'zero_grad()'")
    name = f.value.id
    tensors = {d.name for d in prob.inputs} | {n.name for n in prob.nodes}
    if name not in tensors:
        raise err(f.value, "'%s' is not a tensor of the spec%s" % (name, suggest(name, tensors)))
    if len(call.args) > 2:
        raise err(call, "backward() takes at most 2 positional arguments (gradient, retain_graph)")
    given = {}
    for k, a in zip(BACKWARD_KWARGS, call.args):
        given[k] = a
    for kw in call.keywords:
        if kw.arg not in BACKWARD_KWARGS:
            raise err(kw.value, "backward() got an unexpected keyword argument '%s'; it takes %s"
                      % (kw.arg, ", ".join(BACKWARD_KWARGS)))
        if kw.arg in given:
            raise err(kw.value, "backward() got multiple values for '%s'" % kw.arg)
        given[kw.arg] = kw.value
    retain = False
    if "retain_graph" in given:
        v = given["retain_graph"]
        if not (isinstance(v, ast.Constant) and isinstance(v.value, bool)):
            raise err(v, "retain_graph must be True or False")
        retain = v.value
    gradient = None
    if "gradient" in given and not (isinstance(given["gradient"], ast.Constant) and given["gradient"].value is None):
        gradient = Builder(env).build(given["gradient"])
        want = prob.tensors[name].tshape
        got = shape_of(gradient)
        if got != want:
            raise err(given["gradient"], "gradient has shape %s but '%s' has shape %s"
                      % (fmt_shape(got), name, fmt_shape(want)))
    return BackwardStep(text.strip(), "backward", name, retain, gradient, mark)
