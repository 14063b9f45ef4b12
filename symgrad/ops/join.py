"""Joining and splitting along a dim: ``cat``/``concat``, ``stack``, ``split``, ``chunk``, ``narrow``.

``cat`` puts tensors side by side: each receives its own stretch of the adjoint (a slice).
``stack`` puts them along a new dim: each receives its own index of it (a select).
``split`` and ``chunk`` give a tuple of slices -- usable only subscripted,
``chunk(gates, 4, 1)[2]`` -- and ``narrow`` one slice; their adjoint is the adjoint put back
in zeros (``slice_scatter``), and a sum of such pieces that tile the dim reads as a ``cat``
again (`cat_of_pieces`, used by the simplifier).

PyTorch records one ``CatBackward0`` / ``StackBackward0``, one ``SplitBackward0`` (or
``SplitWithSizesBackward0``) per piece, and a ``SliceBackward0`` for narrow; none saves a
tensor.
"""
from functools import cmp_to_key

from sympy import Add, Integer, S, Tuple

from ..errors import ShapeError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp, norm_dim, split_scalar
from .index import SelectOp, SliceOp, dim_of
from .layout import view_result, strides_of
from .pickbatch import full_batch
from .registry import register, P, Param
from .scatter import SliceScatterOp
from .shape import ZerosOp, materialize


def narrow_of(x, d, start, length):
    """x narrowed along d (x itself when the slice is the whole dim)."""
    size = shape_of(x)[d]
    if start == 0 and length == size:
        return x
    return SliceOp(x, Integer(d), start, start + length, S.One)


class CatOp(TensorOp):
    """cat((a, b, ...), dim)."""
    spec_name = "cat"
    dtype_rule = "promote"

    @property
    def tensors(self):
        return self.args[:-1]

    @property
    def attrs(self):
        return self.args[-1:]

    @property
    def dim(self):
        return int(self.args[-1])

    @classmethod
    def eval(cls, *args):
        if len(args) == 2:
            return args[0]

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        s[self.dim] = sum((shape_of(t)[self.dim] for t in self.tensors), S.Zero)
        return tuple(s)

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g                          # a constant adjoint: each piece gets the constant
        g = materialize(g, self.out_shape())
        d = self.dim
        start = sum((shape_of(t)[d] for t in self.tensors[:i]), S.Zero)
        return narrow_of(g, d, start, shape_of(self.tensors[i])[d])

    def batch(self, args, lifted, bshape):
        """Every piece a full batch (cat broadcasts none): joined at the dim past the batch dims."""
        pieces, bb = full_batch(args, lifted, [shape_of(t) for t in self.tensors])
        return type(self)(*pieces, Integer(len(bb) + self.dim))

    def text(self, p):
        items = [p._print(t) for t in self.tensors]
        return "cat((%s), dim=%d)" % (", ".join(items) + ("," if len(items) == 1 else ""), self.dim)

    def torch(self, p):
        return "torch.cat((%s), %d)" % (", ".join(p._print(t) for t in self.tensors), self.dim)

    def latex(self, p):
        return r"\operatorname{cat}_{%d}\left(%s\right)" % (self.dim, ", ".join(p._print(t) for t in self.tensors))


def _same_but(shapes, d, what):
    r = len(shapes[0])
    for s in shapes:
        if len(s) != r:
            raise ShapeError("%s: tensors must have the same number of dimensions, got %s"
                             % (what, " and ".join(fmt_shape(t) for t in shapes)))
        if any(a != b for k, (a, b) in enumerate(zip(s, shapes[0])) if k != d):
            raise ShapeError("%s: sizes must match except in dimension %d, got %s"
                             % (what, d, " and ".join(fmt_shape(t) for t in shapes)))


@register("cat", P(Param("tensors", "tensors"), Param("dim", "dim", 0)), aliases=("concat",), torch="torch.cat",
          grad_fn="CatBackward0", on_bool="keep",
          reason="cat puts tensors side by side: each receives its own stretch of the adjoint")
def _cat(tensors, dim):
    shapes = [shape_of(t) for t in tensors]
    if not shapes[0]:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated")
    d = norm_dim(dim, len(shapes[0]))
    _same_but(shapes, d, "cat")
    return CatOp(*tensors, Integer(d))


class StackOp(TensorOp):
    """stack((a, b, ...), dim): a new dim of size len(tensors)."""
    spec_name = "stack"
    dtype_rule = "promote"

    tensors = CatOp.tensors
    attrs = CatOp.attrs
    dim = CatOp.dim

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        s.insert(self.dim, Integer(len(self.tensors)))
        return tuple(s)

    def vjp(self, i, g):
        if shape_of(g) == ():
            return g
        return SelectOp(materialize(g, self.out_shape()), Integer(self.dim), Integer(i))

    batch = CatOp.batch

    def text(self, p):
        items = [p._print(t) for t in self.tensors]
        return "stack((%s), dim=%d)" % (", ".join(items) + ("," if len(items) == 1 else ""), self.dim)

    def torch(self, p):
        return "torch.stack((%s), %d)" % (", ".join(p._print(t) for t in self.tensors), self.dim)

    def latex(self, p):
        return r"\operatorname{stack}_{%d}\left(%s\right)" % (self.dim, ", ".join(p._print(t) for t in self.tensors))

    def index(self, p, idx):
        d = self.dim
        rest = list(idx[:d]) + list(idx[d + 1:])
        terms = [r"[%s = %d]\, %s" % (idx[d], k, p.index_of(t, rest, "Mul")) for k, t in enumerate(self.tensors)]
        return " + ".join(terms)


@register("stack", P(Param("tensors", "tensors"), Param("dim", "dim", 0)), torch="torch.stack",
          grad_fn="StackBackward0", on_bool="keep",
          reason="stack puts tensors along a new dim: each receives its own index of the adjoint")
def _stack(tensors, dim):
    shapes = [shape_of(t) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError("stack: expects each tensor to be equal size, got %s" % " and ".join(map(fmt_shape, shapes)))
    d = norm_dim(dim, len(shapes[0]) + 1)
    return StackOp(*tensors, Integer(d))


# --- split, chunk, narrow: pieces (views) ---------------------------------------------------------
def _pieces(x, d, sizes):
    out, start = [], S.Zero
    for n in sizes:
        out.append(narrow_of(x, d, start, n))
        start = start + n
    return tuple(out)


def _record_pieces(w, n, fn, vals, nodes):
    """Each piece of split/chunk has its own node (all pointing to the input)."""
    x = vals["input"] if "input" in vals else vals["tensor"]
    if not w.is_tensor(x):
        return x
    node = "SplitWithSizesBackward0" if isinstance(vals.get("split_size_or_sections"), tuple) else "SplitBackward0"
    pieces = w.built(n)
    out = []
    for piece in pieces if isinstance(pieces, tuple) else ():
        shape = shape_of(piece)
        out.append(view_result(w, n, (node,), x, shape, strides_of(x)))
    return tuple(out)


def _sizes_of(size, piece):
    """Pieces of ``piece`` along a dim of ``size`` (the last one smaller)."""
    if not size.is_Integer:
        q = size / piece
        if q.is_Integer:
            return [piece] * int(q)
        raise ShapeError("the size %s of the dim is symbolic: give it a value in 'shape' to split it" % size)
    n, out = int(size), []
    while n > 0:
        out.append(Integer(min(piece, n)))
        n -= min(piece, n)
    return out


@register("split", P(Param("tensor", "tensor"), Param("split_size_or_sections", "dims"), Param("dim", "dim", 0)),
          torch="torch.split", grad_fn="SplitBackward0", record=_record_pieces, on_bool="keep",
          reason="split gives slices (views): each piece's adjoint goes back to its own stretch of the input")
def _split(tensor, split_size_or_sections, dim):
    s = shape_of(tensor)
    d = dim_of(tensor, dim, "split")
    sec = split_size_or_sections
    if isinstance(sec, tuple):
        total = sum((Integer(k) for k in sec), S.Zero)
        if any(k <= 0 for k in sec) or (total - s[d]) != 0:
            raise ShapeError("split: split_sizes %s must be positive and sum exactly to %s (the size of dim %d)"
                             % (list(sec), s[d], d))
        return _pieces(tensor, d, [Integer(k) for k in sec])
    if sec <= 0:
        raise ShapeError("split: split_size must be positive, got %d" % sec)
    return _pieces(tensor, d, _sizes_of(s[d], Integer(sec)))


@register("chunk", P("input", Param("chunks", "dim"), Param("dim", "dim", 0)), torch="torch.chunk",
          grad_fn="SplitBackward0", record=_record_pieces, on_bool="keep",
          reason="chunk gives slices (views): each piece's adjoint goes back to its own stretch of the input")
def _chunk(input, chunks, dim):
    s = shape_of(input)
    if chunks <= 0:
        raise ShapeError("chunk: chunks must be positive, got %d" % chunks)
    d = dim_of(input, dim, "chunk")
    size = s[d]
    if size.is_Integer:
        piece = Integer(-(-int(size) // chunks))
    else:
        piece = size / chunks
        if not piece.is_integer and not (piece.is_Mul and piece.as_coeff_Mul()[0].is_Integer):
            raise ShapeError("chunk: the size %s of dim %d is not a multiple of %d" % (size, d, chunks))
    return _pieces(input, d, _sizes_of(size, piece))


def _record_narrow(w, n, fn, vals, nodes):
    x = vals["input"]
    if not w.is_tensor(x):
        return x
    shape = w.shape(n)
    return view_result(w, n, ("SliceBackward0",), x, shape, strides_of(x))


@register("narrow", P("input", Param("dim", "dim"), Param("start", "int"), Param("length", "int")),
          torch="torch.narrow", grad_fn="SliceBackward0", record=_record_narrow, on_bool="keep",
          reason="narrow is a slice (a view): its adjoint goes back to the same stretch, zeros elsewhere")
def _narrow(input, dim, start, length):
    s = shape_of(input)
    if not s:
        raise ShapeError("narrow: cannot narrow a 0-dim tensor")
    d = dim_of(input, dim, "narrow")
    if start.is_Integer and start < 0:
        start = s[d] + start
    if length.is_Integer and length <= 0:
        raise ShapeError("narrow: length must be positive, got %s" % length)
    end = start + length
    if (end - s[d]).is_positive or (start.is_Integer and start < 0):
        raise ShapeError("narrow: start (%s) + length (%s) exceeds the dimension size (%s)" % (start, length, s[d]))
    return narrow_of(input, d, start, length)


# --- the simplifier's rule: pieces that tile a dim are a cat ---------------------------------
def _order(a, b):
    """-1, 0 or 1 as start a comes before b (symbolic: when the difference's sign is known)."""
    d = a - b
    return -1 if d.is_negative else 1 if d.is_positive else 0 if d == 0 else (-1 if str(a) < str(b) else 1)


def without_zeros(e):
    """A sum with ``zeros(shape)`` terms the other terms already cover: the zeros dropped."""
    if not isinstance(e, Add):
        return e
    keep = [t for t in e.args if not isinstance(split_scalar(t)[1], ZerosOp)]
    if len(keep) == len(e.args) or not keep:
        return e
    out = Add(*keep)
    return out if shape_of(out) == shape_of(e) else e


def cat_of_pieces(e):
    """A sum of ``slice_scatter(zeros, piece, d, a, b)`` whose stretches do not overlap is the
    ``cat`` of the pieces (zeros between them): ``cat((grad_i, grad_f, grad_g, grad_o), dim=1)``
    for an LSTM's chunked gates.  None when ``e`` is not such a sum."""
    if not isinstance(e, Add):
        return None
    parts, rest = [], []
    for t in e.args:
        c, m = split_scalar(t)
        if isinstance(m, SliceScatterOp) and isinstance(m.args[0], ZerosOp) and m.args[5] == 1:
            parts.append((c, m))
        else:
            rest.append(t)
    if len(parts) < 2:
        return None
    d, shape = parts[0][1].args[2], shape_of(parts[0][1])
    if any(m.args[2] != d or shape_of(m) != shape for _, m in parts):
        return None
    parts.sort(key=cmp_to_key(lambda a, b: _order(a[1].args[3], b[1].args[3])))
    pieces, at, k = [], S.Zero, int(d)
    for c, m in parts:
        start, stop = m.args[3], m.args[4]
        gap = start - at
        if gap.is_negative or not (gap.is_zero or gap.is_positive):
            return None
        if gap != 0:
            pieces.append(ZerosOp(Tuple(*[gap if j == k else s for j, s in enumerate(shape)])))
        pieces.append(c * m.args[1])
        at = stop
    tail = shape[k] - at
    if tail.is_negative:
        return None
    if tail != 0:
        pieces.append(ZerosOp(Tuple(*[tail if j == k else s for j, s in enumerate(shape)])))
    return Add(CatOp(*pieces, d), *rest)
