"""Moving and copying entries: ``expand``, ``repeat`` (methods only, as in PyTorch),
``permute``, ``movedim``/``moveaxis`` and ``flip``.

``x.expand(...)`` is broadcasting made explicit: the adjoint is summed back over the grown
dims (the sweep's own unbroadcast).  ``x.repeat(...)`` tiles copies: the adjoint of each
entry is the sum over its tiles.  A permutation is undone by the inverse permutation, a flip
by the same flip.  ``torch.permute``/``torch.flip`` take a tuple of dims; the methods also
take them one by one (``x.permute(2, 0, 1)``, ``x.flip(0)``).
"""
from sympy import Integer, S, Tuple

from ..errors import ShapeError
from ..tensor import shape_of
from .base import TensorOp, norm_dim, flag, shape_text, rank
from .layout import view_result, strides_of
from .constants import sizes, OnesOp
from .reduce import SumOp
from .batching import align, full_along
from .registry import register, P, Param
from .shape import ReshapeOp, TransposeOp, materialize, full_rank


def lifted_rank(a, r):
    """A lifted argument of logical rank ``r`` with at least ``r`` dims (unit dims in front
    of a lower-rank one, which broadcasts the same), so that its last ``r`` dims are logical."""
    if rank(a) >= r:
        return a
    return full_rank(a, (S.One,) * r) if rank(a) else a * OnesOp(Tuple(*(S.One,) * r))


class ExpandOp(TensorOp):
    """x.expand(sizes): size-1 dims (and new leading ones) grow without copying."""
    spec_name = "expand"
    dtype_rule = "same"

    def out_shape(self):
        return tuple(self.args[1])

    def vjp(self, i, g):
        return materialize(g, self.out_shape())      # summed back to x's shape by the sweep

    def batch(self, args, lifted, bshape):
        """Each member expanded the same way: the logical dims grown, the batch dims kept."""
        r, out = rank(self.args[0]), self.out_shape()
        a = align(lifted_rank(args[0], r), r, len(out))
        return ExpandOp(a, Tuple(*(shape_of(a)[:rank(a) - len(out)] + tuple(out))))

    def text(self, p):
        from sympy.printing.precedence import PRECEDENCE
        return "%s.expand(%s)" % (p.parenthesize(self.args[0], PRECEDENCE["Func"], strict=True),
                                  ", ".join(p._print(s) for s in self.args[1]))

    torch = text

    def latex(self, p):
        return r"\operatorname{expand}_{%s}\left(%s\right)" % (
            r"\times ".join(p._print(d) for d in self.args[1]), p._print(self.args[0]))

    def index(self, p, idx):
        s, out = shape_of(self.args[0]), self.out_shape()
        off = len(out) - len(s)
        return p.index_of(self.args[0], ["1" if s[k] == 1 and out[k + off] != 1 else idx[k + off]
                                         for k in range(len(s))])


def _record_expand(w, n, fn, vals, nodes):
    x = vals["input"]
    if not w.is_tensor(x):
        return x
    shape = w.shape(n)
    return w.record(n, fn.grad_fn, [x], contiguous=x.contiguous and tuple(shape) == tuple(x.shape))


@register("expand", P("input", Param("size", "shape")), method_only=True, varshape=True, torch="torch.Tensor.expand",
          grad_fn="ExpandBackward0", record=_record_expand, on_bool="keep",
          ref=lambda ctx, input, size: input.expand(*sizes(size)),
          reason="expand repeats entries without copying: each entry's adjoint is the sum over its copies")
def _expand(input, size):
    s = shape_of(input)
    if len(size) < len(s):
        raise ShapeError("expand: the number of sizes (%d) must be at least the tensor's dimensions (%d)"
                         % (len(size), len(s)))
    off = len(size) - len(s)
    out = []
    for k, t in enumerate(size):
        have = s[k - off] if k >= off else None
        if t == -1:
            if have is None:
                raise ShapeError("expand: -1 is not allowed in a new leading dimension")
            t = have
        elif have is not None and have != 1 and t != have:
            raise ShapeError("expand: the expanded size (%s) must match the existing size (%s) at the "
                             "non-singleton dimension %d" % (t, have, k))
        out.append(t)
    return ExpandOp(input, Tuple(*out))


class RepeatOp(TensorOp):
    """x.repeat(sizes): copies of x tiled along each dim (extra sizes add leading dims)."""
    spec_name = "repeat"
    dtype_rule = "same"

    def padded(self):
        s, r = shape_of(self.args[0]), self.args[1]
        return (S.One,) * (len(r) - len(s)) + tuple(s)

    def out_shape(self):
        return tuple(a * b for a, b in zip(self.padded(), self.args[1]))

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        split, axes = [], []
        for n, r in zip(self.padded(), self.args[1]):
            if r != 1:
                axes.append(len(split))
                split.append(r)
            split.append(n)
        if axes:
            g = SumOp(ReshapeOp(g, Tuple(*split)), Tuple(*map(Integer, axes)), flag(False))
        return ReshapeOp(g, Tuple(*shape_of(self.args[0])))

    def batch(self, args, lifted, bshape):
        """Each member tiled the same way (made full along the tiled dims first); the batch
        dims are repeated once."""
        shape, reps = shape_of(self.args[0]), tuple(self.args[1])
        r, R = len(shape), len(reps)
        tiled = [d for d in range(r) if reps[R - r + d] != 1]
        a = align(full_along(lifted_rank(args[0], r), shape, tiled), r, R)
        return RepeatOp(a, Tuple(*((S.One,) * (rank(a) - R) + reps)))

    def text(self, p):
        from sympy.printing.precedence import PRECEDENCE
        return "%s.repeat(%s)" % (p.parenthesize(self.args[0], PRECEDENCE["Func"], strict=True),
                                  ", ".join(p._print(s) for s in self.args[1]))

    torch = text

    def latex(self, p):
        return r"\operatorname{repeat}_{%s}\left(%s\right)" % (
            r"\times ".join(p._print(d) for d in self.args[1]), p._print(self.args[0]))


@register("repeat", P("input", Param("repeats", "shape")), method_only=True, varshape=True,
          torch="torch.Tensor.repeat", grad_fn="RepeatBackward0", on_bool="keep",
          ref=lambda ctx, input, repeats: input.repeat(*sizes(repeats)),
          reason="repeat tiles copies: each entry's adjoint is the sum of the adjoint over its tiles")
def _repeat(input, repeats):
    if len(repeats) < len(shape_of(input)):
        raise ShapeError("repeat: the number of repeat dims (%d) can not be smaller than the tensor's "
                         "dimensions (%d)" % (len(repeats), len(shape_of(input))))
    if any(r == -1 for r in repeats):
        raise ShapeError("repeat: repeats must be positive")
    return RepeatOp(input, Tuple(*repeats))


class PermuteOp(TensorOp):
    """permute(x, dims): dim k of the result is dim dims[k] of x."""
    spec_name = "permute"
    dtype_rule = "same"

    @classmethod
    def eval(cls, x, perm):
        perm = [int(d) for d in perm]
        if perm == sorted(perm):
            return x
        if isinstance(x, PermuteOp):
            inner = [int(d) for d in x.args[1]]
            return cls(x.args[0], Tuple(*[Integer(inner[d]) for d in perm]))
        moved = [k for k, d in enumerate(perm) if d != k]
        if len(moved) == 2:
            return TransposeOp(x, Integer(moved[0]), Integer(moved[1]))

    def out_shape(self):
        s = shape_of(self.args[0])
        return tuple(s[int(d)] for d in self.args[1])

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        perm = [int(d) for d in self.args[1]]
        inverse = [perm.index(k) for k in range(len(perm))]
        return PermuteOp(full_rank(g, self.out_shape()), Tuple(*map(Integer, inverse)))

    def batch(self, args, lifted, bshape):
        """The batch dims stay in front; the logical dims are permuted as before."""
        a = lifted_rank(args[0], rank(self.args[0]))
        if rank(a) == 0:
            return a
        off = rank(a) - rank(self.args[0])
        perm = list(range(off)) + [off + int(d) for d in self.args[1]]
        return PermuteOp(a, Tuple(*map(Integer, perm)))

    def text_kwargs(self, p):
        return [shape_text(self.args[1])]

    def torch(self, p):
        from sympy.printing.precedence import PRECEDENCE
        return "%s.permute(%s)" % (p.parenthesize(self.args[0], PRECEDENCE["Atom"], strict=True),
                                   ", ".join(str(d) for d in self.args[1]))

    def latex(self, p):
        return r"\operatorname{permute}_{%s}\left(%s\right)" % (
            ",".join(str(d) for d in self.args[1]), p._print(self.args[0]))

    def index(self, p, idx):
        at = [None] * len(idx)
        for k, d in enumerate(self.args[1]):
            at[int(d)] = idx[k]
        return p.index_of(self.args[0], at)


def _record_permute(w, n, fn, vals, nodes):
    x = vals["input"]
    if not w.is_tensor(x):
        return x
    r = len(x.shape)
    perm = _perm_of(w, n, fn, vals, r)
    st = strides_of(x)
    shape = tuple(x.shape[d] for d in perm)
    return view_result(w, n, ("PermuteBackward0",), x, shape, None if st is None else tuple(st[d] for d in perm))


def _perm_of(w, n, fn, vals, r):
    if fn.name == "permute":
        return [d % r for d in vals["dims"]]
    return _moved(r, vals["source"], vals["destination"])


def _moved(r, source, destination):
    """The permutation movedim(x, source, destination) applies (PyTorch's order)."""
    if r == 0:
        return []
    src = [s % r for s in (source if isinstance(source, tuple) else (source,))]
    dst = [d % r for d in (destination if isinstance(destination, tuple) else (destination,))]
    perm = [None] * r
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(k for k in range(r) if k not in src)
    return [p if p is not None else next(rest) for p in perm]


@register("permute", P("input", Param("dims", "intlist")), method_pack="dims", torch="torch.permute",
          grad_fn="PermuteBackward0", record=_record_permute, on_bool="keep",
          reason="a permutation moves entries: its adjoint is permuted back (the inverse permutation)")
def _permute(input, dims):
    r = len(shape_of(input))
    if len(dims) != r:
        raise ShapeError("permute: the number of dims (%d) must equal the tensor's dimensions (%d)" % (len(dims), r))
    perm = [norm_dim(d, r) for d in dims]
    if sorted(perm) != list(range(r)):
        raise ShapeError("permute: dims %s repeat a dim" % (tuple(dims),))
    return PermuteOp(input, Tuple(*map(Integer, perm)))


@register("movedim", P("input", Param("source", "dims"), Param("destination", "dims")), aliases=("moveaxis",),
          torch="torch.movedim", grad_fn="PermuteBackward0", record=_record_permute, on_bool="keep",
          reason="movedim is a permutation: its adjoint moves the dims back")
def _movedim(input, source, destination):
    r = len(shape_of(input))
    src = source if isinstance(source, tuple) else (source,)
    dst = destination if isinstance(destination, tuple) else (destination,)
    if len(src) != len(dst):
        raise ShapeError("movedim: source and destination must have the same number of dims, got %d and %d"
                         % (len(src), len(dst)))
    s = [norm_dim(d, r) for d in src]
    d = [norm_dim(k, r) for k in dst]
    if len(set(s)) != len(s) or len(set(d)) != len(d):
        raise ShapeError("movedim: repeated dim in source %s or destination %s" % (tuple(src), tuple(dst)))
    if r == 0:
        return input
    return PermuteOp(input, Tuple(*map(Integer, _moved(r, tuple(s), tuple(d)))))


class FlipOp(TensorOp):
    """flip(x, dims): entries reversed along dims."""
    spec_name = "flip"
    dtype_rule = "same"

    @classmethod
    def eval(cls, x, dims):
        s = shape_of(x)
        keep = [d for d in dims if s[int(d)] != 1]
        if not keep:
            return x
        if len(keep) < len(dims):
            return cls(x, Tuple(*keep))
        if isinstance(x, FlipOp) and tuple(x.args[1]) == tuple(dims):
            return x.args[0]
        if getattr(x, "spec_name", None) == "ones":
            return x
        c, rest = x.as_coeff_Mul()
        if c != 1:
            return c * cls(rest, dims)

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        return FlipOp(full_rank(g, self.out_shape()), self.args[1])

    def batch(self, args, lifted, bshape):
        """The same flip of each member (a dim along which the batch is constant stays)."""
        a = lifted_rank(args[0], rank(self.args[0]))
        if rank(a) == 0:
            return a
        off = rank(a) - rank(self.args[0])
        return FlipOp(a, Tuple(*[Integer(off + int(d)) for d in self.args[1]]))

    def text_kwargs(self, p):
        return [shape_text(self.args[1])]

    def latex(self, p):
        return r"\operatorname{flip}_{%s}\left(%s\right)" % (",".join(str(d) for d in self.args[1]),
                                                              p._print(self.args[0]))

    def index(self, p, idx):
        s = shape_of(self.args[0])
        at = [("(%s-1-%s)" % (p._print(s[k]), i)) if k in [int(d) for d in self.args[1]] else i
              for k, i in enumerate(idx)]
        return p.index_of(self.args[0], at)


@register("flip", P("input", Param("dims", "intlist")), method_pack="dims", torch="torch.flip",
          grad_fn="FlipBackward0", on_bool="keep",
          reason="a flip reverses entries: its adjoint is flipped back the same way")
def _flip(input, dims):
    r = len(shape_of(input))
    ds = sorted({norm_dim(d, r) for d in dims})
    if r == 0:
        return input
    if len(ds) != len(dims):
        raise ShapeError("flip: dims %s repeat a dim" % (tuple(dims),))
    if not ds:
        return input
    return FlipOp(input, Tuple(*map(Integer, ds)))
