"""Layers, written in terms of the primitive ops exactly as PyTorch defines them.

`linear` is ``input @ weight.T + bias``.  Each block also says which chain of backward nodes
PyTorch records for it (the fused kernel ``addmm``, or a view over ``mm``).  The losses live
in `losses` and `classify`, attention in `attention`.
"""
from ..errors import ShapeError
from ..tensor import shape_of, fmt_shape
from .base import rank
from .linalg import MatmulOp, T
from .nodes import CROSS, FIELD_ARG, cross_saved
from .registry import register, P, Param


# --- linear ----------------------------------------------------------------------------
def linear_chain(ri, rw, has_bias, contiguous):
    """The backward nodes ``linear`` records (root first), by the ranks of input and weight."""
    if rw == 1:
        mm = "DotBackward0" if ri == 1 else "MvBackward0"
        chain = (mm,) if ri <= 2 else ("UnsafeViewBackward0", mm)
        return ("AddBackward0",) + chain if has_bias else chain
    if ri == 2:
        return ("AddmmBackward0",) if has_bias else ("MmBackward0",)
    if has_bias and (ri == 1 or contiguous):
        return ("ViewBackward0", "AddmmBackward0")
    if ri == 1:
        return ("SqueezeBackward4", "MmBackward0")
    chain = ("UnsafeViewBackward0", "MmBackward0")
    return ("AddBackward0",) + chain if has_bias else chain


def _record_linear(w, n, fn, vals, nodes):
    x, wt, b = vals["input"], vals["weight"], vals["bias"]
    chain = linear_chain(len(x.shape), len(wt.shape), w.is_tensor(b), x.contiguous)
    if not (x.requires_grad or wt.requires_grad):
        if chain[0] == "AddBackward0":
            chain = ("AddBackward0",)
        return w.record(n, chain[0], [x, wt, b], None, (), chain)
    mm = chain[-1]
    fields = cross_saved(mm, x.requires_grad, wt.requires_grad)
    desc = tuple((f, w.text(nodes["input"]) if FIELD_ARG[f] == 0 else "%s.t()" % w.text(nodes["weight"]))
                 for f in fields)
    return w.record(n, chain[0], [x, wt, b], mm, desc, chain)


@register("linear", P("input", "weight", Param("bias", "tensor", None)), torch="torch.nn.functional.linear",
          grad_fn="AddmmBackward0", saved=CROSS["AddmmBackward0"], record=_record_linear, on_bool="fail",
          reason="linear is x W^T + b: the matmul rule for x and W, and b sums the adjoint over the batch")
def _linear(input, weight, bias):
    if rank(weight) not in (1, 2):
        raise ShapeError("linear: weight must be 1-D or 2-D, got %s" % fmt_shape(shape_of(weight)))
    if rank(weight) == 1 and bias is not None and (rank(input) == 2 or (rank(input) > 2 and rank(bias) > 0)):
        raise ShapeError("linear: a 1-D weight with a bias needs a 1-D input (PyTorch: mat2 must be a matrix)")
    y = MatmulOp(input, T(weight))
    return y if bias is None else y + bias
