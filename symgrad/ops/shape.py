"""Shape ops: reshape, flatten, unsqueeze, squeeze, transpose, and the adjoint helpers
built on them (`materialize`, `full_rank`).

A shape op moves numbers without changing them, so its vector-Jacobian rule is the
inverse move: reshape back, squeeze what was unsqueezed, transpose back.
"""
from sympy import S, Tuple, Integer, Add
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError
from ..tensor import shape_of, numel, fmt_shape
from .base import TensorOp, split_scalar, rank, dims_of, norm_dim, shape_text
from .constants import OnesOp, ZerosOp, EyeOp, OnesLikeOp, ZerosLikeOp, DetachOp, Constant, sizes  # noqa: F401
from .registry import register, P, Param


class ReshapeOp(TensorOp):
    spec_name = "reshape"

    @classmethod
    def eval(cls, x, shape):
        if tuple(shape) == shape_of(x):
            return x
        if isinstance(x, ReshapeOp):
            return cls(x.args[0], shape)

    def out_shape(self):
        return tuple(self.args[1])

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g            # a constant adjoint stays constant under any reshape
        return ReshapeOp(materialize(g, self.out_shape()), Tuple(*shape_of(self.args[0])))

    def batch(self, args, lifted, bshape):
        full = tuple(bshape) + shape_of(self.args[0])
        return ReshapeOp(materialize(args[0], full), Tuple(*(tuple(bshape) + self.out_shape())))

    def text_kwargs(self, p):
        return [shape_text(self.args[1])]

    def latex(self, p):
        return r"\operatorname{reshape}_{%s}\left(%s\right)" % (
            r"\times ".join(p._print(d) for d in self.args[1]), p._print(self.args[0]))

    def index(self, p, idx):
        """A reshape that only inserts unit dims keeps its argument's entries: M_{ik}."""
        x = self.args[0]
        kept = [i for i, d in zip(idx, self.args[1]) if d != 1]
        if len(kept) != len(shape_of(x)) or any(d == 1 for d in shape_of(x)):
            return r"\left(%s\right)_{%s}" % (self.latex(p), "".join(idx))
        return p.index_of(x, kept)


def reshape_target(in_shape, target):
    """Resolve a reshape target (one -1 allowed) against the input's number of elements."""
    target = [S(t) for t in target]
    total = numel(in_shape)
    holes = [k for k, t in enumerate(target) if t == -1]
    if len(holes) > 1:
        raise ShapeError("reshape: only one dimension can be -1")
    known = numel([t for t in target if t != -1])
    if holes:
        q = total / known
        if not (q.is_Integer or q.is_Symbol or q.is_Mul) or (q.is_Number and q <= 0):
            raise ShapeError("reshape: cannot reshape %s into %s" % (fmt_shape(in_shape), fmt_shape(target)))
        target[holes[0]] = q
    for t in target:
        if t.is_Number and t <= 0:
            raise ShapeError("reshape: sizes must be positive, got %s" % fmt_shape(target))
    if (numel(target) - total).expand() != 0:
        raise ShapeError("reshape: cannot reshape %s (%s elements) into %s"
                         % (fmt_shape(in_shape), total, fmt_shape(target)))
    return tuple(target)


def _record_reshape(w, n, fn, vals, nodes):
    """A view of a contiguous tensor; a copy (and its chain) of a non-contiguous one."""
    x = vals["input"]
    same = w.shape(n) == tuple(getattr(x, "shape", ()))
    return w.view(n, x, fn.grad_fn, same=same)


@register("reshape", P("input", Param("shape", "shape")), torch="torch.reshape", grad_fn="ViewBackward0",
          record=_record_reshape, varshape=True, on_bool="keep",
          ref=lambda ctx, input, shape: ctx.torch.reshape(input, sizes(shape)),
          reason="a reshape moves no number: its adjoint is reshaped back")
def _reshape(input, shape):
    return ReshapeOp(input, Tuple(*reshape_target(shape_of(input), shape)))


def _record_flatten(w, n, fn, vals, nodes):
    """flatten returns its input itself when it has nothing to merge."""
    x = vals["input"]
    r = len(getattr(x, "shape", ()))
    if r >= 1 and (vals["start_dim"] % r) == (vals["end_dim"] % r):
        return x
    return w.view(n, x, fn.grad_fn, same=False)


@register("flatten", P("input", Param("start_dim", "dim", 0), Param("end_dim", "dim", -1)), torch="torch.flatten",
          grad_fn="ViewBackward0", record=_record_flatten, on_bool="keep",
          reason="a reshape moves no number: its adjoint is reshaped back")
def _flatten(input, start_dim, end_dim):
    s = shape_of(input)
    if len(s) == 0:
        return ReshapeOp(input, Tuple(S.One))
    a, b = norm_dim(start_dim, len(s)), norm_dim(end_dim, len(s))
    if a > b:
        raise ShapeError("flatten: start_dim %d comes after end_dim %d" % (start_dim, end_dim))
    n = S.One
    for d in s[a:b + 1]:
        n *= d
    return ReshapeOp(input, Tuple(*(s[:a] + (n,) + s[b + 1:])))


class UnsqueezeOp(TensorOp):
    spec_name = "unsqueeze"

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        s.insert(int(self.args[1]), S.One)
        return tuple(s)

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        return SqueezeOp(full_rank(g, self.out_shape()), Tuple(self.args[1]))

    def batch(self, args, lifted, bshape):
        a = args[0]
        return UnsqueezeOp(a, Integer(rank(a) - rank(self.args[0]) + int(self.args[1])))

    def text_kwargs(self, p):
        return [str(self.args[1])]

    def latex(self, p):
        return p._print(self.args[0])

    def index(self, p, idx):
        idx = list(idx)
        del idx[int(self.args[1])]
        return p.index_of(self.args[0], idx)


@register("unsqueeze", P("input", Param("dim", "dim")), torch="torch.unsqueeze", grad_fn="UnsqueezeBackward0",
          on_bool="keep", reason="unsqueeze adds a dim of size 1: its adjoint is squeezed back")
def _unsqueeze(input, dim):
    return UnsqueezeOp(input, Integer(norm_dim(dim, rank(input) + 1)))


class SqueezeOp(TensorOp):
    """squeeze over the given dims (all of size 1)."""
    spec_name = "squeeze"

    @classmethod
    def eval(cls, x, dims):
        if len(dims) == 0:
            return x
        if isinstance(x, UnsqueezeOp) and tuple(dims) == (x.args[1],):
            return x.args[0]

    def out_shape(self):
        s = shape_of(self.args[0])
        drop = {int(d) for d in self.args[1]}
        return tuple(d for k, d in enumerate(s) if k not in drop)

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        g = full_rank(g, self.out_shape())
        for d in sorted(int(d) for d in self.args[1]):
            g = UnsqueezeOp(g, Integer(d))
        return g

    def batch(self, args, lifted, bshape):
        a = args[0]
        off = rank(a) - rank(self.args[0])
        return SqueezeOp(a, Tuple(*[Integer(off + int(d)) for d in self.args[1]]))

    def text_kwargs(self, p):
        dims = [str(d) for d in self.args[1]]
        return [dims[0]] if len(dims) == 1 else ["(%s)" % ", ".join(dims)]

    def latex(self, p):
        return p._print(self.args[0])

    def index(self, p, idx):
        idx = list(idx)
        for d in sorted(int(d) for d in self.args[1]):
            idx.insert(d, "1")
        return p.index_of(self.args[0], idx)


def _record_squeeze(w, n, fn, vals, nodes):
    d, x = vals["dim"], vals["input"]
    gf = "SqueezeBackward0" if d is None else ("SqueezeBackward2" if isinstance(d, tuple) else "SqueezeBackward1")
    return w.record(n, gf, [x], contiguous=getattr(x, "contiguous", True))


@register("squeeze", P("input", Param("dim", "dims", None)), torch="torch.squeeze", grad_fn="SqueezeBackward0",
          record=_record_squeeze, on_bool="keep",
          ref=lambda ctx, input, dim: ctx.torch.squeeze(input) if dim is None else ctx.torch.squeeze(input, dim),
          reason="squeeze drops dims of size 1: its adjoint gets them back")
def _squeeze(input, dim):
    s = shape_of(input)
    dims = dims_of(input, dim) if s else ()
    return SqueezeOp(input, Tuple(*[Integer(d) for d in dims if s[d] == 1]))


def unsqueeze_dims(g, dims):
    """Re-insert reduced dims (ascending) into an adjoint; a scalar g stays scalar."""
    if shape_of(g) == ():
        return g
    for d in sorted(dims):
        g = UnsqueezeOp(g, Integer(d))
    return g


def ones(shape):
    return OnesOp(Tuple(*shape))


def materialize(g, shape):
    """``g`` as an expression of exactly ``shape`` (a scalar g becomes g*ones(shape))."""
    shape = tuple(shape)
    if shape_of(g) == shape:
        return g
    if shape == ():
        raise ValueError("cannot materialize %s to a scalar" % g)
    return g * ones(shape)


def full_rank(g, shape):
    """An adjoint that broadcasts to ``shape``, with leading size-1 dims put back so that
    dim indices of ``shape`` address it (a scalar stays a scalar)."""
    r = len(shape_of(g))
    if r == 0:
        return g
    for _ in range(len(shape) - r):
        g = UnsqueezeOp(g, Integer(0))
    return g


def T(x):
    """Transpose of the last two dims."""
    r = len(shape_of(x))
    if r < 2:
        return x
    return TransposeOp(x, Integer(r - 2), Integer(r - 1))


class TransposeOp(TensorOp):
    spec_name = "transpose"

    @classmethod
    def eval(cls, x, d0, d1):
        if d0 == d1:
            return x
        if d0 > d1:
            return cls(x, d1, d0)
        if isinstance(x, TransposeOp) and (x.args[1], x.args[2]) == (d0, d1):
            return x.args[0]
        c, r = split_scalar(x)
        if c != 1 and r != 1:
            return c * cls(r, d0, d1)
        rank = len(shape_of(x))
        last2 = (int(d0), int(d1)) == (rank - 2, rank - 1)
        if isinstance(x, EyeOp):
            return x
        if isinstance(x, OnesOp):
            s = list(shape_of(x))
            s[int(d0)], s[int(d1)] = s[int(d1)], s[int(d0)]
            return OnesOp(Tuple(*s))
        if rank == 2 and isinstance(x, UnsqueezeOp) and int(x.args[1]) == 1:
            return UnsqueezeOp(x.args[0], Integer(0))
        if last2 and hasattr(x, "_eval_transpose_last2"):
            return x._eval_transpose_last2()
        if last2 and isinstance(x, Add):
            return Add(*[cls(t, d0, d1) if len(shape_of(t)) == rank else t for t in x.args]) \
                if all(len(shape_of(t)) in (0, rank) for t in x.args) else None

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        d0, d1 = int(self.args[1]), int(self.args[2])
        s[d0], s[d1] = s[d1], s[d0]
        return tuple(s)

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        return TransposeOp(full_rank(g, self.out_shape()), self.args[1], self.args[2])

    def batch(self, args, lifted, bshape):
        a = args[0]
        off = rank(a) - rank(self.args[0])
        return TransposeOp(a, Integer(off + int(self.args[1])), Integer(off + int(self.args[2])))

    def is_T(self):
        return len(shape_of(self.args[0])) == 2

    @property
    def precedence(self):
        return PRECEDENCE["Atom"] if self.is_T() else PRECEDENCE["Func"]

    def text(self, p):
        if self.is_T():
            return "%s.T" % p.parenthesize(self.args[0], PRECEDENCE["Func"], strict=True)
        return "transpose(%s, %s, %s)" % (p._print(self.args[0]), self.args[1], self.args[2])

    def torch(self, p):
        return "%s.transpose(%s, %s)" % (p.parenthesize(self.args[0], PRECEDENCE["Atom"], strict=True),
                                         self.args[1], self.args[2])

    def latex(self, p):
        if self.is_T():
            x = self.args[0]
            if getattr(x, "latex_transposed", None):
                return x.latex_transposed(p)
            return r"%s^{\top}" % p.superscriptable(x)
        return r"\operatorname{transpose}_{%s,%s}\left(%s\right)" % (
            self.args[1], self.args[2], p._print(self.args[0]))

    def index(self, p, idx):
        idx = list(idx)
        d0, d1 = int(self.args[1]), int(self.args[2])
        idx[d0], idx[d1] = idx[d1], idx[d0]
        return p.index_of(self.args[0], idx)


def _record_transpose(w, n, fn, vals, nodes):
    """transpose and t record one node; the result is non-contiguous when two dims > 1 swap."""
    x = vals["input"]
    shape = x.shape if w.is_tensor(x) else ()
    if fn.name == "transpose" and len(shape) >= 2:
        d0, d1 = vals["dim0"] % len(shape), vals["dim1"] % len(shape)
        nc = d0 != d1 and shape[d0] != 1 and shape[d1] != 1
    else:
        nc = len(shape) == 2 and all(d != 1 for d in shape)
    return w.record(n, fn.grad_fn, [x], contiguous=getattr(x, "contiguous", True) and not nc)


@register("transpose", P("input", Param("dim0", "dim"), Param("dim1", "dim")), torch="torch.transpose",
          grad_fn="TransposeBackward0", record=_record_transpose, on_bool="keep",
          reason="a transpose moves entries: its adjoint is transposed back")
def _transpose(input, dim0, dim1):
    r = rank(input)
    if r == 0:
        return input
    return TransposeOp(input, Integer(norm_dim(dim0, r)), Integer(norm_dim(dim1, r)))


@register("t", P("input"), torch="torch.t", grad_fn="TBackward0", record=_record_transpose, on_bool="keep",
          reason="a transpose moves entries: its adjoint is transposed back")
def _t(input):
    if rank(input) > 2:
        raise ShapeError("t() expects a tensor with <= 2 dimensions, got %d" % rank(input))
    return T(input)
