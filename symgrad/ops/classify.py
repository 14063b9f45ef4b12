"""Classification losses: binary_cross_entropy (with weights), its logits form, cross_entropy.

``binary_cross_entropy`` is an op of its own (`BceOp`): PyTorch clamps its logs at -100, so
its value is PyTorch's function, while its rule is the textbook one,
``w (p - t) / (p (1 - p))``, which cancels a sigmoid's derivative.  Loss weights never
require grad (PyTorch refuses to differentiate with respect to them): a spec whose weight
does is refused where it is used.  ``cross_entropy`` is ``-sum(target * log_softmax(input))``
over the class dim, for a probability target.
"""
import sympy
from sympy import S, Tuple, Integer

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape, broadcast, numel
from . import elementwise as ew
from .base import flag, rank
from .losses import (PointwiseLoss, LEGACY, REDUCTION, reduction_of, apply_reduction, keep_shape, quiet,
                     legacy_kw, no_grad_argument, number)
from .nodes import CROSS
from .reduce import SumOp, LogSoftmaxOp
from .registry import register, P, Param
from .shape import UnsqueezeOp


# --- binary cross-entropy -------------------------------------------------------------------------
class BceOp(PointwiseLoss):
    """-w (t log p + (1 - t) log(1 - p)), logs clamped at -100 in the value (as PyTorch)."""
    spec_name = "binary_cross_entropy"

    @property
    def weight(self):
        return self.args[2]

    def formula(self):
        p, t, w = self.tensors
        return -w * (t * sympy.log(p) + (1 - t) * sympy.log(1 - p))

    def vjp(self, i, g):
        p, t, w = self.tensors
        if i == 0:
            return g * w * (p - t) / (p * (1 - p))
        if i == 1:
            return g * w * (sympy.log(1 - p) - sympy.log(p))
        return S.Zero            # PyTorch cannot differentiate with respect to the weight

    def text_kwargs(self, p):
        return [] if self.weight == 1 else ["weight=%s" % p._print(self.weight)]


def _record_bce(w, n, fn, vals, nodes):
    """One fused node; it saves the weight too when there is one (never requiring grad)."""
    no_grad_argument(w, n, vals, nodes, "binary_cross_entropy", "weight")
    args = [vals["input"], vals["target"]]
    saved = w.saved(("self", "target"), args, [nodes["input"], nodes["target"]], n)
    if w.is_tensor(vals["weight"]):
        saved += (("weight", w.text(nodes["weight"])),)
    return w.record(n, fn.grad_fn, args, fn.grad_fn, saved)


@register("binary_cross_entropy", P("input", "target", Param("weight", "tensor", None), *LEGACY, REDUCTION),
          torch="torch.nn.functional.binary_cross_entropy", grad_fn="BinaryCrossEntropyBackward0",
          saved=("self", "target"), record=_record_bce, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, weight, size_average, reduce, reduction: ctx.F.binary_cross_entropy(
              input, target, weight=weight, reduction=reduction, **legacy_kw(size_average, reduce))),
          reason="d[-t log p - (1 - t) log(1 - p)] = (p - t) / (p (1 - p)) dp, times the weight")
def _bce(input, target, weight, size_average, reduce, reduction):
    reduction = reduction_of(reduction, size_average, reduce)
    if shape_of(input) != shape_of(target):
        raise ShapeError("binary_cross_entropy: the target must have the input's shape, got %s and %s"
                         % (fmt_shape(shape_of(target)), fmt_shape(shape_of(input))))
    if weight is not None and broadcast(shape_of(weight), shape_of(target)) != shape_of(target):
        raise ShapeError("binary_cross_entropy: the weight %s must broadcast to the target's shape %s"
                         % (fmt_shape(shape_of(weight)), fmt_shape(shape_of(target))))
    return apply_reduction(BceOp(input, target, S.One if weight is None else weight), reduction)


def _record_bce_logits(w, n, fn, vals, nodes):
    """One fused node, saving the weights that are given (neither may require grad)."""
    for arg in ("weight", "pos_weight"):
        no_grad_argument(w, n, vals, nodes, fn.name, arg)
    args = [vals["input"], vals["target"]]
    saved = w.saved(("self", "target"), args, [nodes["input"], nodes["target"]], n)
    saved += tuple((a, w.text(nodes[a])) for a in ("weight", "pos_weight") if w.is_tensor(vals[a]))
    return w.record(n, fn.grad_fn, args, fn.grad_fn, saved)


@register("binary_cross_entropy_with_logits", P("input", "target", Param("weight", "tensor", None), *LEGACY,
                                                REDUCTION, Param("pos_weight", "tensor", None)),
          torch="torch.nn.functional.binary_cross_entropy_with_logits",
          grad_fn="BinaryCrossEntropyWithLogitsBackward0", saved=("self", "target"), record=_record_bce_logits,
          on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, weight, size_average, reduce, reduction, pos_weight:
                    ctx.F.binary_cross_entropy_with_logits(input, target, weight=weight, reduction=reduction,
                                                           pos_weight=pos_weight, **legacy_kw(size_average, reduce))),
          reason="softplus(z) - z t has derivative sigma(z) - t (pos_weight scales the positive term)")
def _bce_logits(input, target, weight, size_average, reduce, reduction, pos_weight):
    reduction = reduction_of(reduction, size_average, reduce)
    if shape_of(input) != shape_of(target):
        raise ShapeError("binary_cross_entropy_with_logits: the target must have the input's shape, got %s and %s"
                         % (fmt_shape(shape_of(target)), fmt_shape(shape_of(input))))
    for name, x in (("weight", weight), ("pos_weight", pos_weight)):
        if x is not None and broadcast(shape_of(x), shape_of(input)) != shape_of(input):
            raise ShapeError("binary_cross_entropy_with_logits: the %s %s must broadcast to the input's shape %s"
                             % (name, fmt_shape(shape_of(x)), fmt_shape(shape_of(input))))
    loss = ew.Softplus(input) - input * target          # (1 - t) z + softplus(-z)
    if pos_weight is not None:
        loss += (pos_weight - 1) * target * ew.Softplus(-input)
    if weight is not None:
        loss *= weight
    return apply_reduction(keep_shape(loss, input, target), reduction)


# --- cross-entropy --------------------------------------------------------------------------------
def class_dim(input, fname):
    r = rank(input)
    if r == 0:
        raise ShapeError("%s: the input must be at least 1-D (classes along dim 1, or dim 0 of a 1-D input)" % fname)
    return 0 if r == 1 else 1


def along_classes(w, input, cdim):
    """A per-class weight (C,) placed along the class dim of the input (``weight.view(1, C, 1, ...)``)."""
    for _ in range(rank(input) - cdim - 1):
        w = UnsqueezeOp(w, Integer(1))
    return w


def class_weight(weight, input, cdim, fname):
    if weight is None:
        return None
    c = shape_of(input)[cdim]
    if shape_of(weight) != (c,):
        raise ShapeError("%s: weight tensor should be defined either for all %s classes or no classes but got "
                         "weight tensor of shape: %s" % (fname, c, fmt_shape(shape_of(weight))))
    return along_classes(weight, input, cdim)


def smoothing(e):
    e = number(e, "label_smoothing")
    if e > 1:
        raise SpecError("label_smoothing must be between 0.0 and 1.0. Got: %s" % e)
    return e if e > 0 else S.Zero          # PyTorch ignores a negative smoothing


def _record_cross_entropy(w, n, fn, vals, nodes):
    """A probability target: ``-(log_softmax(input) * target * weight).sum(1)`` then the
    reduction; the first node that saved tensors is the (outer) product."""
    inp, tgt, wt = vals["input"], vals["target"], vals["weight"]
    red = reduction_of(vals["reduction"], vals["size_average"], vals["reduce"])
    root = "DivBackward1" if red == "mean" else "NegBackward0"
    rg = [w.is_tensor(a) and a.requires_grad for a in (inp, tgt, wt)]
    zs, ts = w.text(nodes["input"]), w.text(nodes["target"]) if nodes["target"] else "target"
    if w.is_tensor(wt):
        fields = (("other", w.text(nodes["weight"])),) if rg[0] or rg[1] else ()
        fields += (("self", "log_softmax(%s)*%s" % (zs, ts)),) if rg[2] else ()
    else:
        fields = (("other", ts),) if rg[0] else ()
        fields += (("self", "log_softmax(%s)" % zs),) if rg[1] else ()
    chain = (root,) + (("NegBackward0",) if red == "mean" else ()) + \
        ("SumBackward0" if red != "none" else "SumBackward1", "MulBackward0", "LogSoftmaxBackward0")
    return w.record(n, root, [inp, tgt, wt], "MulBackward0", fields, chain)


@register("cross_entropy", P("input", "target", Param("weight", "tensor", None), LEGACY[0],
                             Param("ignore_index", "dim", -100), LEGACY[1], REDUCTION,
                             Param("label_smoothing", "number", S.Zero)),
          torch="torch.nn.functional.cross_entropy", grad_fn="DivBackward1", saved=CROSS["MulBackward0"],
          record=_record_cross_entropy, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing:
                    ctx.F.cross_entropy(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                                        label_smoothing=float(label_smoothing), **legacy_kw(size_average, reduce))),
          reason="-sum(t log softmax(z)) gives softmax(z) - t per row when the target sums to one")
def _cross_entropy(input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing):
    reduction = reduction_of(reduction, size_average, reduce)
    cdim = class_dim(input, "cross_entropy")
    e = smoothing(label_smoothing)
    if shape_of(input) != shape_of(target):
        raise ShapeError("cross_entropy: the probability target must have the logits' shape, "
                         "got %s and %s" % (fmt_shape(shape_of(input)), fmt_shape(shape_of(target))))
    if ignore_index != -100:
        raise SpecError("ignore_index is not supported for a probability target (only for class indices)")
    c = shape_of(input)[cdim]
    t = target * (1 - e) + e / c if e else target
    w = class_weight(weight, input, cdim, "cross_entropy")
    if w is not None:
        t = t * w
    per = -SumOp(t * LogSoftmaxOp(input, Integer(cdim)), Tuple(Integer(cdim)), flag(False))
    if rank(input) == 1 or reduction == "none":
        return per
    if reduction == "mean":              # divided by the number of rows, not by a weight sum
        return SumOp(per, Tuple(*map(Integer, range(rank(per)))), flag(False)) / (numel(shape_of(input)) / c)
    return apply_reduction(per, reduction)
