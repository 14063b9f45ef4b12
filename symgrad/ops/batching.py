"""What the batching rules of the op blocks share (second order: ``symgrad.diff.batch``).

A Hessian is its Hessian-vector product evaluated at every basis direction at once: the
direction ``v`` (of ``x``'s shape) is replaced by a batch of directions with leading dims
``bshape = x.shape`` -- the identity -- and each op is applied to the batch, as
``torch.vmap`` would.  A *lifted* expression is such a batch: its value broadcasts to
``bshape + shape``, ``shape`` being the logical shape of the expression it stands for, and
its last ``len(shape)`` dims are the logical dims (leading batch dims of size 1 may be left
out, as broadcasting allows; any dim may be 1 where the batch is constant along it).

Elementwise arithmetic needs no rule beyond `align` (leading batch dims broadcast right
once the logical ranks agree); a tensor op addresses its logical dims through `pdim`.
"""
from sympy import S, Tuple, Integer

from ..tensor import shape_of
from .base import rank, flag
from .constants import OnesOp
from .shape import UnsqueezeOp, SqueezeOp, T


def pdim(a, r, d):
    """The dim of lifted ``a`` (logical rank ``r``) that holds logical dim ``d``."""
    return rank(a) - r + d


def align(a, r, R):
    """Lifted ``a`` of logical rank ``r`` as logical rank ``R`` (unit dims put in front of
    the logical dims, after the batch dims), so that it broadcasts as in the op."""
    for _ in range(R - r):
        a = UnsqueezeOp(a, Integer(pdim(a, r, 0)))
    return a


def full_along(a, shape, dims):
    """Lifted ``a`` (logical shape ``shape``) made full along the logical ``dims`` where it is
    broadcast (size 1 for a logical size that is not), by a product with ones."""
    s, r = shape_of(a), len(shape)
    need = [d for d in dims if s[pdim(a, r, d)] == 1 and shape[d] != 1]
    if not need:
        return a
    ones = tuple(shape[d] if d in need else S.One for d in range(r))
    return a * OnesOp(Tuple(*ones))


def reduce_lifted(cls, a, shape, dims, keepdim, per_broadcast):
    """``cls(a, dims, keepdim)`` over the logical ``dims`` of lifted ``a``.  Along a dim where
    ``a`` is broadcast, the reduction of a constant is ``per_broadcast(size)`` times it
    (a sum: the size, a mean: 1); without that rule the dim is made full first."""
    r = len(shape)
    factor = S.One
    if per_broadcast is None:
        a = full_along(a, shape, dims)
    else:
        s = shape_of(a)
        for d in dims:
            if s[pdim(a, r, d)] == 1:
                factor *= per_broadcast(shape[d])
    return factor * cls(a, Tuple(*[Integer(pdim(a, r, d)) for d in sorted(dims)]), flag(keepdim))


def apply_elementwise(e, args, lifted):
    """Elementwise ``e`` (``+``, ``*``, ``**`` or a function) over its lifted arguments."""
    R = rank(e)
    new = [align(a, rank(o), R) if up else a for a, o, up in zip(args, e.args, lifted)]
    return e.func(*new)


def matmul_batch(matmul, sumop, args, lifted, shapes):
    """``a @ b`` over lifted arguments (the rule of matmul's block, which passes its own class
    and the sum's): 1-D arguments become rows or columns, the others broadcast as batches."""
    (a, b), (la, lb), (sa, sb) = args, lifted, shapes
    ra, rb = len(sa), len(sb)
    if la:
        a = full_along(a, sa, [ra - 1])
    if lb:
        b = full_along(b, sb, [max(rb - 2, 0)])
    if ra == 1 and rb == 1:
        return reduce_lifted(sumop, a * b, sa, [0], False, lambda n: n)
    if rb == 1 and lb:
        if ra == 2 and not la:
            return matmul(b, T(a))                        # A @ v for each v: v @ A.T
        col = align(UnsqueezeOp(b, Integer(pdim(b, 1, 1))), 2, ra)     # logical (..., n, 1)
        out = matmul(a, col)
        return SqueezeOp(out, Tuple(Integer(rank(out) - 1)))
    if ra == 1 and la and (rb != 2 or lb):
        row = align(UnsqueezeOp(a, Integer(pdim(a, 1, 0))), 2, rb)     # logical (..., 1, n)
        out = matmul(row, b)
        return SqueezeOp(out, Tuple(Integer(rank(out) - 2)))
    R = max(ra, rb)
    return matmul(align(a, ra, R) if la and ra >= 2 else a, align(b, rb, R) if lb and rb >= 2 else b)
