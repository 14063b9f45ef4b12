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
