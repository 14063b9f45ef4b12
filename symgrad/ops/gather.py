"""Picking entries by an integer tensor: ``gather``, ``index_select``, ``one_hot``, ``arange``.

``gather(x, dim, index)`` takes ``x[i][index[i][j]]`` (dim 1); its adjoint scatters back
with ``scatter_add`` into zeros.  ``index_select(x, dim, index)`` takes whole rows; its
adjoint adds them back with ``index_add``.  Repeated indices accumulate in both, as in
PyTorch.  ``one_hot(y, C)`` is an int64 tensor that never requires grad; in arithmetic it
promotes exactly as in PyTorch (``one_hot(y, C) * x`` is x's dtype), so class-index
cross-entropy reads ``softmax(z, dim=1) - one_hot(y, C)``.  ``arange(n)`` is the int64
tensor 0, 1, ..., n-1 (``z[arange(n), y]`` picks each row's class score).
"""
from sympy import Integer, S, Tuple

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp
from .kinds import index_high
from .index import dim_of, tensor_of
from .registry import register, P, Param
from .pickbatch import full_batch, expand_index, pick_rows
from .scatter import ScatterAddOp, IndexAddOp
from .shape import ZerosOp, ReshapeOp, materialize


class GatherOp(TensorOp):
    """gather(x, dim, index): out[i][j] = x[i][index[i][j]] (dim 1)."""
    spec_name = "gather"
    n_tensors = 2
    index_args = (1,)

    def out_shape(self):
        return shape_of(self.args[1])

    def vjp(self, i, g):
        x, idx, d = self.args
        return ScatterAddOp(ZerosOp(Tuple(*shape_of(x))), idx, tensor_of(g, self.out_shape()), d)

    def batch(self, args, lifted, bshape):
        """Each member of the batch gathers with the same index (expanded over the batch)."""
        (a,), bb = full_batch(args[:1], lifted[:1], [shape_of(self.args[0])])
        return GatherOp(a, expand_index(self.args[1], bb), Integer(len(bb) + int(self.args[2])))

    def text(self, p):
        return "gather(%s, %s, %s)" % (p._print(self.args[0]), self.args[2], p._print(self.args[1]))

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        return r"\operatorname{gather}_{%s}\left(%s, %s\right)" % (self.args[2], p._print(self.args[0]),
                                                                    p._print(self.args[1]))

    def index(self, p, idx):
        d = int(self.args[2])
        at = list(idx)
        at[d] = p.index_of(self.args[1], idx)
        return p.index_of(self.args[0], at)


@register("gather", P("input", Param("dim", "dim"), Param("index", "index"),
                      Param("sparse_grad", "bool", False, kwonly=True)),
          torch="torch.gather", grad_fn="GatherBackward0", saved=("self", "index"),
          ref=lambda ctx, input, dim, index, sparse_grad: ctx.torch.gather(input, dim, index, sparse_grad=sparse_grad),
          reason="gather picks x[index] along dim: the adjoint is scattered back there (scatter_add), "
                 "repeated indices adding up")
def _gather(input, dim, index, sparse_grad):
    s, si = shape_of(input), shape_of(index)
    if len(si) != len(s):
        raise ShapeError("index must have as many dims as input (%d), got %s" % (len(s), fmt_shape(si)))
    d = dim_of(input, dim, "gather")
    for k, (a, b) in enumerate(zip(si, s)):
        if k != d and a.is_Integer and b.is_Integer and a > b:
            raise ShapeError("index %s is larger than input %s along dim %d" % (fmt_shape(si), fmt_shape(s), k))
    _in_range(index, s[d], "gather")
    return GatherOp(input, index, Integer(d))


class IndexSelectOp(TensorOp):
    """index_select(x, dim, index): the rows index picks along dim (a 1-D or 0-d index)."""
    spec_name = "index_select"
    n_tensors = 2
    index_args = (1,)

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        d = int(self.args[2])
        si = shape_of(self.args[1])
        s[d] = si[0] if si else S.One
        return tuple(s)

    def vjp(self, i, g):
        x, idx, d = self.args
        if not shape_of(idx):
            idx = ReshapeOp(idx, Tuple(S.One))
        return IndexAddOp(ZerosOp(Tuple(*shape_of(x))), idx, materialize(g, self.out_shape()), d)

    def batch(self, args, lifted, bshape):
        a, d = pick_rows(self, args[0], int(self.args[2]), 1)
        return IndexSelectOp(a, self.args[1], d)

    def text(self, p):
        return "index_select(%s, %s, %s)" % (p._print(self.args[0]), self.args[2], p._print(self.args[1]))

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        return r"\operatorname{index\_select}_{%s}\left(%s, %s\right)" % (
            self.args[2], p._print(self.args[0]), p._print(self.args[1]))

    def index(self, p, idx):
        d = int(self.args[2])
        at = list(idx)
        at[d] = p.index_of(self.args[1], [idx[d]] if shape_of(self.args[1]) else [])
        return p.index_of(self.args[0], at)


@register("index_select", P("input", Param("dim", "dim"), Param("index", "index")),
          torch="torch.index_select", grad_fn="IndexSelectBackward0", saved=("index",),
          reason="index_select copies the picked rows: the adjoint's rows are added back there (index_add)")
def _index_select(input, dim, index):
    s = shape_of(input)
    if len(shape_of(index)) > 1:
        raise ShapeError("index must be a 1-D (or 0-d) integer tensor, got %s" % fmt_shape(shape_of(index)))
    d = dim_of(input, dim, "index_select")
    _in_range(index, s[d], "index_select")
    return IndexSelectOp(input, index, Integer(d))


class OneHotOp(TensorOp):
    """one_hot(y, C): int64, C classes along a new last dim; never requires grad."""
    spec_name = "one_hot"
    differentiable = False
    dtype_rule = "long"
    index_args = (0,)

    def out_shape(self):
        return shape_of(self.args[0]) + (self.args[1],)

    def text(self, p):
        return "one_hot(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def torch(self, p):
        return "torch.nn.functional.one_hot(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def latex(self, p):
        return r"\operatorname{onehot}_{%s}\left(%s\right)" % (p._print(self.args[1]), p._print(self.args[0]))

    def index(self, p, idx):
        return r"\delta_{%s,%s}" % (p.index_of(self.args[0], idx[:-1]), idx[-1])


@register("one_hot", P(Param("tensor", "index"), Param("num_classes", "int", None)), kind="constant",
          torch="torch.nn.functional.one_hot",
          ref=lambda ctx, tensor, num_classes: ctx.F.one_hot(tensor, int(num_classes)))
def _one_hot(tensor, num_classes):
    if num_classes is None or num_classes == -1:
        raise SpecError("give num_classes: PyTorch's default (-1) takes max + 1 of the data, a shape "
                        "symgrad cannot know")
    if num_classes.is_Integer and num_classes <= 0:
        raise SpecError("num_classes must be positive, got %s" % num_classes)
    _in_range(tensor, num_classes, "one_hot", "num_classes")
    return OneHotOp(tensor, num_classes)


def _in_range(index, size, fname, what="the size of the dim"):
    """Refuse an integer input whose values surely reach past the indexed size."""
    high = index_high(index)
    if high is not None and (high - size).is_positive:
        raise ShapeError("%s: the values of %s lie in [0, %s), past %s %s" % (fname, index, high, what, size))


class ArangeOp(TensorOp):
    """arange(start, end, step): the int64 tensor start, start + step, ... (below end)."""
    spec_name = "arange"
    n_tensors = 0
    differentiable = False
    dtype_rule = "long"

    def out_shape(self):
        start, end, step = self.args
        return ((end - start + step - 1) // step,) if (end - start).is_Integer else (end - start,)

    @property
    def high(self):
        """Its values lie in [0, end) (an index bound, as an input's ``high``)."""
        return self.args[1] if self.args[0] >= 0 else None

    def text(self, p):
        start, end, step = self.args
        parts = [p._print(end)] if start == 0 and step == 1 else [p._print(a) for a in self.args[:2 + (step != 1)]]
        return "arange(%s)" % ", ".join(parts)

    def torch(self, p):
        return "torch.arange(%s, device=_dev)" % self.text(p)[len("arange("):-1]

    def latex(self, p):
        start, end, step = self.args
        return r"\left(%s, %s, \ldots\right)" % (p._print(start), p._print(start + step))

    def index(self, p, idx):
        start, _, step = self.args
        i = idx[0] if step == 1 else "%s%s" % (p._print(step), idx[0])
        return i if start == 0 else "(%s+%s)" % (i, p._print(start))


@register("arange", P(Param("start", "int"), Param("end", "int", None), Param("step", "int", 1)), kind="constant",
          torch="torch.arange", ref=lambda ctx, start, end, step: ctx.torch.arange(
              *([int(start)] if end is None else [int(start), int(end), int(step)]), device=ctx.device))
def _arange(start, end, step):
    if end is None:
        start, end = Integer(0), start
    step = Integer(step) if isinstance(step, int) else step
    if not (step.is_Integer and step > 0):
        raise SpecError("step must be a positive integer")
    n = end - start
    if (n.is_Integer and n <= 0) or n.is_nonpositive:
        raise SpecError("arange(%s, %s) is empty" % (start, end))
    if step != 1 and not n.is_Integer:
        raise SpecError("a step needs integer bounds (the length must be known)")
    return ArangeOp(start, end, step)
