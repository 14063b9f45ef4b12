"""Reductions and normalisations along dims: sum, mean, logsumexp, softmax, log_softmax
(norm: ``norms``; var, amax, prod, cumsum ...: ``stats``).

Their vector-Jacobian rules put the reduced dims back (`unsqueeze_dims`) and let
broadcasting do the rest, so no Jacobian is ever built.
"""
from sympy import S, Tuple, Integer, Add, Mul, exp

from ..tensor import shape_of
from .base import TensorOp, count, flag, split_scalar, rank, dims_of, norm_dim
from .registry import register, P, Param
from .shape import unsqueeze_dims, full_rank, TransposeOp, SqueezeOp
from .batching import reduce_lifted, full_along, pdim


def sum_along(g, d, shape):
    """sum(g, dim=d, keepdim=True) for an adjoint g that broadcasts to ``shape``."""
    g = full_rank(g, shape)
    if shape_of(g) == () or shape_of(g)[d] == 1:
        return g * shape[d]
    return SumOp(g, Tuple(Integer(d)), flag(True))


def _reduction(cls):
    """build(input, dim=None, keepdim=False) of a reduction op class."""
    def build(input, dim=None, keepdim=False):
        if rank(input) == 0:
            return input
        return cls(input, Tuple(*map(Integer, dims_of(input, dim))), flag(keepdim))
    return build


def _record_reduction(w, n, fn, vals, nodes):
    """sum(x) records SumBackward0; with a dim or keepdim, SumBackward1."""
    plain = vals["dim"] is None and not vals["keepdim"]
    return w.record(n, fn.grad_fn if plain else fn.grad_fn.replace("Backward0", "Backward1"), [vals["input"]])


def _reduce_ref(f):
    def call(ctx, input, dim=None, keepdim=False):
        if dim is None:
            if keepdim:
                return f(ctx)(input, dim=tuple(range(input.dim())), keepdim=True)
            return f(ctx)(input)
        return f(ctx)(input, dim=dim, keepdim=keepdim)
    return call


REDUCE_PARAMS = P("input", Param("dim", "dims", None), Param("keepdim", "bool", False))


class Reduction(TensorOp):
    """op(x, dims, keepdim) with dims a sorted Tuple of non-negative ints."""

    @property
    def dims(self):
        return [int(d) for d in self.args[1]]

    @property
    def keepdim(self):
        return bool(self.args[2])

    def all_dims(self):
        return len(self.dims) == len(shape_of(self.args[0]))

    def out_shape(self):
        s = shape_of(self.args[0])
        if self.keepdim:
            return tuple(S.One if k in self.dims else d for k, d in enumerate(s))
        return tuple(d for k, d in enumerate(s) if k not in self.dims)

    def n_reduced(self):
        return count(shape_of(self.args[0]), self.dims)

    per_broadcast = None     # the reduction of a constant along a dim of this size, in units of it

    def batch(self, args, lifted, bshape):
        return reduce_lifted(type(self), args[0], shape_of(self.args[0]), self.dims, self.keepdim,
                             self.per_broadcast)

    def g_back(self, g):
        """The output adjoint, broadcastable to the input's shape."""
        return g if self.keepdim else unsqueeze_dims(g, self.dims)

    def text_kwargs(self, p):
        out = []
        if not (self.all_dims() and not self.keepdim) or self.dim_required:
            ds = self.dims
            out.append("dim=%s" % (ds[0] if len(ds) == 1 else "(%s)" % ", ".join(map(str, ds))))
        if self.keepdim:
            out.append("keepdim=True")
        return out

    dim_required = False

    def sub(self, p):
        if self.all_dims():
            return ""
        return "_{%s}" % ",".join(str(d) for d in self.dims)

    def index_sum(self, p, idx):
        """(summation indices, index list for the argument) for output indices idx."""
        s = shape_of(self.args[0])
        idx = list(idx)
        if self.keepdim:
            idx = [i for k, i in enumerate(idx) if k not in self.dims]
        it = iter(idx)
        fresh, arg_idx = [], []
        for k in range(len(s)):
            if k in self.dims:
                f = p.fresh()
                fresh.append(f)
                arg_idx.append(f)
            else:
                arg_idx.append(next(it))
        return fresh, arg_idx


def constant_along(f, dims, rank):
    """Whether ``f`` (broadcast against a tensor of the given rank) has size 1 along dims."""
    s = shape_of(f)
    off = rank - len(s)
    return all(d < off or s[d - off] == 1 for d in dims)


def _distribute(cls, x, dims, keepdim):
    """sum(a + b) = sum(a) + sum(b), taken only when a term then simplifies (a factor moves
    out, or it vanishes) and every term has the sum's full shape."""
    full = shape_of(x)
    if any(shape_of(t) != full for t in x.args):
        return None
    parts = [cls(t, dims, keepdim) for t in x.args]
    if not any(_simpler(p, cls) for p in parts):
        return None
    return Add(*parts)


def _simpler(p, cls):
    """Whether a distributed term simplified: it vanished or more than a number moved out."""
    if p == 0 or not p.has(cls):
        return True
    c, rest = p.as_coeff_Mul()
    return not isinstance(rest, cls)


def _over_units(x, dims, keepdim):
    """A sum or mean over dims of size 1 only moves no number: x, or x squeezed there."""
    s = shape_of(x)
    if not dims or len(s) == 0 or any(s[int(d)] != 1 for d in dims):
        return None
    return x if keepdim else SqueezeOp(x, Tuple(*dims))


def _pull_scalar(cls, x, dims, keepdim):
    """Factors that do not vary along the reduced dims move out: sum(c*x) = c*sum(x).  With
    keepdim=False only those without the reduced dims at all (they broadcast the same)."""
    c, r = split_scalar(x)
    if c != 1 and r != 1:
        return c * cls(r, dims, keepdim)
    if isinstance(x, Add):
        return _distribute(cls, x, dims, keepdim)
    if not isinstance(x, Mul):
        return None
    ds = [int(d) for d in dims]
    rank = len(shape_of(x))
    if keepdim:
        out = [f for f in x.args if constant_along(f, ds, rank)]
    else:
        out = [f for f in x.args if len(shape_of(f)) <= rank - 1 - max(ds)]
    if out and len(out) < len(x.args):
        rest = Mul(*[f for f in x.args if f not in out])
        off = rank - len(shape_of(rest))          # rest may have fewer (leading) dims than x
        if off and min(ds) < off:
            return None
        return Mul(*out) * cls(rest, Tuple(*[Integer(d - off) for d in ds]) if off else dims, keepdim)
    return None


class SumOp(Reduction):
    spec_name = "sum"
    per_broadcast = staticmethod(lambda n: n)

    @classmethod
    def eval(cls, x, dims, keepdim):
        if (isinstance(x, TransposeOp) and len(dims) == 1 and not keepdim
                and len(shape_of(x)) == 2):
            return cls(x.args[0], Tuple(Integer(1 - int(dims[0]))), keepdim)
        return _pull_scalar(cls, x, dims, keepdim) or _over_units(x, dims, keepdim)

    def vjp(self, i, g):
        return self.g_back(g)

    def latex(self, p):
        return r"\operatorname{sum}%s\left(%s\right)" % (self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        return r"\sum_{%s} %s" % (",".join(fresh), p.index_of(self.args[0], arg_idx, "Mul"))


register("sum", REDUCE_PARAMS, _reduction(SumOp), torch="torch.sum", grad_fn="SumBackward0",
         record=_record_reduction, ref=_reduce_ref(lambda ctx: ctx.torch.sum),
         reason="a sum copies its adjoint back to every entry it added")


class MeanOp(Reduction):
    spec_name = "mean"
    per_broadcast = staticmethod(lambda n: S.One)

    @classmethod
    def eval(cls, x, dims, keepdim):
        if (isinstance(x, TransposeOp) and len(dims) == 1 and not keepdim
                and len(shape_of(x)) == 2):
            return cls(x.args[0], Tuple(Integer(1 - int(dims[0]))), keepdim)
        return _pull_scalar(cls, x, dims, keepdim) or _over_units(x, dims, keepdim)

    def vjp(self, i, g):
        return self.g_back(g) / self.n_reduced()

    def latex(self, p):
        return r"\operatorname{mean}%s\left(%s\right)" % (self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        return r"\frac{1}{%s}\sum_{%s} %s" % (p._print(self.n_reduced()), ",".join(fresh),
                                               p.index_of(self.args[0], arg_idx, "Mul"))


register("mean", REDUCE_PARAMS, _reduction(MeanOp), torch="torch.mean", grad_fn="MeanBackward0",
         record=_record_reduction, ref=_reduce_ref(lambda ctx: ctx.torch.mean), on_bool="fail",
         reason="a mean copies its adjoint back to every entry, divided by their count")


class LogsumexpOp(Reduction):
    spec_name = "logsumexp"
    dim_required = True

    def vjp(self, i, g):
        x = self.args[0]
        if len(self.dims) == 1:
            w = SoftmaxOp(x, Integer(self.dims[0]))
        else:
            w = exp(x - LogsumexpOp(x, self.args[1], flag(True)))
        return self.g_back(g) * w

    def latex(self, p):
        return r"\operatorname{logsumexp}%s\left(%s\right)" % (self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        return r"\log \sum_{%s} e^{%s}" % (",".join(fresh), p.index_of(self.args[0], arg_idx))


@register("logsumexp", P("input", Param("dim", "dims"), Param("keepdim", "bool", False)),
          torch="torch.logsumexp", grad_fn="LogsumexpBackward0", saved=("self", "result"), on_bool="fail",
          reason="d logsumexp(x) = softmax(x) . dx: the adjoint spreads as the softmax weights")
def _logsumexp(input, dim, keepdim):
    if rank(input) == 0:
        return input
    return LogsumexpOp(input, Tuple(*map(Integer, dims_of(input, dim))), flag(keepdim))


class SoftmaxOp(TensorOp):
    spec_name = "softmax"

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        if shape_of(g) == ():
            return S.Zero      # softmax sums to one along dim: a constant adjoint vanishes
        d = self.args[1]
        return self * (g - sum_along(g * self, int(d), self.out_shape()))

    def batch(self, args, lifted, bshape):
        d = int(self.args[1])
        a = full_along(args[0], shape_of(self.args[0]), [d])
        return type(self)(a, Integer(pdim(a, rank(self.args[0]), d)))

    def text_kwargs(self, p):
        return ["dim=%s" % self.args[1]]

    def latex(self, p):
        return r"\operatorname{softmax}_{%s}\left(%s\right)" % (self.args[1], p._print(self.args[0]))

    def index(self, p, idx):
        k = p.fresh()
        d = int(self.args[1])
        other = list(idx)
        other[d] = k
        return r"\frac{e^{%s}}{\sum_{%s} e^{%s}}" % (
            p.index_of(self.args[0], idx), k, p.index_of(self.args[0], other))


@register("softmax", P("input", Param("dim", "dim")), torch="torch.softmax", grad_fn="SoftmaxBackward0",
          saved=("result",), on_bool="fail",
          reason="d softmax = s * (dg - sum(s * dg)): the Jacobian diag(s) - s s^T applied to the adjoint")
def _softmax(input, dim):
    return SoftmaxOp(input, Integer(norm_dim(dim, rank(input))))


class LogSoftmaxOp(SoftmaxOp):
    spec_name = "log_softmax"

    def vjp(self, i, g):
        d = self.args[1]
        sm = SoftmaxOp(self.args[0], d)
        if not shape_of(self.args[0]):
            return S.Zero                  # log_softmax of one number is 0
        if shape_of(g) == ():
            return g * (1 - shape_of(self.args[0])[int(d)] * sm)
        return g - sm * sum_along(g, int(d), self.out_shape())

    def latex(self, p):
        return r"\operatorname{log\,softmax}_{%s}\left(%s\right)" % (self.args[1], p._print(self.args[0]))

    def index(self, p, idx):
        k = p.fresh()
        d = int(self.args[1])
        other = list(idx)
        other[d] = k
        return r"%s - \log \sum_{%s} e^{%s}" % (
            p.index_of(self.args[0], idx), k, p.index_of(self.args[0], other))


@register("log_softmax", P("input", Param("dim", "dim")), torch="torch.log_softmax",
          grad_fn="LogSoftmaxBackward0", saved=("result",), on_bool="fail",
          reason="d log_softmax = dg - softmax * sum(dg): the identity minus the softmax weights")
def _log_softmax(input, dim):
    return LogSoftmaxOp(input, Integer(norm_dim(dim, rank(input))))
