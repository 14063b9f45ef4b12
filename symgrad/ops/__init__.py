"""The op table (see `table.FUNCTIONS`) and the op classes it builds on."""
from sympy import Add, Mul, Pow

from .base import TensorOp, ElementwiseFn
from .elementwise import NATIVE, Mask
from .table import FUNCTIONS, OPERATORS, OpSpec, Param, REQUIRED


def is_elementwise(expr):
    """True for a node of an elementwise region: + * ** and elementwise functions."""
    return isinstance(expr, (Add, Mul, Pow, ElementwiseFn)) or type(expr) in NATIVE


def is_differentiable(expr):
    """False for nodes whose output never requires grad (masks, constants, detach)."""
    return getattr(expr, "differentiable", True)


def region_leaves(expr):
    """Leaves of the elementwise region rooted at expr, left to right: the tensors and
    non-elementwise ops that the region's arithmetic combines."""
    from ..tensor import TensorSymbol
    out, seen, stack = [], set(), [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if isinstance(e, (TensorSymbol, TensorOp)):
            out.append(e)
        elif is_elementwise(e):
            stack.extend(reversed(e.args))
    return out
