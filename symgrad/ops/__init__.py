"""The op table: one block per function of the spec language (see `registry`).

Importing this package registers every block: ``elementwise`` (scalar functions and
masks), ``activations`` (and routing: maximum, clamp), ``special`` (lgamma, xlogy),
``constants``, ``shape`` (views), ``reduce``, ``linalg``, ``decomp`` (solves and
factorisations), ``products`` (matrix functions, kron, pad), ``pairwise`` (cross, cdist), ``layers``, ``operators``,
``stats`` (statistics along dims), ``norms``, ``normlayers`` (normalisation layers),
``losses`` (regression and likelihood losses), ``binary`` and ``crossent`` (classification losses),
``attention``; ``index`` (subscripts), ``scatter``, ``gather`` (integer indices), ``join``
(cat, stack, split, chunk, narrow), ``move`` (expand, repeat, permute, movedim), ``diag``
(diag, diagonal, triu, tril), ``einsum``, ``cast`` (.float() of an integer tensor);
`registry.check_facts` then refuses a block that lacks a fact some stage needs.
``kinds`` says which dtype (float, long, bool) an expression holds.
"""
from sympy import Add, Mul, Pow, Tuple
from sympy.logic.boolalg import Boolean

from .base import TensorOp, ElementwiseFn
from .registry import FUNCTIONS, OPERATORS, Function, Param, REQUIRED, NOT_IMPLEMENTED, MissingFact, check_facts
from . import (elementwise, activations, special, constants, shape, reduce, linalg, layers, operators, stats, norms,  # noqa: F401
               normlayers, index, scatter, gather, losses, binary, crossent, attention,  # (registers the blocks)
               join, move, diag, einsum, cast, decomp, products, pairwise, pickbatch)
from .elementwise import NATIVE, Mask

check_facts()


def is_elementwise(expr):
    """True for a node of an elementwise region: + * ** and elementwise functions."""
    return isinstance(expr, (Add, Mul, Pow, ElementwiseFn)) or type(expr) in NATIVE


def is_differentiable(expr):
    """False for nodes whose output never requires grad (masks, constants, detach)."""
    return getattr(expr, "differentiable", True)


def region_leaves(expr, stop=()):
    """Leaves of the elementwise region rooted at expr, left to right: the tensors and
    non-elementwise ops that the region's arithmetic combines, and the subexpressions in
    ``stop`` (units of their own, such as a node's pre-activation).

    A function that is neither elementwise nor a tensor op has no rule: a `MissingFact`,
    never a silent zero."""
    from ..tensor import TensorSymbol
    out, seen, stack = [], set(), [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if isinstance(e, (TensorSymbol, TensorOp)) or (e in stop and e is not expr):
            out.append(e)
        elif is_elementwise(e):
            stack.extend(reversed(e.args))
        elif e.args and not e.is_number and not isinstance(e, (Tuple, Boolean)):
            raise MissingFact("no differentiation rule for %s: register it as an op block" % type(e).__name__)
    return out

