"""The spec's inputs: the function's data arguments, and the parameters, buffers and
constants the traced code reads.

Each export placeholder becomes an `InputDecl`: a parameter is a leaf named after its
qualified name (``fc1.weight`` -> ``fc1_weight``) with the parameter's own
``requires_grad`` (true unless the user froze it); a buffer (BatchNorm's running
statistics) and a constant tensor of the code do not require grad; data arguments take
shape and dtype from the ``--input`` options.  What the code does with an input can tell
more than its declaration: a long input used as class labels (an index) draws its values
below the class count (``high``) when no HIGH was given, and the arguments of
``binary_cross_entropy`` draw from (0, 1), where PyTorch requires them to be.  A float
target of ``cross_entropy`` is *not* declared a simplex: PyTorch does not require its rows
to sum to one, and a closed form that assumed so would be wrong for targets that do not.
"""
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from torch.export.graph_signature import InputKind

from .errors import TraceError


@dataclass
class InputDecl:
    name: str
    shape: Tuple[int, ...]
    kind: str                        # "data" | "parameter" | "buffer" | "constant"
    requires_grad: bool
    dtype: str = "float"             # "float" | "long" | "bool"
    high: Optional[int] = None
    domain: Optional[str] = None
    tensor: Any = None               # the real tensor (parameters, buffers, constants, given examples)
    access: str = ""                 # how the code reaches it: "mlp.fc1.weight"
    qualname: str = ""               # the model's name for it: "fc1.weight"
    is_leaf: bool = True
    in_module: bool = False          # a parameter or buffer of an nn.Module (not a loose tensor)


def dtype_kind(t):
    import torch
    if t.is_floating_point():
        return "float"
    if t.dtype == torch.bool:
        return "bool"
    if t.is_complex():
        return None
    return "long"


def declare(ep, root, specs, names):
    """placeholder name -> `InputDecl` for every placeholder of the exported program."""
    out = {}
    user = iter(specs)
    for s in ep.graph_signature.input_specs:
        ph = s.arg.name
        if s.kind == InputKind.USER_INPUT:
            spec = next(user)
            out[ph] = InputDecl(names.take(spec.name), spec.shape, "data", spec.requires_grad, spec.dtype, spec.high,
                                tensor=spec.value, access=spec.name, qualname=spec.name)
        elif s.kind == InputKind.PARAMETER:
            t = root.module.get_parameter(s.target)
            out[ph] = _state(ph, t, "parameter", s.target, root)
        elif s.kind == InputKind.BUFFER:
            t = root.module.get_buffer(s.target)
            out[ph] = _state(ph, t, "buffer", s.target, root)
        elif s.kind == InputKind.CONSTANT_TENSOR:
            t = ep.constants[s.target]
            out[ph] = _constant(ph, t, root)
        else:
            raise TraceError("'%s' uses a %s, which has no place in a spec" % (root.title, s.kind.name.lower()))
    return out


def name_state(decls, names, root):
    """Give parameters, buffers and constants their spec names (after the data inputs):
    ``fc1.weight`` -> ``fc1_weight``; a function's one module that owns the parameter itself
    (``head = nn.Linear(...)``) lends its name: ``head_weight`` rather than ``weight``."""
    for d in decls:
        if d.kind == "constant" or not d.qualname:
            base = d.access or "const"
        elif root.strip and "." not in d.qualname and d.in_module:
            base = "%s_%s" % (root.label, d.qualname)
        else:
            base = d.qualname
        d.name = names.take(base, prefix=root.label)


def _state(ph, t, kind, target, root):
    k = dtype_kind(t)
    if k is None:
        raise TraceError("%s '%s' is complex: complex tensors are not in the spec language" % (kind, target))
    d = InputDecl(ph, tuple(t.shape), kind, kind == "parameter" and t.requires_grad, k, tensor=t,
                  access=root.access(target), qualname=root.qualname(target), is_leaf=t.is_leaf, in_module=True)
    if k == "long":
        d.high = int(t.max()) + 1 if t.numel() else 1
    return d


def _constant(ph, t, root):
    k = dtype_kind(t)
    if k is None:
        raise TraceError("a complex constant tensor is not in the spec language")
    access = _find(t, root)
    # a tensor the code reads from outside any module and that requires grad (a global
    # ``W = torch.randn(4, 2, requires_grad=True)``) is a parameter in all but name
    kind = "parameter" if t.requires_grad else "constant"
    d = InputDecl(ph, tuple(t.shape), kind, bool(t.requires_grad), k, tensor=t,
                  access=access or "", qualname=access or "", is_leaf=t.is_leaf)
    if k == "long":
        d.high = int(t.max()) + 1 if t.numel() else 1
    return d


def _find(t, root):
    """The name the user's code has for a tensor it read from outside the model, if any."""
    import torch
    fn = getattr(root.module, "fn", None)
    env = getattr(fn, "__globals__", None) or {}
    for name, v in env.items():
        if v is t:
            return name
        if isinstance(v, torch.nn.Module) and not name.startswith("_"):
            for q, p in list(v.named_parameters()) + list(v.named_buffers()):
                if p is t:
                    return "%s.%s" % (name, q)
    return None


def infer(decls_by_node, graph):
    """Fill in ``high`` of long data inputs and ``domain`` of float ones from their uses
    (the smallest class count any use allows, when the user gave no HIGH)."""
    from .vocab.uses import highs
    for ph, d in decls_by_node.items():
        if d.kind != "data":
            continue
        found = highs(d, ph)
        if d.dtype == "long" and d.high is None and found:
            d.high = min(found)
        if d.dtype == "long" and d.high is None:
            d.high = int(d.tensor.max()) + 1 if d.tensor is not None and d.tensor.numel() else 1


