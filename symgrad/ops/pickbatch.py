"""Batching rules (second order, ``symgrad.diff.batch``) of the ops that pick, scatter and join
entries: subscripts (select, slice, advanced indexing), ``index_select``, ``gather``, the
scatters (``select_scatter``, ``slice_scatter``, ``index_add``, ``scatter_add``,
``index_put``), ``cat`` and ``stack``.  The op blocks call these from their ``batch``.

* A pick addresses a logical dim of a lifted argument through `pdim`.  Where the batch is
  constant along the picked dim (a broadcast dim of size 1), every index holds the same
  entry: a slice of it is itself, a select drops the dim (`pick_select`, `pick_slice`).
* A scatter or a join needs its arguments exactly shaped (PyTorch broadcasts none of them):
  each is made a full batch -- leading dims the broadcast of the lifted arguments' batch
  dims, then its whole logical shape (`full_batch`) -- and the op acts at its dims shifted
  past those batch dims.
* An integer index that must have the values' rank (``gather``, ``scatter_add``) is expanded
  over the batch dims (an expand keeps it an integer tensor); ``index_put``, whose indices
  address leading dims, gets one ``arange`` index per batch dim in front of its own
  (`batch_indices`): entry b of the batch is written at [b, y...].
"""
from sympy import Integer, S, Tuple

from ..tensor import shape_of, broadcast
from .base import rank
from .batching import pdim, full_along
from .move import ExpandOp
from .registry import build
from .shape import SqueezeOp, UnsqueezeOp, ReshapeOp, ZerosOp, OnesOp, materialize


def full(a, shape):
    """``a`` (which broadcasts to ``shape``) as a tensor of exactly ``shape``."""
    shape = tuple(shape)
    if shape_of(a) == shape:
        return a
    if a == 0 or isinstance(a, ZerosOp):
        return ZerosOp(Tuple(*shape))
    if isinstance(a, OnesOp):
        return OnesOp(Tuple(*shape))
    return materialize(a, shape)


def logical(a, shape):
    """Lifted ``a`` with all its logical dims (of ``shape``) present: a batch of lower rank
    broadcasts, so unit dims go in front (a number becomes a tensor of ``shape``)."""
    r = len(shape)
    if rank(a) >= r:
        return a
    if rank(a) == 0:
        return full(a, shape)
    while rank(a) < r:
        a = UnsqueezeOp(a, Integer(0))
    return a


def batch_of(a, shape):
    """The leading batch dims of lifted ``a`` of logical ``shape``."""
    a = logical(a, shape)
    return tuple(shape_of(a)[:rank(a) - len(shape)])


def full_batch(args, lifted, shapes):
    """(the arguments as full batches of one batch shape, that batch shape): each of
    ``batch + its logical shape``, ``batch`` the broadcast of the lifted ones' batch dims."""
    bb = tuple(broadcast(*[batch_of(a, s) for a, s, up in zip(args, shapes, lifted) if up]))
    return [full(a, bb + tuple(s)) for a, s in zip(args, shapes)], bb


def pick_select(op, a, d, k):
    """``op`` (a select of logical dim ``d`` of its first tensor) over lifted ``a``."""
    shape = shape_of(op.args[0])
    a = logical(a, shape)
    p = pdim(a, len(shape), d)
    if shape_of(a)[p] == 1 and shape[d] != 1:          # constant along d: every index the same
        return SqueezeOp(a, Tuple(Integer(p)))
    return type(op)(a, Integer(p), k)


def pick_slice(op, a, d, bounds):
    """``op`` (a slice of logical dim ``d`` of its first tensor) over lifted ``a``."""
    shape = shape_of(op.args[0])
    a = logical(a, shape)
    p = pdim(a, len(shape), d)
    if shape_of(a)[p] == 1 and shape[d] != 1:          # constant along d: the slice is the same
        return a
    return type(op)(a, Integer(p), *bounds)


def pick_rows(op, a, d, n_index):
    """Lifted ``a`` made full along the ``n_index`` logical dims from ``d`` that integer
    indices address (an index picks from a full dim), and the dim ``d`` of it."""
    shape = shape_of(op.args[0])
    a = full_along(logical(a, shape), shape, list(range(d, d + n_index)))
    return a, Integer(pdim(a, len(shape), d))


def expand_index(index, bb):
    """An integer index expanded over leading batch dims ``bb`` (it stays an integer)."""
    if not bb:
        return index
    return ExpandOp(index, Tuple(*(tuple(bb) + tuple(shape_of(index)))))


def batch_indices(bb, indices):
    """One ``arange`` per batch dim, shaped to broadcast against the others and ``indices``:
    index_put at [b..., y...] writes entry b of a batch where the op writes it."""
    rk = len(bb) + max([len(shape_of(y)) for y in indices], default=0)
    out = []
    for j, n in enumerate(bb):
        ar = build("arange", start=n, end=None, step=1)
        out.append(ReshapeOp(ar, Tuple(*[n if k == j else S.One for k in range(rk)])))
    return out
