"""The memory layout PyTorch gives a view: strides, contiguity, and whether a reshape can view.

A subscript, a slice, a permutation or a piece of a split is a view: it shares the input's
memory with other strides.  Whether the result is contiguous, and whether a later
``reshape`` is a view (``ViewBackward0``, or ``ReshapeAliasBackward0`` for a non-contiguous
view) or a copy (``UnsafeViewBackward0`` over ``CloneBackward0``), follows from the strides --
the autograd model (``symgrad.autograd.recorded``) reads them here, as PyTorch computes them
(``computeStride`` in ATen).  A tensor whose strides are not known is described by its
contiguity alone.
"""
from sympy import S


def contiguous_strides(shape):
    out, acc = [], S.One
    for s in reversed(shape):
        out.append(acc)
        acc = acc * s
    return tuple(reversed(out))


def is_contiguous(shape, strides):
    """PyTorch's rule: size-1 dims are ignored, the rest must be packed row-major."""
    expected = S.One
    for s, st in reversed(list(zip(shape, strides))):
        if s == 1:
            continue
        if st != expected:
            return False
        expected = expected * s
    return True


def strides_of(v):
    """A walked tensor's strides: its own, those of a contiguous tensor, or None (unknown)."""
    own = getattr(v, "strides", None)
    if own is not None:
        return own
    return contiguous_strides(tuple(v.shape)) if v.contiguous else None


def view_strides(shape, strides, new):
    """The strides of ``reshape(new)`` as a view, or None when it must copy (ATen's computeStride)."""
    if not all(getattr(d, "is_Integer", isinstance(d, int)) for d in tuple(shape) + tuple(new)):
        return None
    shape, new = [int(d) for d in shape], [int(d) for d in new]
    if not shape:
        return tuple(S.One for _ in new)
    out = [None] * len(new)
    view_d = len(new) - 1
    base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base = strides[d - 1]
                tensor_numel = view_numel = 1
    return None if view_d != -1 else tuple(out)


def view_result(w, n, chain, x, shape, strides):
    """Record a chain of views (root first) and the result's layout."""
    if strides is None:                 # a view of a tensor of unknown layout
        cont = sum(1 for s in shape if s != 1) == 0
    else:
        cont = is_contiguous(shape, strides)
    out = w.record(n, chain[0], [x], chain=chain, shape=shape, contiguous=cont)
    out.strides = strides
    return out
