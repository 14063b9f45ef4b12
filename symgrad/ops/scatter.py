"""Scatters: the ops that put values into a tensor at given places -- ``select_scatter``,
``slice_scatter``, ``index_add``, ``scatter_add``, ``index_put``.

They are the adjoints of picking entries (a subscript, ``narrow``, ``index_select``,
``gather``, ``W[y]``): the adjoint goes back into zeros at the places it came from, and
where an index repeats, the contributions add up (``index_add``, ``scatter_add``,
``index_put(..., accumulate=True)``), exactly as PyTorch accumulates them.  They are
functions of the spec language in their own right, so a closed form that uses them parses
back and runs in PyTorch; their own adjoints pick again (second order).
"""
from sympy import Integer, S, Tuple

from ..errors import ShapeError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp, flag
from .index import SelectOp, SliceOp, IndexOp, slice_bounds, slice_items, dim_of
from .kinds import value_dtype
from .pickbatch import full_batch, expand_index, batch_indices
from .registry import register, P, Param, build
from .shape import ZerosOp, materialize


def _zeros_like_shape(x):
    return ZerosOp(Tuple(*shape_of(x)))


class Scatter(TensorOp):
    """input with src written at some places: the first tensor is the input."""
    n_tensors = 2

    def out_shape(self):
        return shape_of(self.args[0])

    @classmethod
    def eval(cls, *args):
        if isinstance(args[0], ZerosOp) and isinstance(args[1], ZerosOp):
            return args[0]

    def batch(self, args, lifted, bshape):
        """input and src as full batches; the op at its dim past the batch dims."""
        (a, b), bb = full_batch(args, lifted, [shape_of(t) for t in self.tensors])
        return type(self)(a, b, Integer(len(bb) + int(self.args[2])), *self.args[3:])


class SelectScatterOp(Scatter):
    spec_name = "select_scatter"

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        d, k = self.args[2:]
        if i == 0:
            return SelectScatterOp(g, _zeros_like_shape(self.args[1]), d, k)
        return SelectOp(g, d, k)

    def text_kwargs(self, p):
        return [p._print(a) for a in self.args[2:]]

    def latex(self, p):
        d, k = int(self.args[2]), self.args[3]
        return r"%s\left[%s\right] \leftarrow %s" % (
            p._print(self.args[0]), ",".join([":"] * d + [p._print(k)]), p._print(self.args[1]))


@register("select_scatter", P("input", "src", Param("dim", "dim"), Param("index", "int")),
          torch="torch.select_scatter", grad_fn="SelectScatterBackward0",
          reason="select_scatter writes src at one index: src receives the adjoint there, input everywhere else")
def _select_scatter(input, src, dim, index):
    s = shape_of(input)
    d = dim_of(input, dim, "select_scatter")
    k = s[d] + index if index.is_Integer and index < 0 else index
    if k.is_Integer and s[d].is_Integer and not 0 <= k < s[d]:
        raise ShapeError("index %s is out of bounds for dimension %d with size %s" % (index, d, s[d]))
    want = s[:d] + s[d + 1:]
    if shape_of(src) != want:
        raise ShapeError("src must have shape %s, got %s" % (fmt_shape(want), fmt_shape(shape_of(src))))
    return SelectScatterOp(input, src, Integer(d), k)


class SliceScatterOp(Scatter):
    spec_name = "slice_scatter"

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        if i == 0:
            return SliceScatterOp(g, _zeros_like_shape(self.args[1]), *self.args[2:])
        return SliceOp(g, *self.args[2:])

    def text_kwargs(self, p):
        out = [p._print(a) for a in self.args[2:5]]
        return out + ([p._print(self.args[5])] if self.args[5] != 1 else [])

    def latex(self, p):
        items = slice_items(shape_of(self.args[0]), *self.args[2:])[:int(self.args[2]) + 1]
        items = ",".join(s.replace(":", "{:}") for s in items)
        return r"%s\left[%s\right] \leftarrow %s" % (p._print(self.args[0]), items, p._print(self.args[1]))


@register("slice_scatter", P("input", "src", Param("dim", "dim", 0), Param("start", "int", None),
                             Param("end", "int", None), Param("step", "int", 1)),
          torch="torch.slice_scatter", grad_fn="SliceScatterBackward0",
          reason="slice_scatter writes src into a slice: src receives the adjoint there, input everywhere else")
def _slice_scatter(input, src, dim, start, end, step):
    s = shape_of(input)
    d = dim_of(input, dim, "slice_scatter")
    step = Integer(step) if isinstance(step, int) else step
    if not (step.is_Integer and step > 0):
        raise ShapeError("step must be a positive integer")
    lo = None if start is None else start
    hi = None if end is None else end
    if any(b is not None and not b.is_Integer for b in (lo, hi)):
        a, b = (S.Zero if lo is None else lo), (s[d] if hi is None else hi)
        n = b - a
    else:
        a, b, n = slice_bounds(s[d], None if lo is None else int(lo), None if hi is None else int(hi), int(step))
    want = s[:d] + (n,) + s[d + 1:]
    if shape_of(src) != want:
        raise ShapeError("src must have shape %s, got %s" % (fmt_shape(want), fmt_shape(shape_of(src))))
    return SliceScatterOp(input, src, Integer(d), a, b, step)


def _full_values(op, args, lifted):
    """index_add's and scatter_add's input and values (tensors 0 and 2) as full batches."""
    return full_batch([args[0], args[2]], [lifted[0], lifted[2]], [shape_of(op.args[0]), shape_of(op.args[2])])


class IndexAddOp(TensorOp):
    """index_add(input, dim, index, source): rows of source added at the indexed rows."""
    spec_name = "index_add"
    index_args = (1,)

    @property
    def tensors(self):
        return self.args[:3]

    @property
    def attrs(self):
        return self.args[3:]

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        return g if i == 0 else build("index_select", input=g, dim=self.args[3], index=self.args[1])

    def batch(self, args, lifted, bshape):
        (a, s), bb = _full_values(self, args, lifted)
        return IndexAddOp(a, self.args[1], s, Integer(len(bb) + int(self.args[3])))

    def text(self, p):
        x, idx, src, d = self.args
        return "index_add(%s, %s, %s, %s)" % (p._print(x), d, p._print(idx), p._print(src))

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        return r"\operatorname{index\_add}_{%s}\left(%s, %s, %s\right)" % (
            self.args[3], p._print(self.args[0]), p._print(self.args[1]), p._print(self.args[2]))


@register("index_add", P("input", Param("dim", "dim"), Param("index", "index"), "source"),
          torch="torch.index_add", grad_fn="IndexAddBackward0", saved=("index", "source"),
          reason="index_add adds rows of source at the indexed rows: source receives those rows of the "
                 "adjoint (index_select), input all of it")
def _index_add(input, dim, index, source):
    s = shape_of(input)
    d = dim_of(input, dim, "index_add")
    if len(shape_of(index)) != 1:
        raise ShapeError("index must be a 1-D integer tensor, got %s" % fmt_shape(shape_of(index)))
    want = s[:d] + shape_of(index) + s[d + 1:]
    if shape_of(source) != want:
        raise ShapeError("source must have shape %s, got %s" % (fmt_shape(want), fmt_shape(shape_of(source))))
    return IndexAddOp(input, index, source, Integer(d))


class ScatterAddOp(TensorOp):
    """scatter_add(input, dim, index, src): src[i][j] added at input[index[i][j]][j] (dim 0)."""
    spec_name = "scatter_add"
    index_args = (1,)

    @property
    def tensors(self):
        return self.args[:3]

    @property
    def attrs(self):
        return self.args[3:]

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        return g if i == 0 else build("gather", input=g, dim=self.args[3], index=self.args[1], sparse_grad=False)

    def batch(self, args, lifted, bshape):
        (a, s), bb = _full_values(self, args, lifted)
        return ScatterAddOp(a, expand_index(self.args[1], bb), s, Integer(len(bb) + int(self.args[3])))

    def text(self, p):
        x, idx, src, d = self.args
        return "scatter_add(%s, %s, %s, %s)" % (p._print(x), d, p._print(idx), p._print(src))

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        return r"\operatorname{scatter\_add}_{%s}\left(%s, %s, %s\right)" % (
            self.args[3], p._print(self.args[0]), p._print(self.args[1]), p._print(self.args[2]))


@register("scatter_add", P("input", Param("dim", "dim"), Param("index", "index"), "src"),
          torch="torch.scatter_add", grad_fn="ScatterAddBackward0", saved=("index",),
          reason="scatter_add adds src at the indexed places: src receives the adjoint gathered from there")
def _scatter_add(input, dim, index, src):
    s = shape_of(input)
    d = dim_of(input, dim, "scatter_add")
    si, ss = shape_of(index), shape_of(src)
    if len(si) != len(s) or len(ss) != len(s):
        raise ShapeError("index and src must have as many dims as input (%d)" % len(s))
    if si != ss:
        raise ShapeError("index and src must have the same shape here, got %s and %s" % (fmt_shape(si), fmt_shape(ss)))
    return ScatterAddOp(input, index, src, Integer(d))


class IndexPutOp(TensorOp):
    """index_put(input, (y1, ..., yk), values, accumulate): values written (or added) at the rows
    the index tensors pick along the leading dims."""
    spec_name = "index_put"

    @property
    def tensors(self):
        return self.args[:-1]

    @property
    def attrs(self):
        return self.args[-1:]

    @property
    def index_args(self):
        return tuple(range(2, len(self.args) - 1))

    def out_shape(self):
        return shape_of(self.args[0])

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        idx = self.args[2:-1]
        if i == 0:
            return g if bool(self.args[-1]) else IndexPutOp(g, _zeros_like_shape(self.args[1]), *idx, S.false)
        return IndexOp(g, *idx, Integer(0))

    def batch(self, args, lifted, bshape):
        """Entry b of the batch is written at [b, y...]: an arange index per batch dim."""
        (a, v), bb = full_batch(args[:2], lifted[:2], [shape_of(t) for t in self.args[:2]])
        idx = self.args[2:-1]
        return IndexPutOp(a, v, *batch_indices(bb, idx), *idx, self.args[-1])

    def text(self, p):
        idx = [p._print(y) for y in self.args[2:-1]]
        return "index_put(%s, (%s), %s%s)" % (p._print(self.args[0]), ", ".join(idx) + ("," if len(idx) == 1 else ""),
                                             p._print(self.args[1]), ", accumulate=True" if bool(self.args[-1]) else "")

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        return r"\operatorname{index\_put}\left(%s, %s, %s\right)" % (
            p._print(self.args[0]), ", ".join(p._print(y) for y in self.args[2:-1]), p._print(self.args[1]))


@register("index_put", P("input", Param("indices", "tensors"), "values", Param("accumulate", "bool", False)),
          torch="torch.index_put", grad_fn="IndexPutBackward0", saved=("indices",),
          reason="index_put writes values at the indexed rows: values receive the adjoint there "
                 "(with accumulate, repeated rows add up)")
def _index_put(input, indices, values, accumulate):
    s = shape_of(input)
    for y in indices:
        if value_dtype(y) != "long":
            raise ShapeError("indices must be integer tensors (dtype: long)")
    if len(indices) > len(s):
        raise ShapeError("too many indices for a tensor of dimension %d" % len(s))
    want = shape_of(IndexOp(input, *indices, Integer(0)))
    if shape_of(values) != want:
        raise ShapeError("values must have shape %s, got %s" % (fmt_shape(want), fmt_shape(shape_of(values))))
    return IndexPutOp(input, values, *indices, flag(accumulate))
