"""Symbolic batching ("vmap"): a closed form linear in a direction, at every basis direction.

A Hessian-vector product ``hvp(v)`` of ``y``'s shape is linear in the direction ``v`` of
``x``'s shape; the Hessian, of shape ``x.shape + y.shape``, is ``hvp`` evaluated at every
basis direction of ``x`` at once: ``v`` replaced by the identity with leading batch dims
``x.shape`` (`identity`), and every op above it applied to the batch.  Elementwise
arithmetic broadcasts over leading batch dims by itself once logical ranks agree
(`symgrad.ops.batching.apply_elementwise`); every tensor op says how it treats a batch in
its own block (``TensorOp.batch``: matmul turns ``A @ v`` into ``v @ A.T`` and then into
``A.T`` for ``v = eye(n)``, reductions shift their dims ...).  An op without a rule is a
`MissingFact`, never a wrong Hessian.  Nothing is expanded into entries: the cost is the
size of the expression, whatever the tensor sizes.
"""
from sympy import Add, Mul, Pow, Tuple, S
from sympy.logic.boolalg import Boolean

from ..ops import TensorOp, is_elementwise
from ..ops.batching import apply_elementwise
from ..ops.constants import EyeOp, ZerosOp
from ..ops.registry import MissingFact
from ..ops.placed import place, restructure
from ..ops.shape import materialize
from ..tensor import shape_of


def identity(shape):
    """The batch of all basis directions of a tensor of ``shape``: value ``bshape + shape``
    with entry [i..., j...] = 1 where i == j.  ``eye(n)`` for a vector; for a matrix, the
    product of an ``eye`` per dim, each placed at its batch dim and its logical dim."""
    r = len(shape)
    if r == 0:
        return S.One
    if r == 1:
        return EyeOp(shape[0])
    out = S.One
    for k, n in enumerate(shape):
        if n != 1:                       # eye(1) is 1: that dim broadcasts
            out *= place(EyeOp(n), (k, r + k), 2 * r)
    return out


class Batch:
    """Evaluates expressions at the batch of basis directions of ``v``."""

    def __init__(self, v):
        self.v = v
        self.bshape = tuple(v.tshape)
        self.memo = {}

    def __call__(self, e):
        """(the batch of ``e``, whether it depends on the direction at all)."""
        if self.v not in e.free_symbols:
            return e, False
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = (self._batch(e), True)
        return hit

    def _batch(self, e):
        if e == self.v:
            return identity(self.bshape)
        if isinstance(e, TensorOp):
            parts = [self(a) for a in e.tensors]
            return restructure(e.batch([p for p, _ in parts], [up for _, up in parts], self.bshape))
        if is_elementwise(e) or isinstance(e, (Add, Mul, Pow)):
            parts = [self(a) for a in e.args]
            return restructure(apply_elementwise(e, [p for p, _ in parts], [up for _, up in parts]))
        if isinstance(e, (Tuple, Boolean)):
            return e
        raise MissingFact("no batching rule for %s: register it as an op block" % type(e).__name__)


def hessian_form(hvp, v, y_shape):
    """The Hessian of shape ``v.shape + y_shape`` from a closed form ``hvp`` of ``y_shape``
    that is linear in the direction ``v``."""
    b, lifted = Batch(v)(hvp)
    full = tuple(v.tshape) + tuple(y_shape)
    if b == 0 or not lifted:            # linear in v and free of it: zero
        return ZerosOp(Tuple(*full)) if full else S.Zero
    if shape_of(b) != full:
        b = materialize(b, full)
    return b
