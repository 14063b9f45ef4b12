"""Diagonals and triangles: ``diag``, ``diagonal``, ``diagonal_scatter``, ``triu``, ``tril``.

``diagonal(x, offset, dim1, dim2)`` is a view of the entries x[.., i, i + offset]; its adjoint
puts the adjoint back on that diagonal of zeros (``diagonal_scatter``).  ``diag(v)`` of a
vector builds the matrix with v on a diagonal (its adjoint reads that diagonal back), and
``diag(X)`` of a matrix is ``diagonal(X)``.  ``triu``/``tril`` keep a triangle: the adjoint
keeps the same triangle.
"""
from sympy import Add, Integer, Min, Tuple

from ..errors import ShapeError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp, norm_dim, rank
from .batching import full_along, pdim
from .constants import EyeOp
from .move import lifted_rank
from .layout import view_result, strides_of
from .registry import register, P, Param
from .shape import ZerosOp, UnsqueezeOp, materialize


def diagonal_length(a, b, k):
    """Entries on diagonal k of an a x b matrix (PyTorch: none when k is past the edge)."""
    n = Min(a, b - k) if k >= 0 else Min(a + k, b)
    if n.is_Integer:
        return Integer(max(int(n), 0))
    if not isinstance(n, Min):
        return n
    raise ShapeError("the diagonal of a %s x %s matrix has a length symgrad cannot tell: give the dims "
                     "values in 'shape'" % (a, b))


class DiagonalOp(TensorOp):
    """diagonal(x, offset, dim1, dim2): the diagonal becomes the last dim (a view)."""
    spec_name = "diagonal"
    dtype_rule = "same"

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        k, d1, d2 = (int(a) for a in self.args[1:])
        n = diagonal_length(s[d1], s[d2], k)
        return tuple(v for j, v in enumerate(s) if j not in (d1, d2)) + (n,)

    def vjp(self, i, g):
        zeros = ZerosOp(Tuple(*shape_of(self.args[0])))
        return DiagonalScatterOp(zeros, materialize(g, self.out_shape()), *self.args[1:])

    def batch(self, args, lifted, bshape):
        """The same diagonal of each member: the batch dims stay in front (made full along
        the two dims of the diagonal, which a broadcast member would not have)."""
        shape = shape_of(self.args[0])
        r, (d1, d2) = len(shape), (int(a) for a in self.args[2:])
        a = full_along(lifted_rank(args[0], r), shape, [d1, d2])
        return DiagonalOp(a, self.args[1], Integer(pdim(a, r, d1)), Integer(pdim(a, r, d2)))

    def text_kwargs(self, p):
        k, d1, d2 = (int(a) for a in self.args[1:])
        if (d1, d2) == (0, 1):
            return [] if k == 0 else [str(k)]
        return [str(k), str(d1), str(d2)]

    def latex(self, p):
        return r"\operatorname{diag}\left(%s\right)" % p._print(self.args[0]) if self.text_kwargs(p) == [] \
            else r"\operatorname{diagonal}_{%s}\left(%s\right)" % (",".join(self.text_kwargs(p)), p._print(self.args[0]))

    def index(self, p, idx):
        k, d1, d2 = (int(a) for a in self.args[1:])
        r = len(shape_of(self.args[0]))
        rest, t = list(idx[:-1]), idx[-1]
        at, it = [], iter(rest)
        for j in range(r):
            if j == d1:
                at.append(t if k >= 0 else "(%s+%d)" % (t, -k))
            elif j == d2:
                at.append(t if k <= 0 else "(%s+%d)" % (t, k))
            else:
                at.append(next(it))
        return p.index_of(self.args[0], at)


def _norm_diagonal(x, offset, dim1, dim2, what):
    s = shape_of(x)
    if len(s) < 2:
        raise ShapeError("%s: needs at least 2 dimensions, got %s" % (what, fmt_shape(s)))
    d1, d2 = norm_dim(dim1, len(s)), norm_dim(dim2, len(s))
    if d1 == d2:
        raise ShapeError("%s: dim1 and dim2 cannot be the same dim (%d)" % (what, d1))
    if diagonal_length(s[d1], s[d2], offset) == 0:
        raise ShapeError("%s: diagonal %d of a %s x %s matrix is empty" % (what, offset, s[d1], s[d2]))
    return Integer(offset), Integer(d1), Integer(d2)


def _record_diagonal(w, n, fn, vals, nodes):
    x = vals["input"]
    if not w.is_tensor(x):
        return x
    r = len(x.shape)
    d1, d2 = vals["dim1"] % r, vals["dim2"] % r
    st = strides_of(x)
    strides = None if st is None else tuple(v for j, v in enumerate(st) if j not in (d1, d2)) + (st[d1] + st[d2],)
    return view_result(w, n, ("DiagonalBackward0",), x, w.shape(n), strides)


@register("diagonal", P("input", Param("offset", "dim", 0), Param("dim1", "dim", 0), Param("dim2", "dim", 1)),
          torch="torch.diagonal", grad_fn="DiagonalBackward0", record=_record_diagonal, on_bool="keep",
          reason="a diagonal picks entries (a view): its adjoint goes back on the same diagonal of zeros")
def _diagonal(input, offset, dim1, dim2):
    return DiagonalOp(input, *_norm_diagonal(input, offset, dim1, dim2, "diagonal"))


class DiagonalScatterOp(TensorOp):
    """diagonal_scatter(input, src, offset, dim1, dim2): src written on a diagonal of input."""
    spec_name = "diagonal_scatter"
    n_tensors = 2

    @classmethod
    def eval(cls, x, src, *attrs):
        if isinstance(x, ZerosOp) and isinstance(src, ZerosOp):
            return x

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        if i == 0:
            return DiagonalScatterOp(g, ZerosOp(Tuple(*shape_of(self.args[1]))), *self.args[2:])
        return DiagonalOp(g, *self.args[2:])

    def batch(self, args, lifted, bshape):
        """``diagonal_scatter(x, s)`` is ``diagonal_scatter(x, 0) + diagonal_scatter(0, s)``:
        each part batched on its own (an unlifted part is the same for every member)."""
        x, src = self.args[:2]
        k, d1, d2 = self.args[2], int(self.args[3]), int(self.args[4])
        shape, r = shape_of(x), rank(x)
        terms = []
        if lifted[0]:
            a = full_along(lifted_rank(args[0], r), shape, [d1, d2])
            p1, p2 = Integer(pdim(a, r, d1)), Integer(pdim(a, r, d2))
            zeros = ZerosOp(Tuple(*DiagonalOp(a, k, p1, p2).out_shape()))
            terms.append(DiagonalScatterOp(a, zeros, k, p1, p2))
        elif not isinstance(x, ZerosOp):
            terms.append(DiagonalScatterOp(x, ZerosOp(Tuple(*shape_of(src))), *self.args[2:]))
        if lifted[1]:
            b = full_along(lifted_rank(args[1], r - 1), shape_of(src), [r - 2])
            nb = rank(b) - (r - 1)
            bs = shape_of(b)
            others = iter(bs[nb:nb + r - 2])
            zs = bs[:nb] + tuple(shape[j] if j in (d1, d2) else next(others) for j in range(r))
            terms.append(DiagonalScatterOp(ZerosOp(Tuple(*zs)), b, k, Integer(nb + d1), Integer(nb + d2)))
        elif not isinstance(src, ZerosOp):
            terms.append(DiagonalScatterOp(ZerosOp(Tuple(*shape)), src, *self.args[2:]))
        return Add(*terms)

    def text_kwargs(self, p):
        return [str(a) for a in self.args[2:]]

    def latex(self, p):
        return r"\operatorname{diagonal\_scatter}_{%s}\left(%s, %s\right)" % (
            ",".join(self.text_kwargs(p)), p._print(self.args[0]), p._print(self.args[1]))


@register("diagonal_scatter", P("input", "src", Param("offset", "dim", 0), Param("dim1", "dim", 0),
                                Param("dim2", "dim", 1)),
          torch="torch.diagonal_scatter", grad_fn="DiagonalScatterBackward0",
          reason="diagonal_scatter writes src on a diagonal: src receives the adjoint's diagonal, "
                 "input the rest")
def _diagonal_scatter(input, src, offset, dim1, dim2):
    attrs = _norm_diagonal(input, offset, dim1, dim2, "diagonal_scatter")
    want = DiagonalOp(input, *attrs).out_shape()
    if shape_of(src) != want:
        raise ShapeError("src must have shape %s, got %s" % (fmt_shape(want), fmt_shape(shape_of(src))))
    return DiagonalScatterOp(input, src, *attrs)


class DiagOp(TensorOp):
    """diag(v, k): the square matrix with the vector v on its diagonal k."""
    spec_name = "diag"
    dtype_rule = "same"

    def out_shape(self):
        n = shape_of(self.args[0])[0] + abs(int(self.args[1]))
        return (n, n)

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        return DiagonalOp(materialize(g, self.out_shape()), self.args[1], Integer(0), Integer(1))

    def batch(self, args, lifted, bshape):
        """Each member's vector on the diagonal of a matrix: ``v[..., :, None] * eye(n)`` on
        the main diagonal, a scatter onto zeros of the batch's shape off it."""
        n, k = shape_of(self.args[0])[0], int(self.args[1])
        a = full_along(lifted_rank(args[0], 1), (n,), [0])
        r = rank(a)
        if r == 1:
            return DiagOp(a, self.args[1])
        if k == 0:
            return UnsqueezeOp(a, Integer(r)) * EyeOp(n)
        N = self.out_shape()[0]
        zeros = ZerosOp(Tuple(*(shape_of(a)[:-1] + (N, N))))
        return DiagonalScatterOp(zeros, a, self.args[1], Integer(r - 1), Integer(r))

    def text_kwargs(self, p):
        return [] if self.args[1] == 0 else [str(self.args[1])]

    def latex(self, p):
        return r"\operatorname{diag}%s\left(%s\right)" % (
            "" if self.args[1] == 0 else "_{%s}" % self.args[1], p._print(self.args[0]))

    def index(self, p, idx):
        i, j = idx
        k = int(self.args[1])
        at = i if k >= 0 else j
        other = "(%s+%d)" % (at, abs(k)) if k else at
        return r"\delta_{%s %s} %s" % (other, j if k >= 0 else i, p.index_of(self.args[0], [at], "Mul"))


def _record_diag(w, n, fn, vals, nodes):
    x = vals["input"]
    name = "DiagEmbedBackward0" if w.is_tensor(x) and len(x.shape) == 1 else "DiagonalBackward0_copy"
    return w.record(n, name, [x])


@register("diag", P("input", Param("diagonal", "dim", 0)), torch="torch.diag", grad_fn="DiagEmbedBackward0",
          record=_record_diag, on_bool="keep",
          reason="diag of a vector puts it on a diagonal (its adjoint reads that diagonal back); "
                 "of a matrix it is the diagonal")
def _diag(input, diagonal):
    r = len(shape_of(input))
    if r == 1:
        return DiagOp(input, Integer(diagonal))
    if r == 2:
        return DiagonalOp(input, *_norm_diagonal(input, diagonal, 0, 1, "diag"))
    raise ShapeError("diag: supports 1-D or 2-D tensors, got %d-D" % r)


class TriangleOp(TensorOp):
    """triu / tril: one triangle of the last two dims, the rest zero."""
    dtype_rule = "same"

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        return type(self)(materialize(g, self.out_shape()), self.args[1])

    def batch(self, args, lifted, bshape):
        """The same triangle of each member (the last two dims, made full)."""
        shape = shape_of(self.args[0])
        r = len(shape)
        return type(self)(full_along(lifted_rank(args[0], r), shape, [r - 2, r - 1]), self.args[1])

    def text_kwargs(self, p):
        return [] if self.args[1] == 0 else [str(self.args[1])]

    def latex(self, p):
        return r"\operatorname{%s}%s\left(%s\right)" % (self.spec_name, "" if self.args[1] == 0 else
                                                         "_{%s}" % self.args[1], p._print(self.args[0]))

    def index(self, p, idx):
        i, j = idx[-2], idx[-1]
        k = int(self.args[1])
        rel = r"\geq" if self.spec_name == "triu" else r"\leq"
        return r"\left[%s - %s %s %d\right] %s" % (j, i, rel, k, p.index_of(self.args[0], idx, "Mul"))


class TriuOp(TriangleOp):
    spec_name = "triu"


class TrilOp(TriangleOp):
    spec_name = "tril"


def _triangle(cls, name):
    def build(input, diagonal):
        if len(shape_of(input)) < 2:
            raise ShapeError("%s: needs at least 2 dimensions, got %s" % (name, fmt_shape(shape_of(input))))
        return cls(input, Integer(diagonal))
    return build


register("triu", P("input", Param("diagonal", "dim", 0)), _triangle(TriuOp, "triu"), torch="torch.triu",
         grad_fn="TriuBackward0", on_bool="keep",
         reason="triu keeps the upper triangle: its adjoint keeps the same triangle")
register("tril", P("input", Param("diagonal", "dim", 0)), _triangle(TrilOp, "tril"), torch="torch.tril",
         grad_fn="TrilBackward0", on_bool="keep",
         reason="tril keeps the lower triangle: its adjoint keeps the same triangle")
