"""Reverse-mode symbolic differentiation over the tensor graph.

The engine does the bookkeeping, the op table does the calculus (as in tinygrad):
units are spec nodes, `TensorOp` applications and maximal elementwise regions; they are
visited in reverse topological order from an output, each unit's adjoint is the sum of
the contributions of its users (fan-out summed), and each contribution is

* for a `TensorOp`: the op's own vector-Jacobian rule (`op.vjp`);
* for an elementwise region: ``g * dE/dL`` by SymPy's scalar calculus, summed back to
  the leaf's shape by `unbroadcast` (broadcasting is handled here, once, not by rules).

Adjoints are kept in broadcast form (a scalar stands for a constant tensor) and
simplified where they are made, so nothing is expanded and the cost is independent of
tensor sizes.  Closed forms mention the spec's nodes by name (forward results are
reused: ``1 - h**2`` for a ``tanh`` node ``h``), which keeps deep networks linear in size.

The cost of a step is bounded too, so a chain of N nodes derives in time linear in N: an
adjoint that grows long (the product of every local partial along a chain) is named by
`symgrad.diff.adjoints` and enters later steps as that name; forward values are put back by
name with a memo (`symgrad.diff.reuse`); and SymPy's calculus and simplification answer
each distinct local question once (`symgrad.canon`).
"""
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, List

import sympy
from sympy import S, Dummy, Tuple, Integer, DiracDelta

from ..errors import SymgradError
from ..ops import is_differentiable, region_leaves, TensorOp
from ..ops.base import flag
from ..ops.elementwise import masks_on_inputs
from ..ops.reduce import SumOp
from ..ops.shape import OnesLikeOp, ZerosLikeOp
from .canon import up_to_renaming, RENAMEABLE
from .simplify import tidy
from ..tensor import Tensor, shape_of, numel


# An adjoint whose arithmetic (Add/Mul/Pow nodes down to the first function or tensor op)
# has more nodes than this enters later steps as one `Hidden` symbol.  Beyond this size
# `tidy` no longer tries cancel() either: it works factor by factor, so hiding costs little.
HIDE_ABOVE = 60


def unbroadcast(g, from_shape, to_shape):
    """Sum an adjoint of (logical) shape ``from_shape`` back to ``to_shape``.

    ``g`` itself may be smaller than ``from_shape`` (it broadcasts to it); along a dim
    where ``g`` is constant, summing is multiplying by the size.
    """
    from_shape, to_shape = tuple(from_shape), tuple(to_shape)
    if from_shape == to_shape:
        return g
    gs = shape_of(g)
    rf, rg, rt = len(from_shape), len(gs), len(to_shape)
    keep, drop = [], []
    factor = S.One
    for k in range(rf):
        fd = from_shape[k]
        gax, tax = k - (rf - rg), k - (rf - rt)
        g_var = gax >= 0 and gs[gax] != 1
        t_bcast = tax < 0 or to_shape[tax] == 1
        if not t_bcast:
            continue
        if g_var and fd != 1:
            (keep if tax >= 0 else drop).append(gax)
        elif gax >= 0 and tax < 0:
            drop.append(gax)          # a size-1 leading axis of g: drop it
            if fd != 1:
                factor *= fd
        elif fd != 1:
            factor *= fd
    if keep:
        g = SumOp(g, Tuple(*map(Integer, keep)), flag(True))
    if drop:
        g = SumOp(g, Tuple(*map(Integer, drop)), flag(False))
    return g * factor




def partial(expr, leaf, leaves):
    """d expr / d leaf for an elementwise region, as an elementwise expression."""
    subs = {}
    back = {}
    for L in leaves:
        if not isinstance(L, Tensor):
            d = Dummy(real=True)
            subs[L] = d
            back[d] = L
    e = expr.xreplace(subs) if subs else expr
    d = _derivative(e, subs.get(leaf, leaf))
    if d is None:
        raise SymgradError("no derivative rule for %s" % expr)
    return d.xreplace(back) if back else d


class _RealAbs(sympy.Function):
    """``Abs`` of a real argument, for the calculus only: every tensor is real, but SymPy cannot
    always see that an argument is (``asin(x)`` for a real ``x``) and differentiates ``Abs`` of
    a possibly complex one through ``re``/``im``; ``d|u| = sign(u) du`` is what PyTorch does."""

    def fdiff(self, argindex=1):
        return sympy.sign(self.args[0])


@up_to_renaming
def _derivative(e, var):
    """d e / d var by SymPy's calculus, with PyTorch's zero gradient for sign and at the
    kinks DiracDelta stands for, and real arguments of ``Abs``; None when SymPy has no rule."""
    if e.has(sympy.Abs):
        e = e.replace(lambda x: isinstance(x, sympy.Abs), lambda x: _RealAbs(x.args[0]))
    back = {}
    if e.has(sympy.sign):              # PyTorch's sign has gradient 0 everywhere
        signs = {x: Dummy(real=True) for x in e.atoms(sympy.sign) if x.has(var)}
        back = {v: k for k, v in signs.items()}
        e = e.xreplace(signs)
    d = sympy.diff(e, var)
    if d.has(DiracDelta):
        d = d.replace(lambda x: isinstance(x, DiracDelta), lambda x: S.Zero)
    if d.has(sympy.Derivative) or d.has(sympy.Subs):
        return None
    if d.has(_RealAbs):
        d = d.replace(lambda x: isinstance(x, _RealAbs), lambda x: sympy.Abs(x.args[0]))
    return d.xreplace(back) if back else d


def contribution(u, arg, G, reuse=None, index=None, local=None):
    """What unit ``u`` sends back to its argument ``arg`` for the adjoint ``G``: the op's
    vector-Jacobian rule (``index``: which tensor argument) or, for an elementwise region,
    ``G`` times the ``local`` partial; summed back to ``arg``'s shape where it was broadcast
    (for every op, here, so no rule does it), forward values named, simplified."""
    if isinstance(u, TensorOp):
        c = u.vjp(index, G)
        c = unbroadcast(c, shape_of(c), shape_of(arg))
        return tidy(reuse(c) if reuse else c)
    return tidy(unbroadcast(G * local, shape_of(u), shape_of(arg)))


@dataclass
class Step:
    """One local step of the reverse sweep, as recorded for the notes."""
    unit: Any            # the expression whose adjoint flows back
    arg: Any             # the argument that receives a contribution
    local: Any           # elementwise partial (None for a TensorOp rule)
    raw: Any             # what arg received (simplified; possibly with `Hidden` symbols)
    index: Any = None    # which tensor argument of a TensorOp unit
    reuse: Any = None    # forward values by name (`Reuse`), as the sweep used them
    expand: Any = None   # the sweep's `Expander`, when it hid adjoints

    @property
    def contribution(self):
        return self.expand(self.raw) if self.expand is not None else self.raw

    def rule(self, G):
        """The same step for another adjoint ``G`` (the notes use a name such as \\bar{c})."""
        c = contribution(self.unit, self.arg, G, self.reuse, self.index, self.local)
        return self.expand(c) if self.expand is not None else c


class Hidden(Tensor):
    """An adjoint that later steps of a sweep see as one symbol (of the adjoint's shape)."""
    _count = itertools.count(1)

    def __new__(cls, shape):
        return Tensor.__new__(cls, "\u0002adjoint%d" % next(cls._count), shape, real=True)


RENAMEABLE.add(Hidden)


def _too_big(e, limit=HIDE_ABOVE):
    """Whether the arithmetic of e (what `tidy` and a product walk) has more than limit nodes."""
    if not isinstance(e, (sympy.Add, sympy.Mul, sympy.Pow)):
        return False
    seen, stack, n = set(), [e], 0
    while stack:
        x = stack.pop()
        if id(x) in seen or x.is_Number:
            continue
        seen.add(id(x))
        n += 1
        if n > limit:
            return True
        if isinstance(x, (sympy.Add, sympy.Mul, sympy.Pow)):
            stack.extend(x.args)
    return False


class Expander:
    """Replaces every `Hidden` symbol of an expression by the adjoint it stands for.

    Each symbol and each shared subexpression is rebuilt once (an iterative walk over the
    expression as a DAG, memoised by identity), and a product whose factor is a hidden
    product is built once from all the factors, so unhiding the product of N local
    partials costs O(N), not O(N^2).
    """

    def __init__(self, hidden):
        self.hidden = hidden            # Hidden symbol -> what it stands for
        self.memo = {}                  # id(expression) -> (expression, expanded)

    def __call__(self, root):
        memo = self.memo
        stack = [(root, None)]
        while stack:
            x, kids = stack.pop()
            if id(x) in memo:
                continue
            if kids is None:
                kids = self._kids(x)
                todo = [k for k in kids if id(k) not in memo]
                if todo:
                    stack.append((x, kids))
                    stack.extend((k, None) for k in todo)
                    continue
            new = [memo[id(k)][1] for k in kids]
            if isinstance(x, Hidden):
                out = new[0]
            elif all(a is b for a, b in zip(new, x.args)) and len(new) == len(x.args):
                out = x
            else:
                out = x.func(*new)
            memo[id(x)] = (x, out)
        return memo[id(root)][1]

    def _kids(self, x):
        if isinstance(x, Hidden):
            return [self.hidden[x]]
        if not isinstance(x, sympy.Mul):
            return list(x.args)
        out, todo = [], list(reversed(x.args))
        while todo:                        # a hidden product's factors join this product
            a = todo.pop()
            if isinstance(a, Hidden) and isinstance(self.hidden[a], sympy.Mul):
                todo.extend(reversed(self.hidden[a].args))
            else:
                out.append(a)
        return out


class Adjoints(Mapping):
    """Tensor symbol -> adjoint, each expanded (no `Hidden` symbol left) when first read."""

    def __init__(self, raw, expand):
        self.raw, self.expand, self.done = raw, expand, {}

    def __getitem__(self, k):
        if k not in self.done:
            self.done[k] = self.expand(self.raw[k])
        return self.done[k]

    def __iter__(self):
        return iter(self.raw)

    def __len__(self):
        return len(self.raw)


@dataclass
class Sweep:
    """The result of one reverse sweep from an output."""
    output: str
    upstream: Any
    adjoints: dict = field(default_factory=dict)     # Tensor symbol -> adjoint (broadcast form)
    order: List = field(default_factory=list)        # spec nodes in the order they were processed
    steps: List[Step] = field(default_factory=list)
    wanted: frozenset = frozenset()                  # the symbols it was asked for
    expand: Any = None                               # the `Expander` of its hidden adjoints


def sweep(graph, out_sym, upstream, wanted, names=None):
    """Reverse sweep from ``out_sym`` with adjoint ``upstream`` (1, or the upstream gradient ``grad_o``); adjoints of ``wanted`` symbols.

    With ``names`` (an `AdjointNames`), the adjoint of each candidate unit is offered to it
    and the sweep goes on with what it returns (a named adjoint's symbol, or the value)."""
    defs, reuse = graph.defs, graph.reuse
    stop = graph.boundaries
    reach_memo = {}

    def reaches(e):
        """Whether a wanted tensor is reachable from e along differentiable paths."""
        r = reach_memo.get(e)
        if r is not None:
            return r
        stack = [e]                       # iterative: deep graphs must not recurse
        while stack:
            x = stack[-1]
            if x in reach_memo:
                stack.pop()
                continue
            if isinstance(x, Tensor):
                if x in wanted:
                    kids, verdict = [], True
                else:
                    d = defs.get(x)
                    ok = d is not None and graph.requires_grad.get(x.name, False)
                    kids, verdict = ([d] if ok else []), None if ok else False
            elif not x.args or not is_differentiable(x):
                kids, verdict = [], False
            else:
                kids, verdict = list(x.tensors if isinstance(x, TensorOp) else x.args), None
            if verdict is not None:
                reach_memo[x] = verdict
                stack.pop()
                continue
            todo = [k for k in kids if k not in reach_memo]
            if todo:
                stack.extend(todo)
                continue
            reach_memo[x] = any(reach_memo[k] for k in kids)
            stack.pop()
        return reach_memo[e]

    def children(u):
        if isinstance(u, Tensor):
            d = defs.get(u)
            return [d] if d is not None and reaches(d) else []
        if isinstance(u, TensorOp):
            return [a for a in u.tensors if reaches(a)]
        return [L for L in region_leaves(u, stop) if reaches(L)]

    def consumers(u):
        """How many contributions u's adjoint feeds (through a node's definition)."""
        kids = children(u)
        if isinstance(u, Tensor) and len(kids) == 1 and not isinstance(kids[0], Tensor):
            return len(children(kids[0]))
        return len(kids)

    res = Sweep(out_sym.name, upstream, wanted=frozenset(wanted))
    if not reaches(out_sym):
        return res
    order, visited = [], set()
    stack = [(out_sym, False)]
    while stack:                                   # iterative DFS post-order
        u, done = stack.pop()
        if done:
            order.append(u)
            continue
        if u in visited:
            continue
        visited.add(u)
        stack.append((u, True))
        for c in children(u):
            if c not in visited:
                stack.append((c, False))
    below = {}                                     # unit -> the wanted tensors it leads to
    if names is not None:
        for u in order:                            # children first
            got = {u} if u in wanted else set()
            for c in children(u):
                got |= below[c]
            below[u] = frozenset(got)
    order.reverse()
    contrib = {out_sym: [upstream]}
    hidden = {}                           # Hidden symbol -> the adjoint it stands for
    for u in order:
        parts = contrib.pop(u, None)
        if not parts:
            continue
        G = reuse(tidy(sympy.Add(*parts))) if len(parts) > 1 else parts[0]
        if names is not None and G != 0:
            G = names.offer(u, G, consumers(u), len(below[u]))
        if isinstance(u, Tensor):
            res.adjoints[u] = G
        if G == 0:
            continue                      # nothing flows back (sign, masks, a softmax's sum)
        if isinstance(u, Tensor):
            if u in defs:
                res.order.append(u)
            d = defs.get(u)
            if d is not None and reaches(d):
                contrib.setdefault(d, []).append(G)
            continue
        if _too_big(G):
            H = Hidden(shape_of(G))
            hidden[H] = G
            G = H
        if isinstance(u, TensorOp):
            for i, a in enumerate(u.tensors):
                if reaches(a):
                    c = contribution(u, a, G, reuse, index=i)
                    res.steps.append(Step(u, a, None, c, i, reuse))
                    if c != 0:
                        contrib.setdefault(a, []).append(c)
            continue
        leaves = region_leaves(u, stop)
        for L in leaves:
            if not reaches(L):
                continue
            d = partial(u, L, leaves)
            d = masks_on_inputs(reuse(d))
            c = contribution(u, L, G, local=d)
            res.steps.append(Step(u, L, d, c, reuse=reuse))
            if c != 0:
                contrib.setdefault(L, []).append(c)
    if hidden:
        res.expand = expand = Expander(hidden)
        res.adjoints = Adjoints(res.adjoints, expand)
        for st in res.steps:
            st.expand = expand
    return res


def strip_leading(g):
    """unsqueeze(v, 0) broadcasts like v: drop it from an adjoint."""
    from ..ops.shape import UnsqueezeOp
    if isinstance(g, sympy.Mul):
        args = [strip_leading(f) for f in g.args]
        return g if args == list(g.args) else sympy.Mul(*args)
    while isinstance(g, UnsqueezeOp) and int(g.args[1]) == 0:
        g = g.args[0]
    return g


def materialize_for(expr, x):
    """A closed form of exactly x's shape (a constant becomes c*ones_like(x))."""
    expr = strip_leading(expr)
    if expr == 0:
        return ZerosLikeOp(x) if x.tshape else S.Zero
    if shape_of(expr) != x.tshape:
        return expr * OnesLikeOp(x)
    return expr


def upstream_for(sym):
    """The upstream gradient: 1 for an output of one element, else grad_<o>."""
    if numel(sym.tshape) == 1:
        return S.One
    return Tensor("grad_" + sym.name, sym.tshape, real=True)
