"""Statistics along dims: var, std, amax, amin, max, min (as reductions), prod, cumsum,
(its adjoint the reverse cumulative sum, by flip of ``move``).

Every rule is PyTorch's at its ties and kinks, in closed form:

* ``amax``/``amin`` and the whole-tensor ``max(x)``/``min(x)`` split the adjoint evenly
  among ties: ``g*(x >= y)/count_nonzero(x >= y)`` (``x >= amax(x)`` is the tie mask
  ``x == amax(x)``; count_nonzero, an integer count, is defined here too);
* ``max(x, dim)`` means the values, and PyTorch sends all of the adjoint to the one index
  it returns -- the first maximum on the CPU: ``(x >= y)*(cumsum(x >= y, dim) <= 1)``;
* ``std`` has gradient 0 where it is 0 (``where(y > 0, g/y, 0)``), ``var`` never divides;
* ``prod``: ``g*y/x`` away from zeros (over a 0-free denominator); at a zero entry the
  product of the others, which is 0 as soon as a second entry is 0 -- never NaN, and
  differentiable again as PyTorch's double backward is (the other zero of a pair counts).
"""
from sympy import S, Tuple, Integer, Abs

from ..errors import SpecError
from ..tensor import shape_of
from .base import TensorOp, count, flag, rank, dims_of, norm_dim
from .elementwise import Ge, Le, Gt, Where, Mask
from .reduce import Reduction, MeanOp, SumOp
from .registry import register, P, Param
from .shape import materialize, full_rank, unsqueeze_dims, OnesLikeOp
from .move import FlipOp, lifted_rank
from .batching import full_along, pdim


def positive_part(y, num, den=None):
    """``num/y`` (or ``num/den``) where ``y > 0``, else 0: a rule that divides by a norm or a
    std that may be 0, where PyTorch masks the gradient to 0 (never NaN)."""
    return Where(Gt(y, S.Zero), num / (y if den is None else den), S.Zero)


def plain(p, x):
    """An argument as text; a comparison without its parentheses (``cumsum(x >= y, dim=1)``)."""
    out = p._print(x)
    return out[1:-1] if isinstance(x, Mask) and out.startswith("(") and out.endswith(")") else out


def plain_text(self, p):
    """The text of an op that PyTorch applies to a bool tensor as it is (no cast to a number)."""
    return "%s(%s)" % (self.spec_name, ", ".join([plain(p, self.args[0])] + self.text_kwargs(p)))


def dims_tuple(input, dim):
    return Tuple(*map(Integer, dims_of(input, dim)))


# --- var, std ----------------------------------------------------------------------------------
class VarOp(Reduction):
    """var(x, dims, keepdim, correction): sum((x - mean)^2)/(N - correction)."""
    spec_name = "var"

    @property
    def correction(self):
        return self.args[3]

    def dof(self):
        return self.n_reduced() - self.correction

    def centred(self):
        return self.args[0] - MeanOp(self.args[0], self.args[1], flag(True))

    def vjp(self, i, g):
        return 2 * self.g_back(g) * self.centred() / self.dof()

    def batch(self, args, lifted, bshape):
        """The moment of each member over the same logical dims (made full along them)."""
        shape = shape_of(self.args[0])
        r = len(shape)
        a = full_along(lifted_rank(args[0], r), shape, self.dims)
        return type(self)(a, Tuple(*[Integer(pdim(a, r, d)) for d in self.dims]), self.args[2], self.correction)

    def text_kwargs(self, p):
        out = Reduction.text_kwargs(self, p)
        if self.correction != 1:
            out.append("correction=%s" % p._print(self.correction))
        return out

    def latex(self, p):
        c = "" if self.correction == 1 else "^{(%s)}" % p._print(self.correction)
        return r"\operatorname{%s}%s%s\left(%s\right)" % (self.spec_name, c, self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        inner, mean_idx = self.index_sum(p, idx)
        mean = r"\frac{1}{%s}\sum_{%s} %s" % (p._print(self.n_reduced()), ",".join(inner),
                                               p.index_of(self.args[0], mean_idx, "Mul"))
        body = r"\frac{1}{%s}\sum_{%s} \left(%s - %s\right)^{2}" % (
            p._print(self.dof()), ",".join(fresh), p.index_of(self.args[0], arg_idx), mean)
        return body if self.spec_name == "var" else r"\sqrt{%s}" % body


class StdOp(VarOp):
    spec_name = "std"

    def vjp(self, i, g):
        return self.g_back(positive_part(self, g)) * self.centred() / self.dof()


def _moments(cls):
    """var/std(input, dim=None, unbiased=None, keepdim=False, *, correction=None): the
    correction overload and PyTorch's legacy positional ``unbiased`` (True: correction 1)."""
    def build(input, dim, unbiased, keepdim, correction):
        if unbiased is not None and correction is not None:
            raise SpecError("give either unbiased or correction, not both (PyTorch raises a TypeError)")
        if unbiased is not None and dim is None and keepdim:
            raise SpecError("keepdim with unbiased needs a dim (PyTorch raises a TypeError); "
                            "write correction=%d instead" % (1 if unbiased else 0))
        c = S(correction) if correction is not None else S.Zero if unbiased is False else S.One
        dims = dims_tuple(input, dim)
        n = count(shape_of(input), [int(d) for d in dims])
        if (n - c).is_number and not (n - c) > 0:
            raise SpecError("correction=%s leaves no degrees of freedom over %s element%s (PyTorch gives "
                            "nan or inf)" % (c, n, "" if n == 1 else "s"))
        if rank(input) == 0:
            return S.Zero           # a single number varies by 0 (correction 0)
        return cls(input, dims, flag(keepdim), c)
    return build


MOMENT_PARAMS = P("input", Param("dim", "dims", None), Param("unbiased", "bool", None),
                  Param("keepdim", "bool", False), Param("correction", "number", None, kwonly=True))


def _moment_ref(name):
    def call(ctx, input, dim, unbiased, keepdim, correction):
        f = getattr(ctx.torch, name)
        if unbiased is not None:
            return f(input, dim, unbiased, keepdim) if dim is not None else f(input, unbiased=unbiased)
        kw = {"keepdim": keepdim} if keepdim else {}
        if correction is not None:
            kw["correction"] = correction
        return f(input, dim, **kw) if dim is not None else f(input, **kw)
    return call


register("var", MOMENT_PARAMS, _moments(VarOp), torch="torch.var", ref=_moment_ref("var"),
         grad_fn="VarBackward0", saved=("self",), on_bool="fail",
         reason="d var = 2 (x - mean(x)) dx/(N - correction): the centred input, scaled")
register("std", MOMENT_PARAMS, _moments(StdOp), torch="torch.std", ref=_moment_ref("std"),
         grad_fn="StdBackward0", saved=("self", "result"), on_bool="fail",
         reason="d std = (x - mean(x)) dx/((N - correction) std): var's rule over 2 std, and 0 where std is 0")


# --- amax, amin; max and min as reductions ---------------------------------------------------------
class AmaxOp(Reduction):
    """amax(x, dims, keepdim): the adjoint is split evenly among the ties."""
    spec_name = "amax"
    tie = Ge
    text = plain_text

    def ties(self):
        """The 0/1 tie mask (x >= its max is x == its max) and the number of ties, of the
        output's shape."""
        x = self.args[0]
        mask = self.tie(x, self if self.all_dims() else self.g_back(self))
        n = CountNonzeroOp(mask, self.args[1], flag(False))
        return mask, (n if self.all_dims() or not self.keepdim else unsqueeze_dims(n, self.dims))

    def vjp(self, i, g):
        mask, n = self.ties()
        if g.is_number:               # a float tensor carries it (a number over an int count is float32)
            g = g * OnesLikeOp(self)
        return self.g_back(g / n) * mask

    def latex(self, p):
        return r"\operatorname{%s}%s\left(%s\right)" % (self.spec_name, self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        word = r"\max" if self.tie is Ge else r"\min"
        return r"%s_{%s} %s" % (word, ",".join(fresh), p.index_of(self.args[0], arg_idx))


class AminOp(AmaxOp):
    spec_name = "amin"
    tie = Le


class MaxAllOp(AmaxOp):
    """max(x): the maximum of every entry (PyTorch's MaxBackward1: ties share evenly)."""
    spec_name = "max"

    def text_kwargs(self, p):
        return []


class MinAllOp(MaxAllOp):
    spec_name = "min"
    tie = Le


class MaxDimOp(AmaxOp):
    """max(x, dim).values: all of the adjoint goes to the first maximum along dim (the index
    PyTorch returns on the CPU), not split among ties."""
    spec_name = "max"
    dim_required = True

    def first(self):
        d = self.dims[0]
        mask = self.tie(self.args[0], self.g_back(self))
        return mask * Le(CumsumOp(mask, Integer(d)), S.One)

    def vjp(self, i, g):
        return self.g_back(g) * self.first()

    def torch(self, p):
        return "torch.%s(%s, %s).values" % (self.spec_name, p._print(self.args[0]), ", ".join(self.text_kwargs(p)))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        return r"%s_{%s} %s" % (r"\max" if self.tie is Ge else r"\min", ",".join(fresh),
                                p.index_of(self.args[0], arg_idx))


class MinDimOp(MaxDimOp):
    spec_name = "min"
    tie = Le


def _extreme(all_cls, dim_cls):
    def build(input, dim, keepdim):
        if dim is None:
            if keepdim:
                raise SpecError("keepdim needs a dim (PyTorch raises a TypeError)")
            return input if rank(input) == 0 else all_cls(input, dims_tuple(input, None), flag(False))
        d = norm_dim(dim, rank(input))
        return input if rank(input) == 0 else dim_cls(input, Tuple(Integer(d)), flag(keepdim))
    return build


def _record_extreme(w, n, fn, vals, nodes):
    """max(x) records MaxBackward1 (saves self, result); max(x, dim) MaxBackward0 (indices)."""
    x = vals["input"]
    if vals["dim"] is None:
        return w.record(n, fn.grad_fn, [x], fn.grad_fn, w.saved(fn.saved, [x], [nodes["input"]], n))
    node = fn.grad_fn.replace("Backward1", "Backward0")
    return w.record(n, node, [x], node, (("indices", "the index of the %s along dim %s" % (fn.name, vals["dim"])),))


def _extreme_ref(name):
    def call(ctx, input, dim, keepdim):
        f = getattr(ctx.torch, name)
        return f(input) if dim is None else f(input, dim, keepdim).values
    return call


EXTREME_PARAMS = P("input", Param("dim", "dim", None), Param("keepdim", "bool", False))
for _name, _all, _dim in (("max", MaxAllOp, MaxDimOp), ("min", MinAllOp, MinDimOp)):
    register(_name, EXTREME_PARAMS, _extreme(_all, _dim), torch="torch." + _name, ref=_extreme_ref(_name),
             grad_fn=_name.capitalize() + "Backward1", saved=("self", "result"), record=_record_extreme,
             on_bool="keep",
             reason="%s(x) splits the adjoint evenly among ties; %s(x, dim) (the values) sends all of it "
                    "to the first %s along dim" % (_name, _name, "maximum" if _name == "max" else "minimum"))


def _amax(cls):
    def build(input, dim, keepdim):
        if rank(input) == 0:
            return input
        return cls(input, dims_tuple(input, dim), flag(keepdim))
    return build


for _name, _cls in (("amax", AmaxOp), ("amin", AminOp)):
    register(_name, P("input", Param("dim", "dims", None), Param("keepdim", "bool", False)), _amax(_cls), torch="torch." + _name,
             grad_fn=_name.capitalize() + "Backward0", saved=("self", "result"), on_bool="keep",
             ref=lambda ctx, input, dim, keepdim, _n=_name: getattr(ctx.torch, _n)(
                 input, () if dim is None else dim, keepdim),
             reason="the adjoint goes to the entries equal to the %s, split evenly among ties" % _name[1:])


class CountNonzeroOp(Reduction):
    """count_nonzero(x, dims): how many entries are not 0 (an integer: no gradient)."""
    spec_name = "count_nonzero"
    differentiable = False

    text = plain_text

    def torch(self, p):             # a float count: g/n and mask/n stay in the working dtype
        return "torch.count_nonzero(%s).to(_dt)" % ", ".join([p._print(self.args[0])] + self.text_kwargs(p))

    def latex(self, p):
        return r"\operatorname{nnz}%s\left(%s\right)" % (self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        x = self.args[0]
        entry = p.index_of(x, arg_idx) if isinstance(x, Mask) else r"\left[%s \neq 0\right]" % p.index_of(x, arg_idx)
        return r"\sum_{%s} %s" % (",".join(fresh), entry)


@register("count_nonzero", P("input", Param("dim", "dims", None)), torch="torch.count_nonzero", kind="constant")
def _count_nonzero(input, dim):
    if rank(input) == 0:
        return CountNonzeroOp(input, Tuple(), flag(False))
    return CountNonzeroOp(input, dims_tuple(input, dim), flag(False))


# --- prod ----------------------------------------------------------------------------------------
class ProdOp(Reduction):
    """prod(x, dims, keepdim, whole): ``whole`` for prod(x) (every entry, no dim argument)."""
    spec_name = "prod"
    dim_required = True
    text = plain_text

    def text_kwargs(self, p):
        return [] if self.args[3] else Reduction.text_kwargs(self, p)

    def others(self):
        """The product of the other entries along the dims, exactly and differentiably again
        (PyTorch's double backward differentiates the product of the others, not y/x):
        ``y/x`` where x is not 0, with a 0-free denominator so that its derivative is finite
        at the zeros too; at a 0, the product of the nonzero entries times the product of
        the other zeros: 1 when it is the only 0, the other zero entry (``sum`` of the zero
        entries minus itself: 0, with derivative 1 along that entry) when there are two, 0
        (a product of two zeros, derivative 0) beyond."""
        x, dims = self.args[0], self.args[1]
        nonzero = Gt(Abs(x), S.Zero)
        safe = Where(nonzero, x, S.One)

        def back(t):
            return unsqueeze_dims(t, self.dims)
        rest = ProdOp(safe, dims, flag(False), self.args[3])
        nz, n = CountNonzeroOp(x, dims, flag(False)), self.n_reduced()
        zeros = SumOp(Where(nonzero, S.Zero, x), dims, flag(False))
        at_zero = back(rest * Ge(nz, n - 1)) + back(rest * Ge(nz, n - 2)) * (back(zeros) - x)
        return Where(nonzero, self.g_back(self) / safe, at_zero)

    def batch(self, args, lifted, bshape):
        """The product of each member over the same logical dims (made full along them)."""
        shape = shape_of(self.args[0])
        r = len(shape)
        a = full_along(lifted_rank(args[0], r), shape, self.dims)
        return ProdOp(a, Tuple(*[Integer(pdim(a, r, d)) for d in self.dims]), self.args[2], flag(False))

    def vjp(self, i, g):
        return self.g_back(g) * self.others()

    def latex(self, p):
        return r"\operatorname{prod}%s\left(%s\right)" % (self.sub(p), p._print(self.args[0]))

    def index(self, p, idx):
        fresh, arg_idx = self.index_sum(p, idx)
        return r"\prod_{%s} %s" % (",".join(fresh), p.index_of(self.args[0], arg_idx, "Mul"))


@register("prod", P("input", Param("dim", "dim", None), Param("keepdim", "bool", False)), torch="torch.prod",
          grad_fn="ProdBackward0", saved=("self", "result"),
          record=lambda w, n, fn, vals, nodes: w.record(
              n, "ProdBackward0" if vals["dim"] is None else "ProdBackward1", [vals["input"]],
              "ProdBackward0" if vals["dim"] is None else "ProdBackward1",
              w.saved(fn.saved, [vals["input"]], [nodes["input"]], n)),
          ref=lambda ctx, input, dim, keepdim: ctx.torch.prod(input) if dim is None
          else ctx.torch.prod(input, dim, keepdim),
          reason="each entry receives the product of the others: y/x away from zeros, 0 once two entries are 0")
def _prod(input, dim, keepdim):
    if dim is None and keepdim:
        raise SpecError("keepdim needs a dim (PyTorch raises a TypeError)")
    if rank(input) == 0:
        return input
    if dim is None:
        return ProdOp(input, dims_tuple(input, None), flag(False), flag(True))
    return ProdOp(input, Tuple(Integer(norm_dim(dim, rank(input)))), flag(keepdim), flag(False))


# --- cumsum (flip is in move) ----------------------------------------------------------------------------------
class CumsumOp(TensorOp):
    """cumsum(x, dim); its adjoint is the reverse cumulative sum flip(cumsum(flip(g)))."""
    spec_name = "cumsum"

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        d = self.args[1]
        g = materialize(full_rank(g, self.out_shape()), self.out_shape()) \
            if not _varies_along(g, int(d), self.out_shape()) else full_rank(g, self.out_shape())
        back = Tuple(d)
        return FlipOp(CumsumOp(FlipOp(g, back), d), back)

    def batch(self, args, lifted, bshape):
        """The cumulative sum of each member along the logical dim (made full along it)."""
        shape, d = self.out_shape(), int(self.args[1])
        a = full_along(lifted_rank(args[0], len(shape)), shape, [d])
        return CumsumOp(a, Integer(pdim(a, len(shape), d)))

    def text_kwargs(self, p):
        return ["dim=%s" % self.args[1]]

    text = plain_text

    def latex(self, p):
        return r"\operatorname{cumsum}_{%s}\left(%s\right)" % (self.args[1], p._print(self.args[0]))

    def index(self, p, idx):
        d = int(self.args[1])
        k = p.fresh()
        arg = list(idx)
        arg[d] = k
        return r"\sum_{%s \leq %s} %s" % (k, idx[d], p.index_of(self.args[0], arg, "Mul"))


def _varies_along(g, d, shape):
    s = shape_of(g)
    off = len(shape) - len(s)
    return d >= off and s[d - off] != 1 and s[d - off] == shape[d]


@register("cumsum", P("input", Param("dim", "dim")), torch="torch.cumsum", grad_fn="CumsumBackward0",
          reason="a cumulative sum's adjoint is the reverse cumulative sum: flip, cumsum, flip back")
def _cumsum(input, dim):
    if rank(input) == 0:
        norm_dim(dim, 0)
        return input
    return CumsumOp(input, Integer(norm_dim(dim, rank(input))))


