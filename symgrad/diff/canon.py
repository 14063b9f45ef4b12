"""Memoising pure symbolic functions up to a renaming of their symbols.

A chain of N nodes built from a few templates asks SymPy the same small questions N times
under different names -- d/dh7 of ``sin(h7)*h7 + exp(-h7)``, the factored form of
``1 - h7**2`` -- and each answer costs milliseconds of SymPy's time.  `up_to_renaming`
answers each question once: the symbols of the arguments are renamed, class by class and
in their sort order, to canonical symbols with the same assumptions (and, for a tensor,
the same shape and domain), so SymPy orders, assumes and simplifies exactly as it would
with the real names; the answer for the canonical arguments is looked up or computed; and
it is renamed back without re-evaluating anything (``Add``/``Mul``/``Pow`` are rebuilt
with ``evaluate=False`` in the order they already have), so the result is the very
expression the direct call gives.
"""
from functools import wraps

import sympy
from sympy import Add, Mul, Pow, Symbol, Dummy

from ..tensor import Tensor

_CANON = {}             # (class, k, assumptions, shape, domain) -> canonical symbol
RENAMEABLE = {Symbol, Dummy, Tensor}    # classes rebuilt by name (symgrad.derive adds Hidden)
_MAX_MEMO = 200_000


def _symbols(exprs):
    """The distinct symbols of some expressions (an iterative walk over them as DAGs)."""
    seen, out, stack = set(), set(), list(exprs)
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, Symbol):
            out.add(x)
        elif isinstance(x, sympy.Basic):
            stack.extend(x.args)
    return out


def _canonical_symbol(s, k):
    orig = tuple(sorted(s._assumptions_orig.items()))
    cls = type(s)
    if isinstance(s, Tensor):
        key = (cls, k, orig, s.tshape, s.domain)
    else:
        key = (cls, k, orig)
    c = _CANON.get(key)
    if c is None:
        name = "\x03%06d" % k
        if isinstance(s, Tensor):
            c = Tensor.__new__(cls, name, s.tshape, s.domain, **s._assumptions_orig)
        elif cls is Dummy:
            c = Dummy(name, **s._assumptions_orig)
        else:
            c = cls(name, **s._assumptions_orig)
        _CANON[key] = c
    return c


def _renaming(exprs):
    """symbol -> canonical symbol, order-preserving within each class; None when some
    symbol is of a class this module does not know how to rebuild."""
    by_class = {}
    for s in _symbols(exprs):
        cls = type(s)
        if cls not in RENAMEABLE or getattr(s, "_assumptions_orig", None) is None:
            return None
        by_class.setdefault(cls, []).append(s)
    ren = {}
    for group in by_class.values():
        for k, s in enumerate(sorted(group, key=lambda s: s.sort_key())):
            ren[s] = _canonical_symbol(s, k)
    return ren


def rename(e, ren):
    """e with its symbols replaced by ``ren``, every other node kept as it is: arithmetic is
    rebuilt unevaluated in its own argument order (an iterative walk, memoised by identity)."""
    if not isinstance(e, sympy.Basic):
        return e
    memo = {}
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if id(x) in memo:
            continue
        if not x.args:
            memo[id(x)] = (x, ren.get(x, x))
            continue
        if not ready:
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if id(a) not in memo)
            continue
        new = [memo[id(a)][1] for a in x.args]
        if all(a is b for a, b in zip(new, x.args)):
            out = x
        elif isinstance(x, (Add, Mul, Pow)):
            out = x.func(*new, evaluate=False)
        else:
            out = x.func(*new)
        memo[id(x)] = (x, out)
    return memo[id(e)][1]


def _key(e, ren):
    """A hashable picture of e's structure with its symbols renamed (no SymPy object built)."""
    memo = {}
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if id(x) in memo:
            continue
        if not x.args:
            memo[id(x)] = ren.get(x, x)
            continue
        if not ready:
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if id(a) not in memo)
            continue
        memo[id(x)] = (type(x),) + tuple(memo[id(a)] for a in x.args)
    return memo[id(e)]


def up_to_renaming(fn):
    """Memoise ``fn(*exprs)`` (SymPy expressions in, one out) up to a renaming of symbols.

    A miss calls ``fn`` on the expressions themselves and keeps its answer with canonical
    symbols; a hit renames that answer back to the caller's symbols.
    """
    memo = {}

    @wraps(fn)
    def cached(*exprs):
        ren = _renaming(exprs)
        if ren is None:
            return fn(*exprs)
        key = tuple(_key(e, ren) for e in exprs)
        hit = memo.get(key)
        if hit is not None:
            return rename(hit, {c: s for s, c in ren.items()})
        out = fn(*exprs)
        if out is not None:
            if len(memo) > _MAX_MEMO:
                memo.clear()
            if not _symbols([out]) - set(ren):       # (an answer with new symbols is not kept)
                memo[key] = rename(out, ren)
        return out
    cached.cache_clear = memo.clear
    cached.memo = memo
    return cached
