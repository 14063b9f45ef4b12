"""Layers and losses, written in terms of the primitive ops exactly as PyTorch defines them.

`linear` is ``input @ weight.T + bias``; the losses are their textbook formulas with
PyTorch's reductions.  Each block also says which chain of backward nodes PyTorch records
for it (the fused kernels ``addmm`` and ``MseLossBackward0``, the decomposed cross-entropy).
"""
import sympy
from sympy import S, Tuple, Integer

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape, broadcast
from . import elementwise as ew
from .base import flag, rank
from .linalg import MatmulOp, T
from .nodes import CROSS, FIELD_ARG, cross_saved
from .reduce import SumOp, MeanOp, LogSoftmaxOp, _reduction
from .registry import register, P, Param
from .shape import OnesOp, ZerosOp

REDUCTION = Param("reduction", "str", "mean")


def reduce(x, reduction):
    """PyTorch's ``reduction=`` of a loss."""
    if reduction == "mean":
        return _reduction(MeanOp)(x)
    if reduction == "sum":
        return _reduction(SumOp)(x)
    if reduction == "none":
        return x
    raise SpecError("reduction must be 'mean', 'sum' or 'none', got %r" % reduction)


def keep_shape(e, *args):
    """An elementwise result SymPy folded (``(x - x)**2`` is 0) keeps its broadcast shape."""
    want = broadcast(*[shape_of(a) for a in args])
    if shape_of(e) == want or not want:
        return e
    return ZerosOp(Tuple(*want)) if e == 0 else e * OnesOp(Tuple(*want))


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


# --- losses ------------------------------------------------------------------------------
@register("mse_loss", P("input", "target", REDUCTION), torch="torch.nn.functional.mse_loss",
          grad_fn="MseLossBackward0", saved=("self", "target"),
          ref=lambda ctx, input, target, reduction: ctx.F.mse_loss(input, target, reduction=reduction),
          reason="d (x - t)^2 = 2 (x - t) dx, then the reduction's 1/n")
def _mse(input, target, reduction):
    return reduce(keep_shape((input - target) ** 2, input, target), reduction)


def _record_cross_entropy(w, n, fn, vals, nodes):
    """-(log_softmax(input) * target).sum(dim) then the reduction: a chain of five nodes."""
    inp, tgt = vals["input"], vals["target"]
    root = "DivBackward1" if vals["reduction"] == "mean" else "NegBackward0"
    fields = cross_saved("MulBackward0", getattr(inp, "requires_grad", False), getattr(tgt, "requires_grad", False))
    what = {"other": w.text(nodes["target"]) if nodes["target"] else "target",
            "self": "log_softmax(%s)" % w.text(nodes["input"])}
    return w.record(n, root, [inp, tgt], "MulBackward0", tuple((f, what[f]) for f in fields),
                    (root, "NegBackward0", "SumBackward0", "MulBackward0", "LogSoftmaxBackward0"))


@register("cross_entropy", P("input", "target", REDUCTION), torch="torch.nn.functional.cross_entropy",
          grad_fn="DivBackward1", saved=CROSS["MulBackward0"], record=_record_cross_entropy, on_bool="fail",
          ref=lambda ctx, input, target, reduction: ctx.F.cross_entropy(input, target, reduction=reduction),
          reason="-sum(t log softmax(z)) gives softmax(z) - t per row when the target sums to one")
def _cross_entropy(input, target, reduction):
    if shape_of(input) != shape_of(target):
        raise ShapeError("cross_entropy: the probability target must have the logits' shape, "
                         "got %s and %s" % (fmt_shape(shape_of(input)), fmt_shape(shape_of(target))))
    r = rank(input)
    if r == 0:
        raise ShapeError("cross_entropy: logits must be at least 1-D")
    cdim = 0 if r == 1 else 1
    per = -SumOp(target * LogSoftmaxOp(input, Integer(cdim)), Tuple(Integer(cdim)), flag(False))
    if r == 1:
        return per
    if reduction == "mean":
        n = S.One
        for k, d in enumerate(shape_of(input)):
            if k != cdim:
                n *= d
        return SumOp(per, Tuple(*map(Integer, range(r - 1))), flag(False)) / n
    return reduce(per, reduction)


@register("binary_cross_entropy", P("input", "target", REDUCTION), torch="torch.nn.functional.binary_cross_entropy",
          grad_fn="BinaryCrossEntropyBackward0", saved=("self", "target"), on_bool="fail",
          ref=lambda ctx, input, target, reduction: ctx.F.binary_cross_entropy(input, target, reduction=reduction),
          reason="d[-t log p - (1 - t) log(1 - p)] = (p - t) / (p (1 - p)) dp")
def _bce(input, target, reduction):
    return reduce(keep_shape(-(target * sympy.log(input) + (1 - target) * sympy.log(1 - input)),
                             input, target), reduction)


@register("binary_cross_entropy_with_logits", P("input", "target", REDUCTION),
          torch="torch.nn.functional.binary_cross_entropy_with_logits",
          grad_fn="BinaryCrossEntropyWithLogitsBackward0", saved=("self", "target"), on_bool="fail",
          ref=lambda ctx, input, target, reduction:
              ctx.F.binary_cross_entropy_with_logits(input, target, reduction=reduction),
          reason="softplus(z) - z t has derivative sigma(z) - t")
def _bce_logits(input, target, reduction):
    return reduce(keep_shape(ew.Softplus(input) - input * target, input, target), reduction)
