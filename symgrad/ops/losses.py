"""Regression and likelihood losses, one block each, with PyTorch's signatures and reductions.

Most are their textbook formulas over the primitive ops, so SymPy's calculus gives the
closed forms (``sign(x - t)/n`` for ``l1_loss``) and PyTorch's subgradients at the kinks
(``where`` picks the outer branch at ``|x - t| == beta``, ``abs'(0) = 0``).  Two are ops of
their own (`PointwiseLoss`) because PyTorch's value or gradient is not its formula:
``binary_cross_entropy`` clamps its logs at -100, and ``gaussian_nll_loss`` clamps ``var``
at ``eps`` in place under ``no_grad`` -- the value uses ``max(var, eps)`` and so does the
gradient, which the clamp itself passes unmasked (as if ``var`` were ``eps``).

Each block also says which chain of backward nodes PyTorch records (`record_*`): the fused
kernels (``SmoothL1LossBackward0``) or the decomposition (``kl_div`` is ``xlogy(t, t) - t*x``),
with the node whose saved tensors a second backward needs.
"""
import warnings

import sympy
from sympy import S, Tuple, Integer

from ..errors import SpecError, ShapeError
from ..tensor import shape_of, fmt_shape, broadcast
from . import elementwise as ew
from .base import TensorOp, flag, rank
from .norms import ClampMin, clamp_unrecorded
from .reduce import SumOp, MeanOp, _reduction
from .registry import register, P, Param
from .shape import OnesOp, ZerosOp, OnesLikeOp, UnsqueezeOp

REDUCTION = Param("reduction", "str", "mean")
LEGACY = (Param("size_average", "bool", None), Param("reduce", "bool", None))
POINTWISE = {"mean": "MeanBackward0", "sum": "SumBackward0"}      # the node of a reduction


def reduction_of(reduction, size_average=None, reduce=None, extra=()):
    """PyTorch's ``reduction=``, or the one the deprecated size_average/reduce pair means."""
    if size_average is not None or reduce is not None:
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    allowed = ["'%s'" % r for r in ("mean", "sum", "none") + tuple(extra)]
    if reduction not in ("mean", "sum", "none") + tuple(extra):
        raise SpecError("reduction must be %s or %s, got %r" % (", ".join(allowed[:-1]), allowed[-1], reduction))
    return reduction


def apply_reduction(x, reduction):
    """The reduced loss: a mean or sum of every entry, or the entries themselves."""
    if reduction == "mean":
        return _reduction(MeanOp)(x)
    if reduction == "sum":
        return _reduction(SumOp)(x)
    return x


def keep_shape(e, *args):
    """An elementwise result SymPy folded (``(x - x)**2`` is 0) keeps its broadcast shape."""
    want = broadcast(*[shape_of(a) for a in args])
    if shape_of(e) == want or not want:
        return e
    return ZerosOp(Tuple(*want)) if e == 0 else e * OnesOp(Tuple(*want))


def number(x, what):
    """A loss's numeric parameter (beta, delta, eps) as an exact number."""
    if not getattr(x, "is_number", False) or not x.is_real:
        raise SpecError("%s must be a number, got %s" % (what, x))
    return sympy.nsimplify(x) if isinstance(x, sympy.Float) else x


def num_text(x):
    """A number as the spec language writes it: ``1e-06`` rather than ``1/1000000``."""
    f = float(x)
    if sympy.Rational(repr(f)) == x:
        return repr(f)
    return str(x)


def quiet(call):
    """A reference call without PyTorch's warnings (target sizes, kl_div's 'mean', legacy
    size_average): the check compares values, the warning is PyTorch's advice to a user."""
    def ref(ctx, *args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return call(ctx, *args)
    return ref


def legacy_kw(size_average, reduce):
    return {k: v for k, v in (("size_average", size_average), ("reduce", reduce)) if v is not None}


def no_grad_argument(w, n, vals, nodes, fname, arg):
    """PyTorch cannot differentiate ``fname`` with respect to ``arg`` (a loss weight): an
    argument that requires grad is a spec error, as PyTorch's forward raises."""
    v = vals.get(arg)
    if w.is_tensor(v) and v.requires_grad:
        node = w.g.prob.node(w.owner)
        where = (node.mark.line, node.mark.col) if node is not None else (None, None)
        raise SpecError("%s(): its %s '%s' requires grad, but PyTorch cannot differentiate %s with respect "
                        "to %s: give it requires_grad: false (or detach it)"
                        % (fname, arg, w.text(nodes[arg]), fname, arg), w.g.prob.file, *where)


def reduced_chain(w, n, reduction, pointwise, args, raiser, saved):
    """Record a loss that PyTorch decomposes: ``pointwise`` (its nodes, root first) under the
    reduction's node; ``raiser`` is the first node of the chain that saved tensors."""
    chain = ((POINTWISE[reduction],) if reduction in POINTWISE else ()) + tuple(pointwise)
    return w.record(n, chain[0], args, raiser, tuple(saved), chain)


# --- regression losses ----------------------------------------------------------------------------
WEIGHT = Param("weight", "tensor", None)


def weighted(elem, input, target, weight, reduction, by_weight_sum):
    """A regression loss of PyTorch 2.13 with a weight of the input's shape: ``elem*weight``;
    its mean is ``sum/sum(weight)`` (l1, mse) or a plain mean (huber)."""
    elem = keep_shape(elem, input, target)
    if weight is None:
        return apply_reduction(elem, reduction)
    if shape_of(weight) != shape_of(input):
        raise ShapeError("the weight %s must have the input's shape %s (PyTorch: Weights and input must have the "
                         "same size)" % (fmt_shape(shape_of(weight)), fmt_shape(shape_of(input))))
    loss = elem * weight
    if reduction == "mean" and by_weight_sum:
        return apply_reduction(loss, "sum") / apply_reduction(weight, "sum")
    return apply_reduction(loss, reduction)


def record_weighted(w, n, vals, nodes, reduction, by_weight_sum):
    """The decomposition PyTorch records with a weight: the loss times the weight (MulBackward0),
    under ``sum/sum(weight)`` (DivBackward0), a mean, or a sum."""
    x, t, wt = vals["input"], vals["target"], vals["weight"]
    rg_elem, rg_w = any(w.is_tensor(a) and a.requires_grad for a in (x, t)), wt.requires_grad
    if reduction == "mean" and by_weight_sum:
        saved = (("other", "sum(%s)" % w.text(nodes["weight"])),) + ((("self", "the weighted sum"),) if rg_w else ())
        return w.record(n, "DivBackward0", [x, t, wt], "DivBackward0", saved,
                        ("DivBackward0", "SumBackward0", "MulBackward0"))
    saved = ((("other", w.text(nodes["weight"])),) if rg_elem else ()) + \
        ((("self", "the unweighted loss"),) if rg_w else ())
    return reduced_chain(w, n, reduction, ("MulBackward0",), [x, t, wt], "MulBackward0", saved)


def _record_mse(w, n, fn, vals, nodes):
    red = reduction_of(vals["reduction"], vals["size_average"], vals["reduce"])
    if w.is_tensor(vals["weight"]):
        return record_weighted(w, n, vals, nodes, red, True)
    args = [vals["input"], vals["target"]]
    return w.record(n, fn.grad_fn, args, fn.grad_fn, w.saved(fn.saved, args, [nodes["input"], nodes["target"]], n))


@register("mse_loss", P("input", "target", *LEGACY, REDUCTION, WEIGHT), torch="torch.nn.functional.mse_loss",
          grad_fn="MseLossBackward0", saved=("self", "target"), record=_record_mse, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, size_average, reduce, reduction, weight: ctx.F.mse_loss(
              input, target, reduction=reduction, weight=weight, **legacy_kw(size_average, reduce))),
          reason="d (x - t)^2 = 2 (x - t) dx, then the reduction's 1/n (a weight scales each term)")
def _mse(input, target, size_average, reduce, reduction, weight):
    return weighted((input - target) ** 2, input, target, weight, reduction_of(reduction, size_average, reduce), True)


def _record_l1(w, n, vals, nodes, reduction):
    """l1_loss is ``abs(input - target)`` under the reduction: AbsBackward0 saves the difference."""
    if w.is_tensor(vals.get("weight")):
        return record_weighted(w, n, vals, nodes, reduction, True)
    x, t = vals["input"], vals["target"]
    diff = "%s - %s" % (w.text(nodes["input"]), w.text(nodes["target"]))
    return reduced_chain(w, n, reduction, ("AbsBackward0", "SubBackward0"), [x, t], "AbsBackward0",
                         [("self", diff)])


@register("l1_loss", P("input", "target", *LEGACY, REDUCTION, WEIGHT), torch="torch.nn.functional.l1_loss",
          grad_fn="MeanBackward0", saved=("self",), on_bool="fail", strict=True,
          record=lambda w, n, fn, vals, nodes: _record_l1(
              w, n, vals, nodes, reduction_of(vals["reduction"], vals["size_average"], vals["reduce"])),
          ref=quiet(lambda ctx, input, target, size_average, reduce, reduction, weight: ctx.F.l1_loss(
              input, target, reduction=reduction, weight=weight, **legacy_kw(size_average, reduce))),
          reason="d|x - t| = sign(x - t) dx (0 where they are equal), then the reduction's 1/n")
def _l1_loss(input, target, size_average, reduce, reduction, weight):
    return weighted(sympy.Abs(input - target), input, target, weight, reduction_of(reduction, size_average, reduce),
                    True)


def _record_smooth_l1(w, n, fn, vals, nodes):
    """beta = 0 is l1_loss (PyTorch records its chain); otherwise one fused node."""
    if vals["beta"] == 0:
        return _record_l1(w, n, vals, nodes, reduction_of(vals["reduction"], vals["size_average"], vals["reduce"]))
    args = [vals["input"], vals["target"]]
    return w.record(n, fn.grad_fn, args, fn.grad_fn, w.saved(fn.saved, args, [nodes["input"], nodes["target"]], n))


@register("smooth_l1_loss", P("input", "target", *LEGACY, REDUCTION, Param("beta", "number", S.One)),
          torch="torch.nn.functional.smooth_l1_loss", grad_fn="SmoothL1LossBackward0", saved=("self", "target"),
          record=_record_smooth_l1, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, size_average, reduce, reduction, beta: ctx.F.smooth_l1_loss(
              input, target, reduction=reduction, beta=float(beta), **legacy_kw(size_average, reduce))),
          reason="quadratic where |x - t| < beta (slope (x - t)/beta), linear outside (slope sign(x - t))")
def _smooth_l1(input, target, size_average, reduce, reduction, beta):
    reduction = reduction_of(reduction, size_average, reduce)
    beta = number(beta, "beta")
    if beta < 0:
        raise SpecError("smooth_l1_loss does not support negative values for beta, got %s" % beta)
    if beta == 0:
        return weighted(sympy.Abs(input - target), input, target, None, reduction, True)
    d = input - target
    a = sympy.Abs(d)
    return weighted(ew.Where(ew.Lt(a, beta), d ** 2 / (2 * beta), a - beta / 2), input, target, None, reduction, True)


def _record_huber(w, n, fn, vals, nodes):
    if w.is_tensor(vals["weight"]):
        return record_weighted(w, n, vals, nodes, reduction_of(vals["reduction"]), False)
    args = [vals["input"], vals["target"]]
    return w.record(n, fn.grad_fn, args, fn.grad_fn, w.saved(fn.saved, args, [nodes["input"], nodes["target"]], n))


@register("huber_loss", P("input", "target", REDUCTION, Param("delta", "number", S.One), WEIGHT),
          torch="torch.nn.functional.huber_loss", grad_fn="HuberLossBackward0", saved=("self", "target"),
          record=_record_huber, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, reduction, delta, weight:
                    ctx.F.huber_loss(input, target, reduction=reduction, delta=float(delta), weight=weight)),
          reason="the slope is x - t where |x - t| < delta, delta sign(x - t) outside: the error clipped at delta")
def _huber(input, target, reduction, delta, weight):
    reduction = reduction_of(reduction)
    delta = number(delta, "delta")
    if delta <= 0:
        raise SpecError("huber_loss does not support non-positive values for delta, got %s" % delta)
    d = input - target
    a = sympy.Abs(d)
    return weighted(ew.Where(ew.Lt(a, delta), d ** 2 / 2, delta * (a - delta / 2)), input, target, weight,
                    reduction, False)


# --- likelihoods and divergences -----------------------------------------------------------------
def _record_kl(w, n, fn, vals, nodes):
    """kl_div is ``xlogy(t, t) - t*x`` (``exp(t)*(t - x)`` with log_target) under the reduction;
    'batchmean' is the sum divided by the batch size (a DivBackward0 saving that number)."""
    x, t = vals["input"], vals["target"]
    red = reduction_of(vals["reduction"], vals["size_average"], vals["reduce"], ("batchmean",))
    xs, ts = w.text(nodes["input"]), w.text(nodes["target"])
    rt = w.is_tensor(t) and t.requires_grad
    if vals["log_target"]:
        pointwise = ("MulBackward0", "ExpBackward0", "SubBackward0")
        raiser, saved = "MulBackward0", [("self", "exp(%s)" % ts)] + ([("other", "%s - %s" % (ts, xs))] if rt else [])
    elif rt:
        pointwise = ("SubBackward0", "XlogyBackward0", "MulBackward0")
        raiser, saved = "XlogyBackward0", [("self", ts), ("other", ts)]
    else:
        pointwise = ("SubBackward0", "MulBackward0")
        raiser, saved = "MulBackward0", [("self", ts)]
    if red == "batchmean":
        if len(x.shape) == 0:
            return reduced_chain(w, n, "sum", pointwise, [x, t], raiser, saved)
        return w.record(n, "DivBackward0", [x, t], "DivBackward0", (("other", "the batch size"),),
                        ("DivBackward0", "SumBackward0") + pointwise)
    return reduced_chain(w, n, red, pointwise, [x, t], raiser, saved)


@register("kl_div", P("input", "target", *LEGACY, REDUCTION, Param("log_target", "bool", False)),
          torch="torch.nn.functional.kl_div", grad_fn="MeanBackward0", saved=("self",), record=_record_kl,
          on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, size_average, reduce, reduction, log_target: ctx.F.kl_div(
              input, target, reduction=reduction, log_target=log_target, **legacy_kw(size_average, reduce))),
          reason="d[t (log t - x)] = -t dx: the log-probabilities receive minus the target "
                 "(exp(t) with log_target)")
def _kl_div(input, target, size_average, reduce, reduction, log_target):
    reduction = reduction_of(reduction, size_average, reduce, ("batchmean",))
    if log_target:
        pw = sympy.exp(target) * (target - input)
    else:                        # xlogy(t, t): 0 where the target is 0
        pw = ew.Where(ew.Gt(target, 0), target * sympy.log(target), S.Zero) - target * input
    pw = keep_shape(pw, input, target)
    if reduction == "batchmean":
        total = apply_reduction(pw, "sum")
        return total / shape_of(input)[0] if rank(input) else total
    return apply_reduction(pw, reduction)


def _record_poisson(w, n, fn, vals, nodes):
    """``exp(x) - t*x`` (``x - t*log(x + eps)``), plus the Stirling term masked where t <= 1."""
    x, t = vals["input"], vals["target"]
    red = reduction_of(vals["reduction"], vals["size_average"], vals["reduce"])
    xs, ts = w.text(nodes["input"]), w.text(nodes["target"])
    rx, rt = (w.is_tensor(a) and a.requires_grad for a in (x, t))
    if vals["log_input"]:
        pointwise = ("SubBackward0", "ExpBackward0", "MulBackward0")
        raiser, saved = ("ExpBackward0", [("result", "exp(%s)" % xs)]) if rx else ("MulBackward0", [("other", xs)])
    else:
        pointwise = ("SubBackward0", "MulBackward0", "LogBackward0", "AddBackward1")
        raiser = "MulBackward0"
        saved = ([("self", ts)] if rx else []) + ([("other", "log(%s + eps)" % xs)] if rt else [])
    if vals["full"]:
        pointwise = ("AddBackward0",) + pointwise
        if rt:
            raiser, saved = "MaskedFillBackward0", [("mask", "%s <= 1" % ts)]
    return reduced_chain(w, n, red, pointwise, [x, t], raiser, saved)


@register("poisson_nll_loss", P("input", "target", Param("log_input", "bool", True), Param("full", "bool", False),
                                LEGACY[0], Param("eps", "number", sympy.Rational(1, 10 ** 8)), LEGACY[1], REDUCTION),
          torch="torch.nn.functional.poisson_nll_loss", grad_fn="MeanBackward0", saved=("result",),
          record=_record_poisson, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, log_input, full, size_average, eps, reduce, reduction:
                    ctx.F.poisson_nll_loss(input, target, log_input=log_input, full=full, eps=float(eps),
                                           reduction=reduction, **legacy_kw(size_average, reduce))),
          reason="d[e^x - t x] = (e^x - t) dx: the rate minus the count (1 - t/(x + eps) for a rate input)")
def _poisson(input, target, log_input, full, size_average, eps, reduce, reduction):
    reduction = reduction_of(reduction, size_average, reduce)
    eps = number(eps, "eps")
    if log_input:
        pw = sympy.exp(input) - target * input
    else:
        pw = input - target * sympy.log(input + eps)
    if full:                     # Stirling's approximation of log(t!), where t > 1
        t = target
        pw = pw + ew.Where(ew.Gt(t, 1), t * sympy.log(t) - t + sympy.log(2 * sympy.pi * t) / 2, S.Zero)
    return apply_reduction(keep_shape(pw, input, target), reduction)


# --- losses that are not their formula in PyTorch --------------------------------------------------
class PointwiseLoss(TensorOp):
    """A loss before its reduction (``reduction='none'``), with a rule of its own.

    ``formula`` is its textbook value, which LaTeX and index notation print; the value itself
    is PyTorch's function (``torch``), so the clamps PyTorch applies are kept exactly."""
    n_tensors = 3

    def out_shape(self):
        return broadcast(*[shape_of(a) for a in self.tensors])

    def formula(self):
        raise NotImplementedError

    def call_args(self, p):
        return [p._print(a) for a in self.tensors[:2]]

    def text(self, p):
        return "%s(%s)" % (self.spec_name, ", ".join(self.call_args(p) + self.text_kwargs(p) + ["reduction='none'"]))

    def torch(self, p):
        return "torch.nn.functional.%s(%s)" % (
            self.spec_name, ", ".join(self.call_args(p) + self.text_kwargs(p) + ["reduction='none'"]))

    def latex(self, p):
        return p._print(self.formula())

    def index(self, p, idx):
        return p.index_of(self.formula(), idx)


class GaussianNllOp(PointwiseLoss):
    """(log v + (x - t)^2 / v)/2 with v = max(var, eps) (+ log(2 pi)/2 when full)."""
    spec_name = "gaussian_nll_loss"

    @property
    def eps(self):
        return self.args[3]

    @property
    def full(self):
        return bool(self.args[4])

    def var(self):
        """max(var, eps) as PyTorch has it: clamped in place under no_grad, invisible to
        autograd (derivative 1, below eps too, in the gradient differentiated again)."""
        return clamp_unrecorded(self.args[2], self.eps)

    def clamped(self):
        """max(var, eps), the value (for the formula the notes show)."""
        return ClampMin(self.args[2], self.eps)

    def formula(self):
        x, t, _ = self.tensors
        v = self.clamped()
        out = (sympy.log(v) + (x - t) ** 2 / v) / 2
        return out + sympy.log(2 * sympy.pi) / 2 if self.full else out

    def vjp(self, i, g):
        x, t, _ = self.tensors
        v = self.var()
        if i == 2:               # the in-place clamp is invisible to autograd: no mask (`var`)
            return g * (1 / v - (x - t) ** 2 / v ** 2) / 2
        return (g if i == 0 else -g) * (x - t) / v

    def call_args(self, p):
        return [p._print(a) for a in self.tensors]

    def text_kwargs(self, p):
        out = ["full=True"] if self.full else []
        return out + ([] if self.eps == sympy.Rational(1, 10 ** 6) else ["eps=%s" % num_text(self.eps)])


def _record_gaussian(w, n, fn, vals, nodes):
    """``0.5*(log(v) + (x - t)**2/v)`` on a clone of var clamped without grad: the 0.5 is a
    wrapped number that MulBackward0 saves (the first node with saved tensors)."""
    red = reduction_of(vals["reduction"])
    args = [vals["input"], vals["target"]] + ([vals["var"]] if w.is_tensor(vals["var"]) else [])
    pointwise = ("AddBackward0",) if vals["full"] else ()
    pointwise += ("MulBackward0", "AddBackward0", "LogBackward0", "CloneBackward0", "DivBackward0")
    return reduced_chain(w, n, red, pointwise, args, "MulBackward0", [("other", "the number 0.5")])


@register("gaussian_nll_loss", P("input", "target", "var", Param("full", "bool", False),
                                 Param("eps", "number", sympy.Rational(1, 10 ** 6)), REDUCTION),
          torch="torch.nn.functional.gaussian_nll_loss", grad_fn="MeanBackward0", saved=("other",),
          record=_record_gaussian, on_bool="fail",
          ref=lambda ctx, input, target, var, full, eps, reduction: ctx.F.gaussian_nll_loss(
              input, target, float(var) if not isinstance(var, ctx.torch.Tensor) else var, full=full,
              eps=float(eps), reduction=reduction),
          reason="d/dmu = (mu - t)/v and d/dv = (1/v - (mu - t)^2/v^2)/2, with v = max(var, eps) "
                 "(PyTorch's clamp passes the gradient)")
def _gaussian(input, target, var, full, eps, reduction):
    reduction = reduction_of(reduction)
    eps = number(eps, "eps")
    if eps < 0:
        raise SpecError("eps must not be negative, got %s" % eps)
    xs, vs = shape_of(input), shape_of(var)
    if var.is_number:                    # PyTorch: var * ones_like(input)
        if not var.is_real or var < 0:
            raise SpecError("var has negative entry/entries")
        var = var * OnesLikeOp(input)
    elif vs != xs:
        if xs[:-1] == vs and xs:
            var = UnsqueezeOp(var, Integer(len(xs) - 1))       # one variance per row
        elif len(vs) != len(xs) or sum(b for a, b in zip(xs, vs) if a != b) != 1:
            raise ShapeError("gaussian_nll_loss: var of shape %s does not fit the input %s (it must have the "
                             "input's shape, the shape without the last dim, or one dim of size 1)"
                             % (fmt_shape(vs), fmt_shape(xs)))
    return apply_reduction(GaussianNllOp(input, target, var, eps, flag(full)), reduction)
