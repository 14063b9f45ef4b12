"""Binary cross-entropy: binary_cross_entropy (with a weight) and its logits form.

``binary_cross_entropy`` is an op of its own (`BceOp`): PyTorch clamps its logs at -100, so
its value is PyTorch's function, while its rule is the textbook one,
``w (p - t) / (p (1 - p))``, which cancels a sigmoid's derivative.  The logits form is
``softplus(z) - z t`` (``pos_weight`` scales the positive term).  Loss weights never require
grad (PyTorch refuses to differentiate with respect to them): a spec whose weight does is
refused where it is used.
"""
import sympy
from sympy import S

from ..errors import ShapeError
from ..tensor import shape_of, fmt_shape, broadcast
from . import elementwise as ew
from .losses import (PointwiseLoss, LEGACY, REDUCTION, reduction_of, apply_reduction, keep_shape, quiet,
                     legacy_kw, no_grad_argument)
from .registry import register, P, Param


# --- binary cross-entropy -------------------------------------------------------------------------
class BceOp(PointwiseLoss):
    """-w (t log p + (1 - t) log(1 - p)), logs clamped at -100 in the value (as PyTorch)."""
    spec_name = "binary_cross_entropy"

    @property
    def n_tensors(self):
        return len(self.args)            # input, target and the weight if there is one

    @property
    def weight(self):
        return self.args[2] if len(self.args) == 3 else S.One

    def formula(self):
        p, t, w = self.args[0], self.args[1], self.weight
        return -w * t * sympy.log(p) - w * (1 - t) * sympy.log(1 - p)

    def vjp(self, i, g):
        p, t, w = self.args[0], self.args[1], self.weight
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
    return apply_reduction(BceOp(input, target, *(() if weight is None else (weight,))), reduction)


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
