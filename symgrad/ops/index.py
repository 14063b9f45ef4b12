"""Subscripts: ``x[i]``, ``x[:, 0]``, ``x[1:3]``, ``x[..., None]``, ``x[:, ::2]`` and advanced
indexing by an integer tensor ``W[y]`` (an embedding lookup).

Basic indexing is a chain of views -- `SelectOp` (an int), `SliceOp` (a slice), unsqueeze
(``None``) -- whose adjoints put the adjoint back into zeros at the place it came from
(``select_scatter``, ``slice_scatter``: ``symgrad.ops.scatter``).  Advanced indexing
(`IndexOp`) copies rows; its adjoint adds them back with ``index_add`` / ``index_put(...,
accumulate=True)``, so repeated indices accumulate, as in PyTorch.

`getitem` builds a subscript from the entries the parser read (``symgrad.spec.subscripts``);
`record_getitem` is the chain PyTorch records for it: Select/Slice/Unsqueeze nodes that save
nothing (``x[:]`` a slice, ``x[:, :]`` an alias, a full slice inside a tuple nothing at all),
or ``IndexBackward0``, which saves the indices (a second backward raises).
"""
from sympy import Basic, Integer, S, Tuple
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError
from ..tensor import Tensor, shape_of, broadcast, fmt_shape
from .base import TensorOp, split_scalar, norm_dim
from .elementwise import Where, Lt
from .kinds import value_dtype, index_high
from .layout import view_result, strides_of
from .pickbatch import pick_select, pick_slice, pick_rows
from .registry import operator, build
from .shape import UnsqueezeOp, ZerosOp, OnesOp, ReshapeOp, materialize


def subscript_text(p, x, items):
    """``x[items]`` in the spec language or torch code (x parenthesized when it must be)."""
    return "%s[%s]" % (p.parenthesize(x, PRECEDENCE["Func"], strict=True), ", ".join(items))


def subscript_latex(p, x, items):
    return p.subscripted(p.parenthesize(x, PRECEDENCE["Atom"], strict=True), ",".join(items))


def _literal(b, size):
    """A slice bound as PyTorch reads it: an int, or negative from the end (``n - 1`` is -1);
    None when it is neither (then the slice prints as ``narrow``)."""
    if b.is_Integer:
        return int(b)
    if (b - size).is_Integer:
        return int(b - size)
    return None


def slice_items(shape, d, start, stop, step):
    """The subscript items of a slice along dim d of a tensor of this shape: ``[":", "1:3"]``."""
    d = int(d)
    return [":"] * d + [slice_text(start, stop, step, shape[d])] + [":"] * (len(shape) - d - 1)


def slice_text(start, stop, step, size):
    """``1:3``, ``::2``, ``-2:`` for bounds normalised against ``size``."""
    a = "" if start == 0 else str(_literal(start, size))
    b = "" if stop == size else str(_literal(stop, size))
    return "%s:%s%s" % (a, b, ":%s" % step if step != 1 else "")


def tensor_of(g, shape):
    """An adjoint as a tensor of ``shape`` (a 0-d one too: a scatter's src must be a tensor)."""
    g = materialize(g, shape) if shape else g
    if not shape and not isinstance(g, TensorOp) and not g.atoms(Tensor):
        return g * OnesOp(Tuple())
    return g


def _picked_constant(cls, x, *attrs):
    """A pick of ones or zeros is ones or zeros; a scalar factor moves out of it."""
    if isinstance(x, (OnesOp, ZerosOp)):
        return type(x)(Tuple(*shape_of(Basic.__new__(cls, x, *attrs))))
    c, r = split_scalar(x)
    if c != 1 and r != 1:
        return c * cls(r, *attrs)
    return _picked_scatter(cls, x, attrs)


def _picked_scatter(cls, x, attrs):
    """A pick of what a scatter wrote is its src; a pick that misses it is a pick of its input:
    ``stack((a, b), 1)``'s adjoint picked back is ``g[:, 0]``, not a scatter of zeros."""
    name = getattr(x, "spec_name", None)
    if name == "select_scatter" and cls is SelectOp and x.args[2] == attrs[0]:
        if x.args[3] == attrs[1]:
            return x.args[1]
        if (x.args[3] - attrs[1]).is_nonzero:
            return cls(x.args[0], *attrs)
    if name == "slice_scatter" and cls is SliceOp and x.args[2] == attrs[0]:
        (a, b, st), (a2, b2, st2) = x.args[3:6], attrs[1:4]
        if (a, b, st) == (a2, b2, st2):
            return x.args[1]
        if st == st2 == 1 and ((b2 - a).is_nonpositive or (b - a2).is_nonpositive):
            return cls(x.args[0], *attrs)
    return None


def _row_picks(x, idx, d):
    """Whether x[arange(n), y] picks one entry y[i] of each row i of a matrix x (y an input's values)."""
    if d != 0 or len(idx) != 2 or len(shape_of(x)) != 2 or index_high(idx[1]) is None:
        return False
    a = idx[0]
    return getattr(a, "spec_name", None) == "arange" and tuple(a.args) == (S.Zero, shape_of(x)[0], S.One) \
        and shape_of(idx[1]) == (shape_of(x)[0],)


def _wrapped(y, size):
    """An index as index_add needs it: non-negative.  Indexing counts a negative index from the
    end (``x[:, y - 1]``); an input's values (and views of them) are never negative."""
    if index_high(y) is not None:
        return y
    return Where(Lt(y, S.Zero), y + size, y)


class SelectOp(TensorOp):
    """x[..., k, ...]: the entries at index k of dim d (the dim is dropped)."""
    spec_name = "select"
    dtype_rule = "same"
    prec = PRECEDENCE["Atom"]

    @classmethod
    def eval(cls, x, d, k):
        return _picked_constant(cls, x, d, k)

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        del s[int(self.args[1])]
        return tuple(s)

    def vjp(self, i, g):
        return build("select_scatter", input=ZerosOp(Tuple(*shape_of(self.args[0]))),
                     src=tensor_of(g, self.out_shape()), dim=self.args[1], index=self.args[2])

    def batch(self, args, lifted, bshape):
        return pick_select(self, args[0], int(self.args[1]), self.args[2])

    def items(self, p):
        d, k = int(self.args[1]), self.args[2]
        r = len(shape_of(self.args[0]))
        return [":"] * d + [str(k)] + [":"] * (r - d - 1)

    def text(self, p):
        d = int(self.args[1])
        return subscript_text(p, self.args[0], self.items(p)[:d + 1])

    torch = text

    def latex(self, p):
        return subscript_latex(p, self.args[0], self.items(p))

    def index(self, p, idx):
        d = int(self.args[1])
        return p.index_of(self.args[0], list(idx[:d]) + [p._print(self.args[2])] + list(idx[d:]))


class SliceOp(TensorOp):
    """x[..., start:stop:step, ...] along dim d (bounds normalised, step > 0)."""
    spec_name = "slice"
    dtype_rule = "same"
    prec = PRECEDENCE["Atom"]

    @classmethod
    def eval(cls, x, d, start, stop, step):
        return _picked_constant(cls, x, d, start, stop, step)

    @property
    def dim(self):
        return int(self.args[1])

    def length(self):
        start, stop, step = self.args[2:]
        return (stop - start + step - 1) // step if (stop - start).is_Integer else stop - start

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        s[self.dim] = self.length()
        return tuple(s)

    def vjp(self, i, g):
        return build("slice_scatter", input=ZerosOp(Tuple(*shape_of(self.args[0]))),
                     src=materialize(g, self.out_shape()), dim=self.args[1], start=self.args[2],
                     end=self.args[3], step=self.args[4])

    def batch(self, args, lifted, bshape):
        return pick_slice(self, args[0], self.dim, self.args[2:])

    def items(self, p):
        return slice_items(shape_of(self.args[0]), *self.args[1:])

    def symbolic(self):
        """Bounds that neither the start nor the end of a dim can spell (a cat of [n] and [m])."""
        size = shape_of(self.args[0])[self.dim]
        return any(_literal(b, size) is None for b in self.args[2:4])

    def text(self, p):
        if self.symbolic() and self.args[4] == 1:      # bounds of several dims: narrow
            return "narrow(%s, %d, %s, %s)" % (p._print(self.args[0]), self.dim, p._print(self.args[2]),
                                                p._print(self.length()))
        return subscript_text(p, self.args[0], self.items(p)[:self.dim + 1])

    def torch(self, p):
        if self.symbolic() and self.args[4] == 1:
            return "torch.narrow(%s, %d, %s, %s)" % (p._print(self.args[0]), self.dim, p._print(self.args[2]),
                                                      p._print(self.length()))
        return subscript_text(p, self.args[0], self.items(p)[:self.dim + 1])

    def latex(self, p):
        return subscript_latex(p, self.args[0], [s.replace(":", r"{:}") for s in self.items(p)])

    def index(self, p, idx):
        d = self.dim
        start, _, step = self.args[2:]
        i = idx[d] if step == 1 else "%s%s" % (p._print(step), idx[d])
        at = i if start == 0 else "(%s+%s)" % (i, p._print(start))
        return p.index_of(self.args[0], list(idx[:d]) + [at] + list(idx[d + 1:]))


class IndexOp(TensorOp):
    """x[..., y1, ..., yk, ...]: advanced indexing by integer tensors at dims d..d+k-1."""
    spec_name = "index"
    dtype_rule = "same"
    prec = PRECEDENCE["Atom"]

    @property
    def tensors(self):
        return self.args[:-1]

    @property
    def attrs(self):
        return self.args[-1:]

    @property
    def index_args(self):
        return tuple(range(1, len(self.args) - 1))

    @property
    def dim(self):
        return int(self.args[-1])

    def out_shape(self):
        s = shape_of(self.args[0])
        idx = self.args[1:-1]
        d = self.dim
        return s[:d] + broadcast(*[shape_of(y) for y in idx]) + s[d + len(idx):]

    def vjp(self, i, g):
        x, idx, d = self.args[0], self.args[1:-1], self.dim
        if _row_picks(x, idx, d):                # x[arange(n), y]: one entry of each row
            g = g if shape_of(g) == () else UnsqueezeOp(g, Integer(1))
            return g * build("one_hot", tensor=idx[1], num_classes=shape_of(x)[1])
        zeros = ZerosOp(Tuple(*shape_of(x)))
        g = tensor_of(g, self.out_shape())
        size = shape_of(x)[d]
        if len(idx) == 1 and len(shape_of(idx[0])) == 1:
            return build("index_add", input=zeros, dim=d, index=_wrapped(idx[0], size), source=g)
        if len(idx) == 1 and not shape_of(idx[0]) and d > 0:
            return build("index_add", input=zeros, dim=d, index=ReshapeOp(_wrapped(idx[0], size), Tuple(S.One)),
                         source=UnsqueezeOp(g, Integer(d)))
        return build("index_put", input=zeros, indices=tuple(idx), values=g, accumulate=True)

    def batch(self, args, lifted, bshape):
        a, d = pick_rows(self, args[0], self.dim, len(self.args) - 2)
        return IndexOp(a, *self.args[1:-1], d)

    def items(self, p):
        d = self.dim
        return [":"] * d + [p._print(y) for y in self.args[1:-1]]

    def text(self, p):
        return subscript_text(p, self.args[0], self.items(p))

    torch = text

    def latex(self, p):
        r = len(shape_of(self.args[0]))
        items = self.items(p) + [":"] * (r - self.dim - len(self.args) + 2)
        return subscript_latex(p, self.args[0], items)

    def index(self, p, idx):
        d, idx = self.dim, list(idx)
        ys = self.args[1:-1]
        nb = len(shape_of(self)) - len(shape_of(self.args[0])) + len(ys)      # the index tensors' rank
        mid = idx[d:d + nb]
        picked = [p.index_of(y, mid[nb - len(shape_of(y)):]) for y in ys]
        return p.index_of(self.args[0], idx[:d] + picked + idx[d + nb:])


def dim_of(x, dim, what):
    """A (possibly negative) dim of x, which must have at least one dimension."""
    r = len(shape_of(x))
    if r == 0:
        raise ShapeError("%s: needs a tensor of at least 1 dimension, got a 0-dim tensor" % what)
    return norm_dim(dim, r)


# --- building a subscript from the parser's entries ---------------------------------------------
def slice_bounds(size, lo, hi, step):
    """(start, stop) of ``lo:hi:step`` on a dim of ``size`` (PyTorch clips; a symbolic size is
    assumed large enough for bounds counted from the start)."""
    step = 1 if step is None else step
    if size.is_Integer:
        r = range(int(size))[slice(lo, hi, step)]
        return Integer(r.start), Integer(r.stop) if len(r) else Integer(r.start), len(r)

    def at(b, default):
        if b is None:
            return default
        return Integer(b) if b >= 0 else size + b
    start, stop = at(lo, S.Zero), at(hi, size)
    n = stop - start
    if step != 1 and not n.is_Integer:
        raise ShapeError("a slice with a step along the symbolic dim %s: give it a size in 'shape' "
                         "or slice with step 1" % size)
    if n.is_Integer:
        n = (int(n) + step - 1) // step if n > 0 else 0
    return start, stop, n


def getitem(x, entries, single):
    """x[entries] (see `symgrad.spec.subscripts.index_entries`; tensors already built)."""
    shape = shape_of(x)
    r = len(shape)
    if sum(1 for e in entries if e[0] == "ellipsis") > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    used = sum(1 for e in entries if e[0] in ("int", "slice", "tensor"))
    if used > r:
        if r == 0:
            raise ShapeError("invalid index of a 0-dim tensor (PyTorch: use the tensor itself)")
        raise ShapeError("too many indices for a tensor of dimension %d" % r)
    if any(e[0] == "tensor" for e in entries):
        return _advanced(x, entries, r)
    out, dim = x, 0
    for e in entries:
        if e[0] == "int":
            size = shape_of(out)[dim]
            k = e[1]
            if size.is_Integer and not -size <= k < size:
                raise ShapeError("index %d is out of bounds for dimension %d with size %s" % (k, dim, size))
            out = SelectOp(out, Integer(dim), Integer(k) if k >= 0 else size + k)
        elif e[0] == "slice":
            size = shape_of(out)[dim]
            if e[3] is not None and e[3] <= 0:
                raise ShapeError("a slice step must be greater than zero")
            start, stop, n = slice_bounds(size, *e[1:])
            if n == 0:
                written = ":".join("" if b is None else str(b) for b in e[1:3]) + \
                    ("" if e[3] is None else ":%d" % e[3])
                raise ShapeError("the slice %s gives no entries along dim %d of size %s" % (written, dim, size))
            if not (start == 0 and stop == size and (e[3] or 1) == 1):
                out = SliceOp(out, Integer(dim), start, stop, Integer(e[3] or 1))
            dim += 1
        elif e[0] == "none":
            out = UnsqueezeOp(out, Integer(dim))
            dim += 1
        else:
            dim += r - used
    return out


def _advanced(x, entries, r):
    """x[:, ..., y, ...]: integer tensors next to each other, the rest ':' and '...' only."""
    kinds = [e[0] for e in entries]
    plain = all(k in ("tensor", "ellipsis") or (k == "slice" and e[1:] == (None, None, None))
                for k, e in zip(kinds, entries))
    pos = [k for k, e in enumerate(kinds) if e == "tensor"]
    if not plain or pos != list(range(pos[0], pos[-1] + 1)):
        raise ShapeError("advanced indexing: put the integer tensors next to each other and use only ':' "
                         "and '...' beside them (index in two steps otherwise)")
    used = sum(1 for k in kinds if k in ("slice", "tensor"))
    before = kinds[:pos[0]]
    d = sum(1 for k in before if k == "slice") + (r - used if "ellipsis" in before else 0)
    idx = [entries[k][1] for k in pos]
    for y in idx:
        if value_dtype(y) != "long":
            raise ShapeError("an index tensor must be an integer tensor (dtype: long)")
    try:
        broadcast(*[shape_of(y) for y in idx])
    except ShapeError:
        raise ShapeError("index tensors of shapes %s cannot be broadcast together"
                         % " and ".join(fmt_shape(shape_of(y)) for y in idx))
    if d > 0 and (len(idx) > 1 or len(shape_of(idx[0])) > 1):
        raise ShapeError("advanced indexing after ':' takes one 1-D (or 0-d) index tensor here")
    for k, y in enumerate(idx):
        high, size = index_high(y), shape_of(x)[d + k]
        if high is not None and (high - size).is_positive:
            raise ShapeError("the values of %s lie in [0, %s), past the size %s of dim %d" % (y, high, size, d + k))
    return IndexOp(x, *idx, Integer(d))


# --- what PyTorch records ------------------------------------------------------------------------
def record_getitem(w, n, x, entries, index_vals, single):
    """The nodes PyTorch records for x[entries] (``index_vals``: the walked index tensors)."""
    if not w.is_tensor(x):
        return x
    shape = list(x.shape)
    if any(e[0] == "tensor" for e in entries):
        if len(index_vals) == 1 and not getattr(index_vals[0], "shape", (1,)) and len(shape):
            d = _adv_dim(entries, len(shape))
            del shape[d]
            st = strides_of(x)
            return view_result(w, n, ("SelectBackward0",), x, tuple(shape),
                               None if st is None else tuple(s for k, s in enumerate(st) if k != d))
        return w.record(n, "IndexBackward0", [x], "IndexBackward0", (("indices", w.text(n.slice)),),
                        shape=w.shape(n))
    strides = strides_of(x)
    strides = list(strides) if strides is not None else None
    applied, dim = [], 0
    used = sum(1 for e in entries if e[0] in ("int", "slice"))
    for e in entries:
        if e[0] == "int":
            applied.append("SelectBackward0")
            del shape[dim]
            if strides is not None:
                del strides[dim]
        elif e[0] == "slice":
            start, stop, length = slice_bounds(S(shape[dim]), *e[1:])
            step = e[3] or 1
            if single or not (start == 0 and stop == shape[dim] and step == 1):
                applied.append("SliceBackward0")
                shape[dim] = length
                if strides is not None:
                    strides[dim] = strides[dim] * step
            dim += 1
        elif e[0] == "none":
            applied.append("UnsqueezeBackward0")
            if strides is not None:
                strides.insert(dim, strides[dim] * shape[dim] if dim < len(shape) else S.One)
            shape.insert(dim, S.One)
            dim += 1
        else:
            dim += len(x.shape) - used
    chain = tuple(reversed(applied)) or ("AliasBackward0",)
    return view_result(w, n, chain, x, tuple(shape), None if strides is None else tuple(strides))


def _adv_dim(entries, r):
    used = sum(1 for e in entries if e[0] in ("slice", "tensor"))
    d = 0
    for e in entries:
        if e[0] == "tensor":
            return d
        d += (r - used) if e[0] == "ellipsis" else 1
    return d


operator("[]", "SelectBackward0", record=record_getitem,
         reason="indexing picks entries: its adjoint puts the adjoint back in zeros at the picked places "
                "(repeated indices add up)")
