"""Vector norms and what is built on them: norm (p-norms along dims), clamp_min, normalize,
cosine_similarity.

Each rule is PyTorch's at a zero vector, in closed form and never NaN:

* ``norm``: its gradient is 0 at a zero vector (``where(y > 0, g/y, 0)*x`` for p = 2);
* ``normalize(x) = x/clamp_min(norm(x), eps)``: at a zero vector the gradient is ``g/eps``
  (the clamp, which passes the gradient only where ``norm(x) >= eps``);
* ``cosine_similarity`` clamps each norm in place without recording it, so the clamp has no
  mask there (`clamp_unrecorded`): a zero vector gets ``g*x2/max(|x2|, eps)/eps``, and below
  eps the second derivative passes the clamp too, as PyTorch's double backward.
"""
import sympy
from sympy import S, Tuple, Integer

from ..errors import SpecError, ShapeError
from ..tensor import shape_of, broadcast, fmt_shape
from .base import TensorOp, ElementwiseFn, flag, rank, norm_dim
from .constants import DetachOp
from .elementwise import Ge, custom
from .nodes import CROSS, cross_saved
from .reduce import Reduction, sum_along
from .registry import register, P, Param
from .shape import full_rank, materialize, UnsqueezeOp
from .stats import positive_part, dims_tuple


# --- norm --------------------------------------------------------------------------------------
class NormOp(Reduction):
    """norm(x, dims, keepdim, p): (sum |x|^p)^(1/p) along dims (all of them: Frobenius)."""
    spec_name = "norm"

    @property
    def p(self):
        return self.args[3]

    def vjp(self, i, g):
        x, p = self.args[0], self.p
        if p == 1:
            return self.g_back(g) * sympy.sign(x)
        if p == 2:
            return self.g_back(positive_part(self, g)) * x
        return self.g_back(positive_part(self, g, self ** (p - 1))) * sympy.sign(x) * sympy.Abs(x) ** (p - 1)

    def text_kwargs(self, p):
        return ([] if self.p == 2 else ["p=%s" % p._print(self.p)]) + Reduction.text_kwargs(self, p)

    def torch(self, p):
        kw = ([] if self.p == 2 else ["ord=%s" % p._print(self.p)]) + Reduction.text_kwargs(self, p)
        return "torch.linalg.vector_norm(%s)" % ", ".join([p._print(self.args[0])] + kw)

    def latex(self, p):
        sub = [] if self.p == 2 else [p._print(self.p)]
        if not self.all_dims():
            sub.append(r"\mathrm{dim}\,%s" % ",".join(map(str, self.dims)))
        return r"\left\lVert %s \right\rVert%s" % (p._print(self.args[0]), "_{%s}" % r",\,".join(sub) if sub else "")

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        if self.p == 2:
            return r"\sqrt{\sum_{%s} %s^{2}}" % (",".join(fresh), p.index_of(self.args[0], arg_idx, "Pow"))
        return r"\left(\sum_{%s} \left|%s\right|^{%s}\right)^{1/%s}" % (
            ",".join(fresh), p.index_of(self.args[0], arg_idx), p._print(self.p), p._print(self.p))


def norm_order(p):
    """The p of a p-norm: a number >= 1 (1: the sum of |x|, 2: Euclidean)."""
    if not (p.is_number and p.is_real and p >= 1):
        raise SpecError("p must be a number >= 1 (symgrad's p-norms), got %s" % p)
    return S(p)


@register("norm", P("input", Param("p", "number", S(2)), Param("dim", "dims", None), Param("keepdim", "bool", False)),
          torch="torch.norm", grad_fn="LinalgVectorNormBackward0", saved=("self", "result"), on_bool="fail",
          ref=lambda ctx, input, p, dim, keepdim: ctx.torch.norm(input, float(p), dim, keepdim),
          reason="d ||x|| = x . dx / ||x||: the unit vector along x (0 at a zero vector)")
def _norm(input, p, dim, keepdim):
    return NormOp(input, dims_tuple(input, dim), flag(keepdim), norm_order(p))


def vector_norm(x, d, p=S(2)):
    """The p-norm of x along dim d, keepdim (normalize's and cosine_similarity's)."""
    return NormOp(x, Tuple(Integer(d)), flag(True), p)


# --- clamp_min -----------------------------------------------------------------------------------
@custom(P("input", Param("min", "number")), grad_fn="ClampMinBackward0", saved=("self",), on_bool="fail",
        number_ok=False, ref=lambda ctx, input, min: ctx.torch.clamp_min(input, float(min)),
        reason="clamp_min passes the gradient where the input is at or above the bound, else 0")
class ClampMin(ElementwiseFn):
    """clamp_min(x, m) = max(x, m) with a number m; PyTorch passes the gradient at x == m."""
    nargs = 2
    spec_name = "clamp_min"
    torch_name = "torch.clamp_min"

    def value(self, x, m):
        return sympy.Max(x, m)

    def fdiff(self, argindex=1):
        return Ge(*self.args) if argindex == 1 else S.Zero

    def latex(self, p):
        return r"\max\left(%s, %s\right)" % (p._print(self.args[0]), p._print(self.args[1]))


def clamp_unrecorded(x, eps):
    """max(x, eps) clamped in place under ``no_grad`` (cosine_similarity's norms,
    gaussian_nll_loss's var): autograd sees ``x`` itself, so the clamp passes the gradient
    everywhere -- ``x + detach(clamp_min(x, eps) - x)``: the clamp's value, derivative 1, and a
    vector-Jacobian rule built on it differentiates again as PyTorch's double backward."""
    return x + DetachOp(ClampMin(x, eps) - x)


# --- normalize -----------------------------------------------------------------------------------
class NormalizeOp(TensorOp):
    """normalize(x, p, dim, eps) = x/clamp_min(norm(x, p, dim, keepdim=True), eps)."""
    spec_name = "normalize"

    def out_shape(self):
        return shape_of(self.args[0])

    def parts(self):
        x, p, d, eps = self.args
        n = vector_norm(x, int(d), p)
        return n, ClampMin(n, eps)

    def vjp(self, i, g):
        x, p, d, eps = self.args
        n, m = self.parts()
        y = self
        direction = y if p == 2 else sympy.sign(y) if p == 1 else sympy.sign(y) * sympy.Abs(y) ** (p - 1)
        along = sum_along(g * y, int(d), self.out_shape())
        return (g - Ge(n, eps) * direction * along) / m

    def text_kwargs(self, p):
        x, order, d, eps = self.args
        return (([] if order == 2 else ["p=%s" % p._print(order)]) + ["dim=%s" % d]
                + ([] if eps == NORMALIZE_EPS else ["eps=%s" % p._print(eps)]))

    def torch(self, p):
        x, order, d, eps = self.args
        return "torch.nn.functional.normalize(%s, p=%s, dim=%s, eps=%s)" % (
            p._print(x), p._print(order), d, p._print(eps))

    def latex(self, p):
        n, m = self.parts()
        return r"\frac{%s}{%s}" % (p._print(self.args[0]), p._print(m))

    def index(self, p, idx):
        n, m = self.parts()
        return r"\frac{%s}{%s}" % (p.index_of(self.args[0], idx), p.index_of(m, idx))


NORMALIZE_EPS = sympy.Rational("1e-12")


@register("normalize", P("input", Param("p", "number", S(2)), Param("dim", "dim", 1), Param("eps", "number", NORMALIZE_EPS)),
          torch="torch.nn.functional.normalize", grad_fn="DivBackward0", saved=("other", "self"), record=lambda w, n, fn, vals, nodes: w.record(
              n, "DivBackward0", [vals["input"]], "DivBackward0",
              (("other", "clamp_min(norm(%s), eps), expanded" % w.text(nodes["input"])),
               ("self", w.text(nodes["input"]))),
              ("DivBackward0", "ExpandBackward0", "ClampMinBackward0", "LinalgVectorNormBackward0")),
          ref=lambda ctx, input, p, dim, eps: ctx.F.normalize(input, float(p), dim, float(eps)),
          reason="d(x/|x|) = (dx - y (y . dx))/|x|: the adjoint less its part along y = x/|x|; "
                 "below eps the norm is clamped and the gradient is g/eps")
def _normalize(input, p, dim, eps):
    if not eps > 0:
        raise SpecError("eps must be positive (at eps = 0 a zero vector gives nan)")
    return NormalizeOp(input, norm_order(p), Integer(norm_dim(dim, rank(input))), S(eps))


# --- cosine_similarity ----------------------------------------------------------------------------
class CosineSimilarityOp(TensorOp):
    """cosine_similarity(x1, x2, dim, eps): sum(x1/max(|x1|, eps) * x2/max(|x2|, eps), dim) over
    the broadcast shape (PyTorch clamps each norm without recording the clamp)."""
    spec_name = "cosine_similarity"
    n_tensors = 2

    def common(self):
        return broadcast(shape_of(self.args[0]), shape_of(self.args[1]))

    def out_shape(self):
        d = int(self.args[2])
        return tuple(s for k, s in enumerate(self.common()) if k != d)

    def vjp(self, i, g):
        d, eps = int(self.args[2]), self.args[3]
        shape = self.common()
        x, dx = _spread(self.args[i], shape, d)
        other, do = _spread(self.args[1 - i], shape, d)
        n = vector_norm(x, dx)
        unit = other / clamp_unrecorded(vector_norm(other, do), eps)
        back = [t if shape_of(t) == () else UnsqueezeOp(full_rank(t, self.out_shape()), Integer(d))
                for t in (g, self)]
        return back[0] * (unit - back[1] * positive_part(n, x)) / clamp_unrecorded(n, eps)

    def text_kwargs(self, p):
        return ["dim=%s" % self.args[2]] + ([] if self.args[3] == COSINE_EPS else ["eps=%s" % p._print(self.args[3])])

    def torch(self, p):
        return "torch.nn.functional.cosine_similarity(%s, %s, dim=%s, eps=%s)" % (
            p._print(self.args[0]), p._print(self.args[1]), self.args[2], p._print(self.args[3]))

    def latex(self, p):
        return r"\cos_{%s}\left(%s, %s\right)" % (self.args[2], p._print(self.args[0]), p._print(self.args[1]))


def _spread(t, shape, d):
    """(t, the dim of t that is d of the broadcast shape): t itself where it has that dim in
    full, else t expanded to the broadcast shape (PyTorch expands both inputs before it takes
    their norms)."""
    k = d - (len(shape) - rank(t))
    if k >= 0 and shape_of(t)[k] == shape[d]:
        return t, k
    return materialize(t, shape), d


COSINE_EPS = sympy.Rational("1e-8")


def _record_cosine(w, n, fn, vals, nodes):
    """sum((x1/|x1|) * (x2/|x2|), dim): the product saves each side for the other's gradient."""
    a, b = vals["x1"], vals["x2"]
    rg = [w.is_tensor(v) and v.requires_grad for v in (a, b)]
    what = {"other": "%s/|%s|" % ((w.text(nodes["x2"]),) * 2), "self": "%s/|%s|" % ((w.text(nodes["x1"]),) * 2)}
    fields = cross_saved("MulBackward0", *rg)
    chain = ("SumBackward1", "MulBackward0", "DivBackward0", "CloneBackward0", "LinalgVectorNormBackward0")
    return w.record(n, "SumBackward1", [a, b], "MulBackward0", tuple((f, what[f]) for f in fields), chain)


@register("cosine_similarity", P("x1", "x2", Param("dim", "dim", 1), Param("eps", "number", COSINE_EPS)),
          torch="torch.nn.functional.cosine_similarity", grad_fn="SumBackward1", saved=CROSS["MulBackward0"],
          record=_record_cosine,
          on_bool="fail", strict=True,
          ref=lambda ctx, x1, x2, dim, eps: ctx.F.cosine_similarity(x1, x2, dim, float(eps)),
          reason="d cos = (x2/|x2| - cos x1/|x1|)/|x1| . dx1: the other unit vector less the part along x1")
def _cosine_similarity(x1, x2, dim, eps):
    try:
        shape = broadcast(shape_of(x1), shape_of(x2))
    except ShapeError:
        raise ShapeError("cosine_similarity: shapes %s and %s cannot be broadcast together"
                         % (fmt_shape(shape_of(x1)), fmt_shape(shape_of(x2))))
    if not eps > 0:
        raise SpecError("eps must be positive (at eps = 0 a zero vector gives nan)")
    return CosineSimilarityOp(x1, x2, Integer(norm_dim(dim, len(shape))), S(eps))
