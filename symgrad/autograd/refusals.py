"""What PyTorch refuses in a ``backward()`` call, with its own exception type and message.

The checks run in PyTorch's order (read from its source): ``.backward`` of a plain
number, ``inputs=`` and then ``gradient=`` given a plain number, an empty ``inputs=``, a
gradient of another shape (PyTorch does not broadcast it), an implicit gradient for an
output of more than one element, an output that does not require grad, a tensor of
``inputs=`` that does not require grad.  `error_kind` classifies a message, so the proof
can compare PyTorch's real error with the prediction.
"""
import ast
from dataclasses import dataclass
from typing import Optional

from ..spec.steps import value_type
from ..tensor import shape_of, numel, fmt_shape


FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


IMPLICIT_MESSAGE = "grad can be implicitly created only for scalar outputs"


NO_GRAD_MESSAGE = "element 0 of tensors does not require grad and does not have a grad_fn"


# PyTorch's own texts for the refusals of the call itself (torch/autograd/__init__.py and
# the engine's argument checks); %s is a Python type name or a shape
NO_BACKWARD_MESSAGE = "'%s' object has no attribute 'backward'"


NOT_ITERABLE_MESSAGE = "'%s' object is not iterable"


SHAPE_MESSAGE = ("Mismatch in shape: grad_output[0] has a shape of torch.Size(%s) and output[0] "
                 "has a shape of torch.Size(%s).")


EMPTY_INPUTS_MESSAGE = "`inputs` argument to `backward()` cannot be empty."


INPUT_TYPE_MESSAGE = "all inputs have to be Tensors or GradientEdges, but got %s"


INPUT_NO_GRAD_MESSAGE = "can't retain_grad on Tensor that has requires_grad=False"


ERROR_KINDS = {
    "freed": "saved tensors freed by an earlier backward",
    "implicit_grad": "implicit gradient for a non-scalar output",
    "no_grad": "the output does not require grad",
    "not_implemented": "a node without a derivative",
    "no_backward": "a plain number has no .backward()",
    "number_argument": "a plain number where PyTorch needs a tensor",
    "gradient_shape": "a gradient of another shape than the output",
    "empty_inputs": "an empty inputs= list",
    "input_not_tensor": "a plain number in inputs=",
    "input_no_grad": "a tensor in inputs= that does not require grad",
}


def error_kind(message):
    """Classify one of PyTorch's messages (what `prove` compares)."""
    if "backward through the graph a second time" in message:
        return "freed"
    if "implicitly created only for scalar outputs" in message:
        return "implicit_grad"
    if "can't retain_grad on Tensor that has requires_grad=False" in message:
        return "input_no_grad"
    if "does not require grad" in message:
        return "no_grad"
    if "not implemented" in message:
        return "not_implemented"
    if "has no attribute 'backward'" in message:
        return "no_backward"
    if "object is not iterable" in message:
        return "number_argument"
    if message.startswith("Mismatch in shape"):
        return "gradient_shape"
    if "`inputs` argument to `backward()` cannot be empty" in message:
        return "empty_inputs"
    if "all inputs have to be Tensors" in message:
        return "input_not_tensor"
    return "other"


def _torch_size(shape):
    return "[%s]" % ", ".join(str(d) for d in shape)


def _refusal(ag, prob, st, bc, v, types):
    """What PyTorch refuses before its engine runs a node, checked in PyTorch's order: the
    call itself (a number has no .backward(); inputs=, then gradient=, must hold tensors;
    the gradient must have the output's shape), the implicit gradient of a non-scalar
    output, an output without grad_fn, and each tensor of inputs=."""
    sym = prob.tensors[st.output]
    o = st.output
    if v.number:
        return ScheduleError(
            "no_backward", NO_BACKWARD_MESSAGE % v.number,
            "'%s' is a plain Python %s in PyTorch (its text computes a number, not a tensor), "
            "and a number has no .backward()." % (o, v.number),
            "backpropagate from a tensor computed from an input that requires grad",
            type="AttributeError")
    if bc.inputs is not None:
        if bc.inputs_single and types[bc.inputs[0]] != "tensor":
            typ = types[bc.inputs[0]]
            return ScheduleError(
                "number_argument", NOT_ITERABLE_MESSAGE % typ,
                "%s passes inputs=%s, a plain Python %s; PyTorch reads inputs= as a tensor or a "
                "sequence of tensors." % (st.call, bc.inputs[0], typ),
                "name tensors only in inputs=", type="TypeError")
        if not bc.inputs:
            return ScheduleError(
                "empty_inputs", EMPTY_INPUTS_MESSAGE,
                "%s passes an empty inputs= list; PyTorch refuses it (leave out inputs= to "
                "accumulate into every leaf)." % st.call,
                "name the tensors whose .grad should be accumulated, or drop inputs=")
    g = bc.gradient_node
    if g is not None:
        typ = value_type(g, types)
        text = ast.unparse(g)
        if typ != "tensor":
            return ScheduleError(
                "number_argument", NOT_ITERABLE_MESSAGE % typ,
                "%s passes gradient=%s, a plain Python %s; PyTorch's backward() takes the gradient "
                "as a tensor (reading anything else as a sequence of tensors), even for an output "
                "of one element." % (st.call, text, typ),
                "%s.backward(gradient=%s*ones_like(%s)) (a tensor of %s's shape), or %s.backward() "
                "and scale '%s' instead" % (o, _paren(text), o, o, o, o), type="TypeError")
        got = tuple(shape_of(st.gradient))
        if got != tuple(sym.tshape):
            return ScheduleError(
                "gradient_shape", SHAPE_MESSAGE % (_torch_size(got), _torch_size(sym.tshape)),
                "%s passes a gradient of shape %s for '%s' of shape %s; PyTorch needs exactly the "
                "output's shape (it does not broadcast the gradient)."
                % (st.call, fmt_shape(got), o, fmt_shape(sym.tshape)),
                "a gradient of shape %s, such as gradient=ones_like(%s)" % (fmt_shape(sym.tshape), o))
    if not v.requires_grad:
        if v.origin.startswith("input"):
            reason = "'%s' is an input with requires_grad: false" % o
            fix = "set requires_grad: true on input '%s'" % o
        elif "stop-gradient" in v.origin:
            reason = "'%s' is %s, a leaf that does not require grad" % (o, v.origin.split(" (")[0])
            fix = "backpropagate through the tensor before detach(), or drop detach()"
        else:
            reason = ("nothing '%s' is computed from requires grad along a differentiable path "
                      "(inputs with requires_grad: false, detach(), comparisons and constants cut the graph)" % o)
            fix = "set requires_grad: true on an input that '%s' depends on differentiably" % o
        return ScheduleError("no_grad", NO_GRAD_MESSAGE,
                             "%s runs backward from '%s', but %s, so it has no grad_fn to start from."
                             % (st.call, o, reason), fix)
    if g is None and numel(sym.tshape) != 1:
        return ScheduleError(
            "implicit_grad", IMPLICIT_MESSAGE,
            "%s gives no gradient, and PyTorch creates the implicit gradient 1 only for an output of "
            "one element; '%s' has shape %s." % (st.call, o, fmt_shape(sym.tshape)),
            "%s.backward(gradient=ones_like(%s)) (a vector-Jacobian product), or backpropagate "
            "from a scalar such as sum(%s)" % (o, o, o))
    for name in bc.inputs or ():
        t = ag.values[name]
        if t.number:
            return ScheduleError(
                "input_not_tensor", INPUT_TYPE_MESSAGE % t.number,
                "inputs= of %s names '%s', a plain Python %s, not a tensor." % (st.call, name, t.number),
                "name tensors only in inputs=")
        if not t.requires_grad:
            return ScheduleError(
                "input_no_grad", INPUT_NO_GRAD_MESSAGE,
                "inputs= of %s names '%s', which does not require grad; PyTorch calls "
                "retain_grad() on every tensor of inputs=, and that refuses such a tensor." % (st.call, name),
                "drop '%s' from inputs=" % name)
    return None


def _paren(text):
    return text if text.replace(".", "").replace("_", "").isalnum() else "(%s)" % text


def with_retain_graph(call):
    """``d.backward()`` -> ``d.backward(retain_graph=True)``, keeping other arguments."""
    try:
        from ..spec.steps import BACKWARD_PARAMS
        tree = ast.parse(call.strip(), mode="eval").body
        named = [ast.keyword(arg=p, value=a) for p, a in zip(BACKWARD_PARAMS[2:], tree.args[2:])]
        kws = [k for k in tree.keywords + named if k.arg != "retain_graph"]
        kws.append(ast.keyword(arg="retain_graph", value=ast.Constant(True)))
        tree.args, tree.keywords = tree.args[:1], kws
        return ast.unparse(tree)
    except Exception:            # a display nicety only
        return call.rstrip(")") + ", retain_graph=True)"


@dataclass
class ScheduleError:
    kind: str                   # a key of ERROR_KINDS
    message: str                # PyTorch's own text
    explanation: str            # why, in terms of this spec
    fix: str
    node: Optional[str] = None  # the backward node that raises
    saved: tuple = ()           # (field, what) it had saved
    freed_by: Optional[int] = None
    type: str = "RuntimeError"

    def to_dict(self):
        d = {"type": self.type, "message": self.message, "kind": self.kind,
             "explanation": self.explanation, "fix": self.fix}
        if self.node:
            d["node"] = self.node
        if self.saved:
            d["saved"] = [f for f, _ in self.saved]
        if self.freed_by is not None:
            d["freed_by"] = self.freed_by
        return d
