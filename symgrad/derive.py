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
"""
from dataclasses import dataclass, field
from typing import Any, List

import sympy
from sympy import S, Dummy, Tuple, Integer, DiracDelta

from .errors import SymgradError
from .ops import is_differentiable, region_leaves, TensorOp
from .ops.base import flag
from .ops.reduce import SumOp
from .ops.shape import OnesLikeOp, ZerosLikeOp
from .simplify import tidy
from .tensor import Tensor, shape_of, numel


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
    var = subs.get(leaf, leaf)
    if e.has(sympy.sign):              # PyTorch's sign has gradient 0 everywhere
        signs = {x: Dummy(real=True) for x in e.atoms(sympy.sign) if x.has(var)}
        back.update({v: k for k, v in signs.items()})
        e = e.xreplace(signs)
    d = sympy.diff(e, var)
    if d.has(DiracDelta):
        d = d.replace(lambda x: isinstance(x, DiracDelta), lambda x: S.Zero)
    if d.has(sympy.Derivative) or d.has(sympy.Subs):
        raise SymgradError("no derivative rule for %s" % expr)
    return d.xreplace(back) if back else d


@dataclass
class Step:
    """One local step of the reverse sweep, for the notes."""
    unit: Any            # the expression whose adjoint flows back
    arg: Any             # the argument that receives a contribution
    local: Any           # elementwise partial (None for a TensorOp rule)
    contribution: Any


@dataclass
class Sweep:
    """The result of one reverse sweep from an output."""
    output: str
    seed: Any
    adjoints: dict = field(default_factory=dict)     # Tensor symbol -> adjoint (broadcast form)
    order: List = field(default_factory=list)        # spec nodes in the order they were processed
    steps: List[Step] = field(default_factory=list)
    wanted: frozenset = frozenset()                  # the symbols it was asked for


def sweep(graph, out_sym, seed, wanted):
    """Reverse sweep from ``out_sym`` with adjoint ``seed``; adjoints of ``wanted`` symbols."""
    defs, named = graph.defs, graph.named
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
        return [L for L in region_leaves(u) if reaches(L)]

    res = Sweep(out_sym.name, seed, wanted=frozenset(wanted))
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
    order.reverse()
    contrib = {out_sym: [seed]}
    for u in order:
        parts = contrib.pop(u, None)
        if not parts:
            continue
        G = tidy(sympy.Add(*parts)) if len(parts) > 1 else parts[0]
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
        if isinstance(u, TensorOp):
            for i, a in enumerate(u.tensors):
                if reaches(a):
                    c = u.vjp(i, G)
                    c = tidy(c.xreplace(named) if named else c)
                    res.steps.append(Step(u, a, None, c))
                    if c != 0:
                        contrib.setdefault(a, []).append(c)
            continue
        leaves = region_leaves(u)
        us = shape_of(u)
        for L in leaves:
            if not reaches(L):
                continue
            d = partial(u, L, leaves)
            if named:
                d = d.xreplace(named)
            c = tidy(unbroadcast(G * d, us, shape_of(L)))
            res.steps.append(Step(u, L, d, c))
            if c != 0:
                contrib.setdefault(L, []).append(c)
    return res


def strip_leading(g):
    """unsqueeze(v, 0) broadcasts like v: drop it from an adjoint."""
    from .ops.shape import UnsqueezeOp
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


def seed_for(sym):
    """The upstream gradient: 1 for an output of one element, else grad_<o>."""
    if numel(sym.tshape) == 1:
        return S.One
    return Tensor("grad_" + sym.name, sym.tshape, real=True)
