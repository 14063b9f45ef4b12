"""Parsing the ``backward`` list of a spec: ``o.backward(...)`` and ``zero_grad()`` only.

`parse_step` reads one line with the same whitelist parser as node expressions and checks
it against the two forms a schedule allows.  A backward call takes PyTorch's own arguments,
bound as ``Tensor.backward(gradient=None, retain_graph=None, create_graph=False,
inputs=None)`` binds them (positionally or by keyword); ``retain_graph`` defaults to
``create_graph``, as in PyTorch.  What symgrad cannot model (another keyword, a fifth
positional argument, ``retain_graph=1``, ``inputs`` that are not spec names) is a spec
error; a call PyTorch refuses when it runs (a Python number as ``gradient``, a gradient of
another shape, ``inputs=[]`` ...) is *not*: it is a valid schedule whose step raises, and
`symgrad.autograd.schedule.predict` says so.

`backward_call` re-reads a step's call and says what each argument is -- a tensor, or a
plain Python number of which type (`value_type`, the rules Python and PyTorch apply to the
text) -- for the prediction, and `call_arguments` gives the argument nodes as written, for
the replay in PyTorch (`symgrad.autograd.proof`), which runs exactly the user's call.
The graph PyTorch records while running the nodes is `symgrad.autograd.recorded`.
"""
import ast
from dataclasses import dataclass
from typing import List, Optional

from .expr import Builder
from .parse import parse_tree, err, suggest
from ..tensor import shape_of, fmt_shape

BACKWARD_PARAMS = ("gradient", "retain_graph", "create_graph", "inputs")


@dataclass
class BackwardCall:
    """The arguments of one ``o.backward(...)`` as PyTorch binds them."""
    output: str
    nodes: dict                      # parameter -> AST node as written
    retain_graph: bool               # effective: retain_graph, else create_graph
    create_graph: bool
    inputs: Optional[List[str]]      # spec names of inputs=, None when not given
    inputs_single: bool = False      # inputs=x (one name, not a list)

    @property
    def gradient_node(self):
        g = self.nodes.get("gradient")
        return None if g is None or _is_none(g) else g


def _is_none(node):
    return isinstance(node, ast.Constant) and node.value is None


def call_arguments(call):
    """(positional argument nodes, [(keyword, node)]) of a backward call, as written."""
    return list(call.args), [(k.arg, k.value) for k in call.keywords]


def _bind(call, tensors):
    """Bind a checked ``o.backward(...)`` call: a `BackwardCall`, or a SpecError."""
    f = call.func
    name = f.value.id
    if len(call.args) > len(BACKWARD_PARAMS):
        raise err(call, "backward() takes at most %d positional arguments (%s)"
                  % (len(BACKWARD_PARAMS), ", ".join(BACKWARD_PARAMS)))
    given = dict(zip(BACKWARD_PARAMS, call.args))
    for kw in call.keywords:
        if kw.arg not in BACKWARD_PARAMS:
            raise err(kw.value, "backward() got an unexpected keyword argument '%s'; it takes %s"
                      % (kw.arg, ", ".join(BACKWARD_PARAMS)))
        if kw.arg in given:
            raise err(kw.value, "backward() got multiple values for '%s'" % kw.arg)
        given[kw.arg] = kw.value
    retain = _flag(given, "retain_graph", "retain_graph must be True or False (or None)", allow_none=True)
    create = _flag(given, "create_graph", "create_graph must be True or False")
    inputs, single = None, False
    v = given.get("inputs")
    if v is not None and not _is_none(v):
        elts = v.elts if isinstance(v, (ast.List, ast.Tuple)) else [v]
        single = not isinstance(v, (ast.List, ast.Tuple))
        inputs = []
        for e in elts:
            if not isinstance(e, ast.Name):
                raise err(e, "inputs= must name tensors of the spec, as in inputs=[x, W]")
            if e.id not in tensors:
                raise err(e, "'%s' in inputs= is not a tensor of the spec%s" % (e.id, suggest(e.id, tensors)))
            inputs.append(e.id)
    return BackwardCall(name, given, bool(create) if retain is None else retain, bool(create), inputs, single)


def _flag(given, key, message, allow_none=False):
    v = given.get(key)
    if v is None:
        return None
    if isinstance(v, ast.Constant) and (isinstance(v.value, bool) or (allow_none and v.value is None)):
        return v.value
    raise err(v, message)


def _tensor_names(prob):
    return {d.name for d in prob.inputs} | {n.name for n in prob.nodes}


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
    tensors = _tensor_names(prob)
    if name not in tensors:
        raise err(f.value, "'%s' is not a tensor of the spec%s" % (name, suggest(name, tensors)))
    bc = _bind(call, tensors)
    gradient = None
    g = bc.gradient_node
    # a Python bool is no number SymPy can build; PyTorch refuses it when the step runs
    if g is not None and not (isinstance(g, ast.Constant) and isinstance(g.value, bool)):
        b = Builder(env)
        gradient = b.build(g)
        got, want = tuple(shape_of(gradient)), tuple(prob.tensors[name].tshape)
        if b.kind(g) != "number" and got != want and _may_coincide(got, want):
            raise err(g, "gradient has shape %s but '%s' has shape %s: they agree only for some "
                         "values of the dims (PyTorch needs exactly the output's shape); write it "
                         "with the same dims, e.g. gradient=ones_like(%s)"
                      % (fmt_shape(got), name, fmt_shape(want), name))
    return BackwardStep(text.strip(), "backward", name, bc.retain_graph, gradient, mark)


def _may_coincide(a, b):
    """Whether two different symbolic shapes are equal for some values of their dims (a
    shape that surely differs -- another rank, other sizes -- is PyTorch's runtime error)."""
    return len(a) == len(b) and all(x == y or not (x.is_Integer and y.is_Integer) for x, y in zip(a, b))


def backward_call(step, prob):
    """The `BackwardCall` of a parsed backward step (its text was checked by `parse_step`)."""
    call = parse_tree(step.call).body
    return _bind(call, _tensor_names(prob))


def value_type(node, types):
    """What the text of ``node`` evaluates to in Python with PyTorch: ``"tensor"``, or the
    name of a Python type (``"int"``, ``"float"``, ``"bool"``) for a plain number.

    ``types`` maps each spec name to ``"tensor"`` or the type of the number it is (a dim is
    an ``int``).  A call always makes a tensor (``exp(2)`` is a 0-d tensor); arithmetic on
    plain numbers follows Python: ``/`` and a float operand give a float, ``-True`` an int.
    """
    t = type(node)
    if t is ast.Constant:
        return type(node.value).__name__
    if t is ast.Name:
        if node.id in types:
            return types[node.id]
        return "float" if node.id == "pi" else "tensor"
    if t is ast.UnaryOp:
        v = value_type(node.operand, types)
        return "int" if v == "bool" else v
    if t is ast.BinOp:
        a, b = value_type(node.left, types), value_type(node.right, types)
        if "tensor" in (a, b):
            return "tensor"
        if isinstance(node.op, ast.Div) or "float" in (a, b):
            return "float"
        if isinstance(node.op, ast.Pow) and _negative(node.right):
            return "float"
        return "int"
    if t is ast.Compare:
        sides = (value_type(node.left, types), value_type(node.comparators[0], types))
        return "tensor" if "tensor" in sides else "bool"
    if t in (ast.Tuple, ast.List):
        return "tuple"
    return "tensor"


def _negative(node):
    """A negative exponent written as a constant (``n**-1`` is a float in Python)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return not _negative(node.operand)
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and node.value < 0
