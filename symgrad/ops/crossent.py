"""Cross-entropy and the negative log-likelihood: ``cross_entropy`` and ``nll_loss``.

One op (`ClassLoss`) for both, with PyTorch's value (its own function) and the textbook
rules of OPS.md item 14, classes along dim 1 (dim 0 of a 1-D input):

* class indices ``y`` (a long tensor): ``(softmax(z, dim=1) - one_hot(y, C))/N``; with a
  weight ``w``, ``w[y]*(softmax - one_hot)/sum(w[y])``; with label smoothing ``e``, the target
  is ``(1 - e)*one_hot + e/C`` (with a weight, ``e/C*(sum(w)*softmax - w)`` is added); rows
  whose target is ``ignore_index`` give 0 and leave the denominator;
* probabilities ``t`` (a float tensor): ``(softmax*sum(w*t, 1) - w*t)/N`` -- ``softmax - t``
  for a simplex target -- divided by the number of rows, never by a weight sum; the target
  and (only here) the weight are differentiable;
* ``nll_loss`` takes log-probabilities: ``-w[y]*one_hot(y, C)/sum(w[y])``.

A weight that requires grad with class indices is refused where it is used (PyTorch cannot
differentiate ``nll_loss`` with respect to it).  The recorded chains are PyTorch's:
``NllLossBackward0`` (``NllLoss2DBackward0`` for more than 2 dims) over ``LogSoftmaxBackward0``,
a composite rooted at ``AddBackward0`` with label smoothing, and for probabilities
``-(log_softmax(z)*t).sum(1)`` under the reduction.
"""
import sympy
from sympy import S, Tuple, Integer

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape, numel
from .base import TensorOp, flag, rank
from .elementwise import Gt, Where
from .gather import OneHotOp
from .index import IndexOp
from .kinds import value_dtype, index_high
from .losses import LEGACY, REDUCTION, reduction_of, quiet, legacy_kw, no_grad_argument, number, num_text
from .reduce import SumOp, SoftmaxOp, LogSoftmaxOp
from .registry import register, P, Param
from .shape import UnsqueezeOp, TransposeOp, EyeOp, materialize

REDUCTIONS = ("none", "mean", "sum")
DEFAULT_IGNORE = -100


class ClassLoss(TensorOp):
    """args: input, target, the weight (only if given), then the reduction, ignore_index,
    label_smoothing and whether the target holds class indices."""
    logits = True                 # cross_entropy: the input is logits (nll_loss: log-probabilities)

    @property
    def n_tensors(self):
        return len(self.args) - 4

    @property
    def weight(self):
        return self.args[2] if len(self.args) == 7 else None

    @property
    def reduction(self):
        return REDUCTIONS[int(self.args[-4])]

    @property
    def ignore_index(self):
        return int(self.args[-3])

    @property
    def smoothing(self):
        return self.args[-2]

    @property
    def by_index(self):
        return bool(self.args[-1])

    @property
    def index_args(self):
        return (1,) if self.by_index else ()

    @property
    def cdim(self):
        return 0 if rank(self.args[0]) == 1 else 1

    @property
    def classes(self):
        return shape_of(self.args[0])[self.cdim]

    def out_shape(self):
        if self.reduction != "none":
            return ()
        s = shape_of(self.args[0])
        return s[:self.cdim] + s[self.cdim + 1:]

    # --- the pieces of the rules --------------------------------------------------------------
    def along(self, e):
        """A per-sample tensor (the target's shape) with a size-1 class dim put back."""
        return UnsqueezeOp(e, Integer(self.cdim)) if rank(self.args[0]) > 1 and shape_of(e) else e

    def weight_along(self):
        """The per-class weight (C,) placed along the class dim, as ``weight.view(1, C, 1...)``."""
        w = self.weight
        for _ in range(rank(self.args[0]) - self.cdim - 1):
            w = UnsqueezeOp(w, Integer(1))
        return w

    def one_hot(self, exact=False):
        """one_hot(y, C) with the classes moved to the class dim.  ``exact``: as ``eye(C)[y]``, a
        float tensor -- PyTorch computes a long tensor times a number in float32."""
        y = IndexOp(EyeOp(self.classes), self.args[1], Integer(0)) if exact else OneHotOp(self.args[1], self.classes)
        for d in range(rank(y) - 1, self.cdim, -1):
            y = TransposeOp(y, Integer(d - 1), Integer(d))
        return y

    def valid(self):
        """1 where the target is not ignore_index, ``sign(y - i)**2`` (None when it cannot be: a
        negative index, or one past the values an integer input takes)."""
        ii, high = self.ignore_index, index_high(self.args[1])
        if ii < 0 or (high is not None and (high - ii).is_nonpositive):
            return None
        return sympy.sign(self.args[1] - ii) ** 2

    def picked_weight(self):
        return IndexOp(self.weight, self.args[1], Integer(0))         # w[y]

    def count(self):
        """The mean's denominator: the (weighted) number of targets that count."""
        t = self.args[1]
        if not self.by_index:
            return numel(shape_of(self.args[0])) / self.classes
        v = self.valid()
        per = self.picked_weight() if self.weight is not None else None
        if per is None and v is None:
            return numel(shape_of(t))
        per = v if per is None else (per if v is None else per * v)
        return SumOp(per, Tuple(*map(Integer, range(rank(t)))), flag(False)) if shape_of(t) else per

    def per_sample(self, g):
        """The output adjoint per sample (class dim of size 1), the mean's division included."""
        g = self.along(materialize(g, self.out_shape())) if self.reduction == "none" else g
        if self.reduction != "mean":
            return g
        d = self.count()
        if self.valid() is not None:               # all targets ignored: 0, not 0/0
            d = Where(Gt(d, S.Zero), d, S.One)
        return g / d

    def target_dist(self, exact=True):
        """What the log-probabilities are weighed by, per class: the (smoothed) target."""
        e, c = self.smoothing, self.classes
        if not self.by_index:
            t = self.args[1]
        else:
            t = self.one_hot(exact=exact and (e != 0 or not self.logits))
        return t if e == 0 else (1 - e) * t + e / c

    def core(self):
        """d(loss of one sample)/d(input), for an adjoint of 1."""
        e, c = self.smoothing, self.classes
        if not self.logits:                                       # nll_loss
            y = self.one_hot(exact=True)
            out = -y if self.weight is None else -self.along(self.picked_weight()) * y
        else:
            sm = SoftmaxOp(self.args[0], Integer(self.cdim))
            if not self.by_index:
                t = self.target_dist()
                if self.weight is not None:
                    wt = self.weight_along() * t
                    return sm * SumOp(wt, Tuple(Integer(self.cdim)), flag(True)) - wt
                total = SumOp(self.args[1], Tuple(Integer(self.cdim)), flag(True))
                return sm * ((1 - e) * total + e) - t if e else sm * total - t
            if self.weight is None:
                out = sm - self.target_dist()
            else:
                wy = self.along(self.picked_weight())
                out = wy * (sm - self.one_hot(exact=bool(e)))
                if e:
                    w = self.weight
                    total = SumOp(w, Tuple(Integer(0)), flag(False))
                    out = (1 - e) * out + e / c * (total * sm - self.weight_along())
        v = self.valid()
        return out if v is None else self.along(v) * out

    def vjp(self, i, g):
        gs = self.per_sample(g)
        if i == 0:
            return gs * self.core()
        e = self.smoothing
        lsm = LogSoftmaxOp(self.args[0], Integer(self.cdim))
        w = 1 if self.weight is None else self.weight_along()
        if i == 1:                                   # a probability target
            return -(1 - e) * w * lsm * gs
        others = [d for d in range(rank(self.args[0])) if d != self.cdim]      # the weight (probabilities)
        return -SumOp(self.target_dist() * lsm * gs, Tuple(*map(Integer, others)), flag(False))

    # --- its value, as the notes print it ---------------------------------------------------------
    def formula(self):
        z = self.args[0]
        logp = LogSoftmaxOp(z, Integer(self.cdim)) if self.logits else z
        t = self.target_dist(exact=False)
        if self.weight is not None:
            t = t * self.weight_along()
        per = -SumOp(t * logp, Tuple(Integer(self.cdim)), flag(False))
        v = self.valid()
        per = per if v is None else per * v
        if self.reduction == "none":
            return per
        total = SumOp(per, Tuple(*map(Integer, range(rank(per)))), flag(False)) if shape_of(per) else per
        return total / self.count() if self.reduction == "mean" else total

    def latex(self, p):
        return p._print(self.formula())

    def index(self, p, idx):
        return p.index_of(self.formula(), idx)

    def text_kwargs(self, p):
        out = [] if self.weight is None else ["weight=%s" % p._print(self.weight)]
        if self.ignore_index != DEFAULT_IGNORE:
            out.append("ignore_index=%d" % self.ignore_index)
        if self.reduction != "mean":
            out.append("reduction='%s'" % self.reduction)
        if self.smoothing != 0:
            out.append("label_smoothing=%s" % num_text(self.smoothing))
        return out

    def text(self, p):
        return "%s(%s)" % (self.spec_name, ", ".join([p._print(a) for a in self.args[:2]] + self.text_kwargs(p)))

    def torch(self, p):
        return "torch.nn.functional." + self.text(p)


class CrossEntropyOp(ClassLoss):
    spec_name = "cross_entropy"


class NllLossOp(ClassLoss):
    spec_name = "nll_loss"
    logits = False


# --- the two functions ---------------------------------------------------------------------------
def _target_kind(input, target, fname, probabilities):
    """True for class indices (a long target of the input's shape without the class dim),
    False for probabilities (a float target of the input's shape)."""
    if rank(input) == 0:
        raise ShapeError("%s: the input must be at least 1-D (classes along dim 1, or dim 0 of a 1-D input)" % fname)
    kind = value_dtype(target)
    si, st = shape_of(input), shape_of(target)
    cdim = 0 if len(si) == 1 else 1
    if kind == "long":
        want = si[:cdim] + si[cdim + 1:]
        if st != want:
            raise ShapeError("%s: class indices for an input %s must have the shape %s, got %s"
                             % (fname, fmt_shape(si), fmt_shape(want), fmt_shape(st)))
        return True
    if kind == "bool" or not probabilities:
        raise SpecError("the target must hold class indices (an integer tensor, dtype: long)%s, got %s"
                        % (" or probabilities (a float tensor)" if probabilities else "",
                           "a bool tensor" if kind == "bool" else "a float tensor"))
    if st != si:
        raise ShapeError("%s: the probability target must have the logits' shape, got %s and %s"
                         % (fname, fmt_shape(si), fmt_shape(st)))
    return False


def _class_weight(weight, input, fname):
    if weight is None:
        return ()
    c = shape_of(input)[0 if rank(input) == 1 else 1]
    if shape_of(weight) != (c,):
        raise ShapeError("%s: weight tensor should be defined either for all %s classes or no classes but got "
                         "weight tensor of shape: %s" % (fname, c, fmt_shape(shape_of(weight))))
    return (weight,)


def _smoothing(e):
    e = number(e, "label_smoothing")
    if e > 1:
        raise SpecError("label_smoothing must be between 0.0 and 1.0. Got: %s" % e)
    return e if e > 0 else S.Zero          # PyTorch ignores a negative smoothing


def _built(w, node):
    """The SymPy expression the walker built for an AST node (what PyTorch holds there)."""
    return w.built(node)


def _record_by_index(w, n, fn, vals, nodes, smoothing):
    """``NllLossBackward0`` (``NllLoss2DBackward0`` beyond 2 dims; a view over it for a 'none' of
    3 or more than 4 dims) over ``LogSoftmaxBackward0``; with label smoothing a composite whose
    first node with saved tensors is the mean's division or the ignore mask's fill."""
    z = vals["input"]
    no_grad_argument(w, n, vals, nodes, fn.name, "weight")
    red = reduction_of(vals["reduction"], vals.get("size_average"), vals.get("reduce"))
    r = len(z.shape)
    nll = "NllLossBackward0" if r <= 2 else "NllLoss2DBackward0"
    inner = ("LogSoftmaxBackward0",) if fn.name == "cross_entropy" else ()
    if smoothing:
        raiser, saved = ("DivBackward0", (("other", "the total weight"),)) if red == "mean" else \
            ("MaskedFillBackward0", (("mask", "%s == ignore_index" % w.text(nodes["target"])),))
        return w.record(n, "AddBackward0", [z], raiser, saved, ("AddBackward0", "MulBackward1", nll) + inner)
    zs = w.text(nodes["input"])
    saved = (("self", "log_softmax(%s)" % zs if inner else zs), ("target", w.text(nodes["target"])),
             ("total_weight", "the total weight of the targets"))
    if vals["weight"] is not None:
        saved += (("weight", w.text(nodes["weight"])),)
    chain = ((("ViewBackward0",) if red == "none" and r != 4 and r > 2 else ()) + (nll,) +
             (("ViewBackward0",) if r == 3 and red != "none" else ()) + inner)
    return w.record(n, chain[0], [z], nll, saved, chain)


def _record_probabilities(w, n, fn, vals, nodes):
    """``-(log_softmax(input) * target * weight).sum(1)`` then the reduction; the first node
    that saved tensors is the (outer) product."""
    inp, tgt, wt = vals["input"], vals["target"], vals["weight"]
    red = reduction_of(vals["reduction"], vals["size_average"], vals["reduce"])
    root = "DivBackward1" if red == "mean" else "NegBackward0"
    rg = [w.is_tensor(a) and a.requires_grad for a in (inp, tgt, wt)]
    zs, ts = w.text(nodes["input"]), w.text(nodes["target"])
    if w.is_tensor(wt):
        fields = (("other", w.text(nodes["weight"])),) if rg[0] or rg[1] else ()
        fields += (("self", "log_softmax(%s)*%s" % (zs, ts)),) if rg[2] else ()
    else:
        fields = (("other", ts),) if rg[0] else ()
        fields += (("self", "log_softmax(%s)" % zs),) if rg[1] else ()
    chain = (root,) + (("NegBackward0",) if red == "mean" else ()) + \
        ("SumBackward0" if red != "none" else "SumBackward1", "MulBackward0", "LogSoftmaxBackward0")
    return w.record(n, root, [inp, tgt, wt], "MulBackward0", fields, chain)


def _record_cross_entropy(w, n, fn, vals, nodes):
    op = _built(w, n)
    if getattr(op, "by_index", False):
        return _record_by_index(w, n, fn, vals, nodes, op.smoothing != 0)
    return _record_probabilities(w, n, fn, vals, nodes)


@register("cross_entropy", P("input", "target", Param("weight", "tensor", None), LEGACY[0],
                             Param("ignore_index", "dim", DEFAULT_IGNORE), LEGACY[1], REDUCTION,
                             Param("label_smoothing", "number", S.Zero)),
          torch="torch.nn.functional.cross_entropy", grad_fn="DivBackward1", saved=("other",),
          record=_record_cross_entropy, on_bool="fail", strict=True,
          ref=quiet(lambda ctx, input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing:
                    ctx.F.cross_entropy(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                                        label_smoothing=float(label_smoothing), **legacy_kw(size_average, reduce))),
          reason="-log softmax(z)[y] gives softmax(z) - one_hot(y) per row (softmax(z) - t for a "
                 "probability target that sums to one)")
def _cross_entropy(input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing):
    reduction = reduction_of(reduction, size_average, reduce)
    by_index = _target_kind(input, target, "cross_entropy", probabilities=True)
    if not by_index and ignore_index != DEFAULT_IGNORE:
        raise SpecError("ignore_index is not supported for a probability target (only for class indices)")
    return CrossEntropyOp(input, target, *_class_weight(weight, input, "cross_entropy"),
                          Integer(REDUCTIONS.index(reduction)), Integer(ignore_index), _smoothing(label_smoothing),
                          flag(by_index))


@register("nll_loss", P("input", "target", Param("weight", "tensor", None), LEGACY[0],
                        Param("ignore_index", "dim", DEFAULT_IGNORE), LEGACY[1], REDUCTION),
          torch="torch.nn.functional.nll_loss", grad_fn="NllLossBackward0",
          saved=("self", "target", "total_weight"), on_bool="fail", strict=True,
          record=lambda w, n, fn, vals, nodes: _record_by_index(w, n, fn, vals, nodes, False),
          ref=quiet(lambda ctx, input, target, weight, size_average, ignore_index, reduce, reduction:
                    ctx.F.nll_loss(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                                   **legacy_kw(size_average, reduce))),
          reason="-x[y] picks one log-probability per row: the input receives -one_hot(y) (times w[y]), "
                 "over the number (or weight) of the targets")
def _nll_loss(input, target, weight, size_average, ignore_index, reduce, reduction):
    reduction = reduction_of(reduction, size_average, reduce)
    _target_kind(input, target, "nll_loss", probabilities=False)
    return NllLossOp(input, target, *_class_weight(weight, input, "nll_loss"),
                     Integer(REDUCTIONS.index(reduction)), Integer(ignore_index), S.Zero, flag(True))
