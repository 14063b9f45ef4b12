"""Normalisation layers and dropout: layer_norm, batch_norm (training statistics), rms_norm,
dropout (training=False: the identity).

``layer_norm(x, shape)`` without weight and bias IS the standardized input ``xh`` (mean 0,
biased variance 1 over the last dims), and its vector-Jacobian rule is the textbook's
``(g - mean(g) - xh*mean(g*xh))/sqrt(var(x, correction=0) + eps)``; the affine layer is
``xh*weight + bias`` on top of it, whose rules are the product's and the sum's.  batch_norm
is the same over every dim but the channels (dim 1).  rms_norm is ``x*r`` with
``r = rsqrt(mean(x**2) + eps)`` and the rule ``r*(g - y*mean(g*y))``.  Each records the
backward nodes PyTorch records (one fused node, or rms_norm's chain of six).
"""
from sympy import S, Tuple, Integer, Rational, Add, Pow

from ..errors import SpecError, ShapeError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp, count, flag, rank, shape_text
from .nodes import cross_saved
from .reduce import MeanOp
from .registry import register, P, Param, REQUIRED
from .shape import full_rank, ReshapeOp
from .stats import VarOp

LAYER_EPS = Rational("1e-5")
FLOAT64_EPS = Rational(1, 2 ** 52)      # torch.finfo(torch.float64).eps: rms_norm's eps=None


def mean_along(g, dims, shape):
    """mean(g, dims, keepdim=True) for an adjoint g that broadcasts to ``shape`` (a g that is
    constant along a dim is its own mean there)."""
    g = full_rank(g, shape)
    if shape_of(g) == ():
        return g
    ds = [d for d in dims if shape_of(g)[d] != 1]
    return MeanOp(g, Tuple(*map(Integer, ds)), flag(True)) if ds else g


class Standardize(TensorOp):
    """(x - mean(x))/sqrt(var(x, correction=0) + eps) over `dims` (layer_norm, batch_norm)."""

    def out_shape(self):
        return shape_of(self.args[0])

    def variance(self):
        """The biased variance over the dims, keepdim (what PyTorch normalizes with)."""
        return VarOp(self.args[0], Tuple(*map(Integer, self.dims())), flag(True), S.Zero)

    def rstd(self):
        return (self.variance() + self.eps) ** Rational(-1, 2)

    def vjp(self, i, g):
        shape, dims, xh = self.out_shape(), self.dims(), self
        return (g - mean_along(g, dims, shape) - xh * mean_along(g * xh, dims, shape)) * self.rstd()

    def latex(self, p):
        return r"\operatorname{%s}\left(%s\right)" % (self.spec_name.replace("_", r"\_"), p._print(self.args[0]))

    def index(self, p, idx):
        x = self.args[0]
        mean = MeanOp(x, Tuple(*map(Integer, self.dims())), flag(True))
        return r"\frac{%s - %s}{\sqrt{%s + %s}}" % (
            p.index_of(x, idx), p.index_of(mean, idx), p.index_of(self.variance(), idx), p._print(self.eps))


class LayerNormOp(Standardize):
    """layer_norm(x, normalized_shape, eps) without weight and bias: the last dims standardized."""
    spec_name = "layer_norm"

    @property
    def eps(self):
        return self.args[2]

    def dims(self):
        r, k = rank(self.args[0]), len(self.args[1])
        return list(range(r - k, r))

    def text_kwargs(self, p):
        return [shape_text(self.args[1])] + ([] if self.eps == LAYER_EPS else ["eps=%s" % p._print(self.eps)])

    def torch(self, p):
        return "torch.nn.functional.layer_norm(%s, %s, eps=%s)" % (
            p._print(self.args[0]), shape_text(self.args[1]), p._print(self.eps))


def _affine(y, weight, bias):
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _check_param(name, t, shape, what):
    if t is not None and tuple(shape_of(t)) != tuple(shape):
        raise ShapeError("%s must have the shape of %s, %s, got %s" % (name, what, fmt_shape(shape), fmt_shape(shape_of(t))))


def _record_fused(node, fields):
    """A fused normalisation node: it saves the input, its statistics, and `fields` given."""
    def record(w, n, fn, vals, nodes):
        saved = [("input", w.text(nodes["input"])), ("result1", "the mean"), ("result2", "1/std")]
        saved += [(f, w.text(nodes[f])) for f in fields if w.is_tensor(vals[f])]
        return w.record(n, node, [vals[k] for k in ("input", "weight", "bias")], node, tuple(sorted(saved)))
    return record


@register("layer_norm", P("input", Param("normalized_shape", "shape", seq=True), Param("weight", "tensor", None),
                          Param("bias", "tensor", None), Param("eps", "number", LAYER_EPS)),
          torch="torch.nn.functional.layer_norm", grad_fn="NativeLayerNormBackward0",
          saved=("input", "result1", "result2"), record=_record_fused("NativeLayerNormBackward0", ("weight", "bias")),
          ref=lambda ctx, input, normalized_shape, weight, bias, eps: ctx.F.layer_norm(
              input, tuple(int(s) for s in normalized_shape), weight, bias, float(eps)),
          on_bool="fail",
          reason="d xh = (dx - mean(dx) - xh mean(xh dx))/std: the adjoint centred, less its part along xh, "
                 "over the std")
def _layer_norm(input, normalized_shape, weight, bias, eps):
    s, k = shape_of(input), len(normalized_shape)
    if k > len(s) or tuple(s[len(s) - k:]) != tuple(normalized_shape):
        raise ShapeError("layer_norm: normalized_shape %s must be the last dims of the input, %s"
                         % (fmt_shape(normalized_shape), fmt_shape(s)))
    if not eps > 0:
        raise SpecError("eps must be positive")
    _check_param("weight", weight, normalized_shape, "normalized_shape")
    _check_param("bias", bias, normalized_shape, "normalized_shape")
    return _affine(LayerNormOp(input, Tuple(*normalized_shape), S(eps)), weight, bias)


# --- batch_norm ------------------------------------------------------------------------------------
class BatchNormOp(Standardize):
    """batch_norm(x, None, None, training=True, eps) without weight and bias: each channel
    (dim 1) standardized with the statistics of the batch."""
    spec_name = "batch_norm"

    @property
    def eps(self):
        return self.args[1]

    def dims(self):
        return [d for d in range(rank(self.args[0])) if d != 1]

    def text_kwargs(self, p):
        return ["None", "None", "training=True"] + ([] if self.eps == LAYER_EPS else ["eps=%s" % p._print(self.eps)])

    def torch(self, p):
        return "torch.nn.functional.batch_norm(%s, None, None, training=True, eps=%s)" % (
            p._print(self.args[0]), p._print(self.eps))


def _channels(t, r):
    """A per-channel (C,) parameter broadcast along dim 1 of a rank-r input."""
    if t is None or r <= 2:
        return t
    return ReshapeOp(t, Tuple(*((shape_of(t)[0],) + (S.One,) * (r - 2))))


def _batch_norm_ref(ctx, input, running_mean, running_var, weight, bias, training, momentum, eps):
    # the running statistics are updated in place, which the output does not depend on in
    # training mode: copies, so that the spec's tensors keep their values
    copy = [None if t is None else t.detach().clone() for t in (running_mean, running_var)]
    return ctx.F.batch_norm(input, copy[0], copy[1], weight, bias, training, float(momentum), float(eps))


def _record_batch_norm(w, n, fn, vals, nodes):
    for f in ("running_mean", "running_var"):
        if w.is_tensor(vals[f]) and vals[f].requires_grad:
            mark = w.g.prob.node(w.owner).mark
            raise SpecError("batch_norm: %s must not require grad (PyTorch: native_batch_norm is not "
                            "differentiable with respect to it)" % f, w.g.prob.file, mark.line, mark.col)
    return _record_fused("NativeBatchNormBackward0", ("weight", "running_mean", "running_var"))(w, n, fn, vals, nodes)


@register("batch_norm", P("input", Param("running_mean", "tensor", REQUIRED, nullable=True),
                          Param("running_var", "tensor", REQUIRED, nullable=True), Param("weight", "tensor", None),
                          Param("bias", "tensor", None), Param("training", "bool", False),
                          Param("momentum", "number", Rational(1, 10)), Param("eps", "number", LAYER_EPS)),
          torch="torch.nn.functional.batch_norm", grad_fn="NativeBatchNormBackward0",
          saved=("input", "result1", "result2"), record=_record_batch_norm, ref=_batch_norm_ref, on_bool="fail",
          reason="batch norm is layer norm over the batch (every dim but the channels): the same rule")
def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
    if not training:
        raise SpecError("only training=True (batch statistics) is supported: write "
                        "batch_norm(x, None, None, training=True)")
    s = shape_of(input)
    if len(s) < 2:
        raise ShapeError("batch_norm: the input must have a batch and a channel dim, got %s" % fmt_shape(s))
    n = count(s, [d for d in range(len(s)) if d != 1])
    if n.is_number and n <= 1:
        raise ShapeError("batch_norm: expected more than 1 value per channel when training, got input %s"
                         % fmt_shape(s))
    if not eps > 0:
        raise SpecError("eps must be positive")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_param(name, t, (s[1],), "the channels")
    y = BatchNormOp(input, S(eps))
    return _affine(y, _channels(weight, len(s)), _channels(bias, len(s)))


# --- rms_norm ----------------------------------------------------------------------------------------
class RmsNormOp(TensorOp):
    """rms_norm(x, normalized_shape, eps) without weight: x*rsqrt(mean(x**2) + eps) over the last
    dims.  ``given`` says whether eps was written (eps=None is the dtype's machine epsilon,
    float64's in the closed forms)."""
    spec_name = "rms_norm"

    def out_shape(self):
        return shape_of(self.args[0])

    def dims(self):
        r, k = rank(self.args[0]), len(self.args[1])
        return list(range(r - k, r))

    def r(self):
        x = self.args[0]
        return (MeanOp(x ** 2, Tuple(*map(Integer, self.dims())), flag(True)) + self.args[2]) ** Rational(-1, 2)

    def vjp(self, i, g):
        shape, y = self.out_shape(), self
        return self.r() * (g - y * mean_along(g * y, self.dims(), shape))

    def text_kwargs(self, p):
        return [shape_text(self.args[1])] + (["eps=%s" % p._print(self.args[2])] if self.args[3] else [])

    def torch(self, p):
        return "torch.nn.functional.rms_norm(%s)" % ", ".join([p._print(self.args[0])] + self.text_kwargs(p))

    def latex(self, p):
        return r"\operatorname{rms\_norm}\left(%s\right)" % p._print(self.args[0])

    def index(self, p, idx):
        return r"%s %s" % (p.index_of(self.args[0], idx), p.index_of(self.r(), idx))


def _record_rms_norm(w, n, fn, vals, nodes):
    """x*rsqrt(mean(x**2) + eps), then *weight: the root multiply saves what the other side needs."""
    x, wt = vals["input"], vals["weight"]
    chain = ("MulBackward0", "RsqrtBackward0", "AddBackward1", "MeanBackward1", "PowBackward0")
    xr = w.is_tensor(x) and x.requires_grad
    if not w.is_tensor(wt):
        return w.record(n, "MulBackward0", [x], "MulBackward0",
                        (("other", "rsqrt(mean(x**2) + eps)"), ("self", w.text(nodes["input"]))), chain)
    fields = cross_saved("MulBackward0", xr, wt.requires_grad)
    what = {"other": w.text(nodes["weight"]), "self": "the normalized input"}
    return w.record(n, "MulBackward0", [x, wt], "MulBackward0", tuple((f, what[f]) for f in fields),
                    ("MulBackward0",) + (chain if xr else ()))


@register("rms_norm", P("input", Param("normalized_shape", "shape", seq=True), Param("weight", "tensor", None),
                        Param("eps", "number", None)),
          torch="torch.nn.functional.rms_norm", grad_fn="MulBackward0", saved=("other", "self"),
          record=_record_rms_norm, on_bool="fail",
          ref=lambda ctx, input, normalized_shape, weight, eps: ctx.F.rms_norm(
              input, tuple(int(s) for s in normalized_shape), weight, None if eps is None else float(eps)),
          reason="d(x r) = r (dx - y mean(y dx)) with r = rsqrt(mean(x^2) + eps) and y = x r")
def _rms_norm(input, normalized_shape, weight, eps):
    s, k = shape_of(input), len(normalized_shape)
    if k > len(s) or tuple(s[len(s) - k:]) != tuple(normalized_shape):
        raise ShapeError("rms_norm: normalized_shape %s must be the last dims of the input, %s"
                         % (fmt_shape(normalized_shape), fmt_shape(s)))
    if eps is not None and not eps > 0:
        raise SpecError("eps must be positive")
    _check_param("weight", weight, normalized_shape, "normalized_shape")
    y = RmsNormOp(input, Tuple(*normalized_shape), FLOAT64_EPS if eps is None else S(eps), flag(eps is not None))
    return _affine(y, weight, None)


# --- forward values in second-order forms ------------------------------------------------------
def normalized(num, base):
    """The normalisation (no weight) equal to ``num/sqrt(base)``, or None: ``(x - mean(x))`` over
    ``sqrt(var(x, correction=0) + eps)`` is layer_norm(x) over trailing dims (batch_norm(x) over
    all but dim 1), and ``x`` over ``sqrt(mean(x**2) + eps)`` is rms_norm(x).  A rule's second
    derivative (d rstd = -rstd**3*(x - mean(x))/N) then reads as the textbook's xh*rstd**2/N."""
    if not (isinstance(base, Add) and len(base.args) == 2):
        return None
    eps, stat = base.as_coeff_Add()
    if not (eps.is_Number and eps > 0 and type(stat) in (VarOp, MeanOp) and stat.keepdim):
        return None
    x = stat.args[0]
    if type(stat) is MeanOp:
        x = x.base if isinstance(x, Pow) and x.exp == 2 else None
        if x is None or num != x:
            return None
    elif stat.correction != 0 or num != stat.centred():
        return None
    r, dims = rank(x), list(stat.dims)
    if dims == list(range(r - len(dims), r)):
        tail = Tuple(*shape_of(x)[r - len(dims):])
        if type(stat) is MeanOp:
            return RmsNormOp(x, tail, eps, flag(eps != FLOAT64_EPS))
        return LayerNormOp(x, tail, eps)
    if type(stat) is VarOp and r >= 2 and dims == [d for d in range(r) if d != 1]:
        return BatchNormOp(x, eps)
    return None


# --- dropout ---------------------------------------------------------------------------------------
@register("dropout", P("input", Param("p", "number", Rational(1, 2)), Param("training", "bool", True),
                       Param("inplace", "bool", False)),
          torch="torch.nn.functional.dropout", record=lambda w, n, fn, vals, nodes: vals["input"], on_bool="keep",
          reason="dropout with training=False returns its input itself: no node, the adjoint passes unchanged")
def _dropout(input, p, training, inplace):
    if not 0 <= p <= 1:
        raise SpecError("dropout probability has to be between 0 and 1, but got %s" % p)
    if training and p != 0:
        raise SpecError("training=True drops entries at random: symgrad derives dropout(x, p, training=False) "
                        "only (the identity, as in model.eval())")
    return input
