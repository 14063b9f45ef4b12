"""Products of vectors and distances between them: cross and cdist.

* ``cross``: ``d(a x b) = da x b + a x db``, so a receives ``b x G`` and b ``G x a``.
* ``cdist``: ``d|x - y|_p``; pairs at distance 0 pass no gradient, as in PyTorch.  The rule
  is written without ``sign`` where it is differentiated again: ``sign(u) |u|^{p-1}`` is
  ``u |u|^{p-2}``.

Both take batches (leading dims) where PyTorch does: a batch of directions (second order,
``batch``) is one more batch of them.
"""
import sympy
from sympy import S, Integer, Rational
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, broadcast, fmt_shape
from . import elementwise as ew
from .base import TensorOp, rank, norm_dim
from .batching import full_along
from .decomp import lift_core, same_rank
from .linalg import MatmulOp
from .products import sum_over
from .registry import register, P, Param, Cross
from .shape import UnsqueezeOp, T, materialize


# --- cross -------------------------------------------------------------------------------------
class CrossOp(TensorOp):
    """The cross product along ``dim`` (size 3) of two tensors of the same rank, broadcast."""
    spec_name = "cross"
    n_tensors = 2

    def out_shape(self):
        a, b = (shape_of(t) for t in self.args[:2])
        if len(a) != len(b):
            raise ShapeError("cross: inputs must have the same number of dimensions, got %s and %s"
                             % (fmt_shape(a), fmt_shape(b)))
        d = int(self.args[2])
        if a[d] != 3 or b[d] != 3:
            raise ShapeError("cross: dim %d must have size 3 in both inputs, got %s and %s"
                             % (d, fmt_shape(a), fmt_shape(b)))
        return broadcast(a, b)

    def vjp(self, i, g):
        a, b, d = self.args
        g = materialize(g, self.out_shape())
        return CrossOp(b, g, d) if i == 0 else CrossOp(g, a, d)

    def batch(self, args, lifted, bshape):
        """The cross product along the same logical dim of the batch (made full along it)."""
        d = int(self.args[2])
        shapes = [shape_of(t) for t in self.args[:2]]
        r = len(shapes[0])
        a, b = same_rank(*[full_along(x, s, [d]) if up else x for x, up, s in zip(args, lifted, shapes)])
        return CrossOp(a, b, Integer(rank(a) - r + d))

    def text_kwargs(self, p):
        return ["dim=%d" % int(self.args[2])]

    def torch(self, p):
        return "torch.linalg.cross(%s, %s, dim=%d)" % (p._print(self.args[0]), p._print(self.args[1]), int(self.args[2]))

    def latex(self, p):
        return r"%s \times %s" % tuple(p.parenthesize(t, PRECEDENCE["Mul"]) for t in self.args[:2])


def _cross_dim(shape, dim):
    """torch.cross's dim: the given one, or (None) the first dim of the input of size 3."""
    if dim is not None:
        return norm_dim(dim, len(shape))
    for k, s in enumerate(shape):
        if s == 3:
            return k
    raise ShapeError("cross: no dimension of size 3 in input %s" % fmt_shape(shape))


@register("cross", P("input", "other", Param("dim", "dim", None)), torch="torch.cross",
          ref=lambda ctx, input, other, dim: ctx.torch.cross(input, other, dim=_cross_dim(input.shape, dim)),
          grad_fn="LinalgCrossBackward0", saved=Cross(("other",), ("self",)), on_bool="fail", strict=True,
          reason="d(a x b) = da x b + a x db, so a receives b x G and b receives G x a")
def _cross(input, other, dim):
    return CrossOp(input, other, Integer(_cross_dim(shape_of(input), dim)))


# --- cdist -------------------------------------------------------------------------------------
class CdistOp(TensorOp):
    """p-norm distances between the rows of x1 (..., P, M) and of x2 (..., R, M): (..., P, R)."""
    spec_name = "cdist"
    n_tensors = 2

    def out_shape(self):
        a, b = (shape_of(t) for t in self.args[:2])
        if len(a) < 2 or len(b) < 2:
            raise ShapeError("cdist: needs tensors of at least 2 dimensions, got %s and %s" % (fmt_shape(a), fmt_shape(b)))
        if a[-1] != b[-1]:
            raise ShapeError("cdist: x1 and x2 must have the same number of columns, got %s and %s"
                             % (fmt_shape(a), fmt_shape(b)))
        return broadcast(a[:-2], b[:-2]) + (a[-2], b[-2])

    def vjp(self, i, g):
        x1, x2, p = self.args
        if p == 0:
            return S.Zero
        d = self
        g = materialize(g, self.out_shape())
        if p == 2:                          # W = G/D (0 where D = 0): the matmul form
            w = ew.Where(ew.Gt(d, 0), g / d, 0)
            x, y, w = (x1, x2, w) if i == 0 else (x2, x1, T(w))
            return sum_over(w, [-1], keepdim=True) * x - MatmulOp(w, y)
        diff = UnsqueezeOp(x1, Integer(rank(x1) - 1)) - UnsqueezeOp(x2, Integer(rank(x2) - 2))
        if p == 1:
            t = UnsqueezeOp(g, Integer(rank(g))) * sympy.sign(diff)
        else:
            w = ew.Where(ew.Gt(d, 0), g / d ** (p - 1), 0)
            part = diff * abs(diff) ** (p - 2)          # sign(u) |u|^{p-1}, differentiable again
            if p < 2:
                part = ew.Where(ew.Gt(abs(diff), 0), part, 0)
            t = UnsqueezeOp(w, Integer(rank(w))) * part
        return sum_over(t, [-2]) if i == 0 else -sum_over(t, [-3])

    def batch(self, args, lifted, bshape):
        """A batch of distance matrices (PyTorch broadcasts their batch dims)."""
        nb = len(self.out_shape()) - 2
        xs = [lift_core(x, shape_of(t), 2, nb) if up else x for x, up, t in zip(args, lifted, self.args[:2])]
        return CdistOp(*same_rank(*xs), self.args[2])

    def text_kwargs(self, p):
        return [] if self.args[2] == 2 else ["p=%s" % p._print(self.args[2])]

    def torch(self, p):
        return "torch.cdist(%s, %s, p=%s)" % (p._print(self.args[0]), p._print(self.args[1]),
                                             float(self.args[2]))

    def latex(self, p):
        return r"\operatorname{cdist}_{%s}\left(%s, %s\right)" % tuple(p._print(a) for a in (self.args[2],) + self.args[:2])


MM_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def _record_cdist(w, n, fn, vals, nodes):
    """p = 2 with more than 25 rows on a side (or use_mm forced) is the matmul kernel."""
    x1, x2, mode = vals["x1"], vals["x2"], vals["compute_mode"]
    rows = [_size(w, t.shape[-2]) for t in (x1, x2) if w.is_tensor(t)]
    mm = float(vals["p"]) == 2 and (mode == MM_MODES[1] or (mode == MM_MODES[0] and max(rows) > 25))
    args = [x1, x2]
    saved = (("result", "its output"), ("x1", w.text(nodes["x1"])), ("x2", w.text(nodes["x2"])))
    if mm:
        return w.record(n, "ViewBackward0", args, "EuclideanDistBackward0", saved, ("ViewBackward0", "EuclideanDistBackward0"))
    return w.record(n, "CdistBackward0", args, "CdistBackward0", saved)


def _size(w, s):
    """A size as an int: a dim name takes its value."""
    try:
        return int(s)
    except TypeError:
        return int(dict((sym, v) for sym, v in w.g.prob.dims.values())[s])


@register("cdist", P("x1", "x2", Param("p", "number", Integer(2)), Param("compute_mode", "str", MM_MODES[0])),
          torch="torch.cdist", grad_fn="CdistBackward0", saved=("result", "x1", "x2"), record=_record_cdist,
          on_bool="fail", strict=True,
          ref=lambda ctx, x1, x2, p, compute_mode: ctx.torch.cdist(x1, x2, p=float(p), compute_mode=compute_mode),
          reason="d|x - y|_2 = (x - y)^T (dx - dy)/|x - y|_2: with W = G/D, x1 receives rowsum(W) x1 - W x2 "
                 "(pairs at distance 0 pass nothing)")
def _cdist(x1, x2, p, compute_mode):
    if compute_mode not in MM_MODES:
        raise SpecError("compute_mode must be one of %s" % ", ".join(MM_MODES))
    p = S(p)
    if not p.is_number or p < 0:
        raise SpecError("cdist only supports non-negative p values")
    if p.is_Float:
        p = Rational(str(p))
    return CdistOp(x1, x2, p)
