"""Tensors as SymPy symbols, and the shape of any expression.

A `Tensor` is a SymPy `Symbol` that also carries a shape (a tuple of SymPy integers or
dim symbols).  Elementwise arithmetic on tensors is then plain SymPy arithmetic: `a*b`
means PyTorch's broadcasting product, and SymPy's own canonical forms (``2*a*2/4 == a``)
are exactly right for it.  Everything that is not elementwise is a `TensorOp`
(see ``symgrad.ops``), an unevaluated SymPy function that knows its own shape.

`shape_of` computes the broadcast shape of any expression; `broadcast` and `numel`
are the shape helpers every stage uses.
"""
from functools import wraps

import sympy
from sympy import Symbol, S

from .errors import ShapeError


class TensorSymbol(Symbol):
    """A named tensor of a fixed (possibly symbolic) shape."""
    # (not named `Tensor`: SymPy printers already dispatch on that class name)

    def __new__(cls, name, shape=(), domain="real", dtype="float", high=None, **assumptions):
        cls._sanitize(assumptions, cls)
        obj = Symbol.__xnew__(cls, name, **assumptions)
        obj.tshape = tuple(sympy.sympify(s) for s in shape)
        obj.domain = domain
        obj.dtype = dtype                      # "float" | "long" | "bool" (SPEC section 10)
        obj.high = None if high is None else sympy.sympify(high)    # a long's values lie in [0, high)
        return obj

    def _hashable_content(self):
        return Symbol._hashable_content(self) + (self.tshape, self.domain, self.dtype, self.high or S.Zero)

    @property
    def symmetric(self):
        """A symmetric positive definite input equals its transpose."""
        return self.domain == "spd"

    def __getnewargs_ex__(self):
        return ((self.name, self.tshape, self.domain, self.dtype, self.high), self._assumptions_orig)


Tensor = TensorSymbol




def shape_json(shape):
    """A shape for JSON: ints stay ints, dim names become strings."""
    return [d if isinstance(d, (int, str)) else int(d) if d.is_Integer else str(d) for d in shape]


def numel(shape):
    n = S.One
    for d in shape:
        n *= d
    return n




def broadcast(*shapes):
    """PyTorch broadcasting of several shapes; raises ShapeError on a mismatch."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(rank):
        size = S.One
        for s in shapes:
            i = len(s) - rank + k
            if i < 0:
                continue
            d = s[i]
            if d == 1 or d == size:
                continue
            if size == 1:
                size = d
            else:
                raise ShapeError("shapes %s cannot be broadcast together"
                                 % " and ".join(fmt_shape(x) for x in shapes))
        out.append(size)
    return tuple(out)


def fmt_shape(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def identity_cache(fn):
    """Memoise a function of one SymPy expression by object identity.

    Keyed by ``id`` (the expression is kept alive alongside its value), so a lookup never
    compares trees: SymPy's ``==`` on an equal-but-distinct deep expression walks all of it,
    which made dict/lru caches the top cost of deriving and printing deep networks.
    """
    memo = {}

    @wraps(fn)
    def cached(e):
        hit = memo.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        v = fn(e)
        if len(memo) > 500_000:
            memo.clear()
        memo[id(e)] = (e, v)
        return v
    cached.cache_clear = memo.clear
    return cached


@identity_cache
def shape_of(expr):
    """The shape of an expression (broadcast over elementwise arguments)."""
    if isinstance(expr, Tensor):
        return expr.tshape
    own = getattr(expr, "out_shape", None)
    if own is not None:
        return own()
    if not expr.args or isinstance(expr, Symbol):
        return ()
    return broadcast(*[shape_of(a) for a in expr.args])
