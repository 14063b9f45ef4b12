"""The tensor graph of a problem, and PyTorch's autograd flags for every tensor.

A spec node is a `Tensor` symbol whose definition is a SymPy expression over inputs,
dims and earlier nodes.  `requires_grad` follows PyTorch: an input has what the spec
says; an op's result requires grad when a differentiable argument does (comparisons,
constants and ``detach`` never do).  A tensor is a leaf when it is an input or does
not require grad -- so ``detach(x)`` is a leaf, and so is a node built only from
inputs with ``requires_grad: false``.
"""
from .ops import is_differentiable
from .tensor import Tensor


def expr_requires_grad(expr, rg):
    """Whether PyTorch would set requires_grad on the result of ``expr``."""
    memo = {}

    def walk(e):
        if e in memo:
            return memo[e]
        if isinstance(e, Tensor):
            r = rg.get(e.name, False)
        elif not e.args or not is_differentiable(e):
            r = False
        else:
            r = any(walk(a) for a in e.args)
        memo[e] = r
        return r
    return walk(expr)


def requires_grad_map(prob):
    rg = {d.name: d.requires_grad for d in prob.inputs}
    for n in prob.nodes:
        rg[n.name] = expr_requires_grad(n.expr, rg)
    return rg


class Graph:
    """Definitions and flags: what the derivation and the schedule walk over."""

    def __init__(self, prob):
        self.prob = prob
        self.defs = {n.symbol: n.expr for n in prob.nodes}
        self.by_name = prob.tensors
        self.requires_grad = requires_grad_map(prob)
        self.is_leaf = {}
        for d in prob.inputs:
            self.is_leaf[d.name] = True
        for n in prob.nodes:
            self.is_leaf[n.name] = not self.requires_grad[n.name]
        # reuse: a node's definition -> its name, so closed forms mention forward results
        self.named = {}
        for n in prob.nodes:
            if n.expr.args and n.expr not in self.named:
                self.named[n.expr] = n.symbol
        # domain facts: a probability vector (domain simplex) sums to one along its last dim
        from sympy import Tuple, Integer, S
        from .ops.base import flag
        from .ops.reduce import SumOp
        for d in prob.inputs:
            if d.domain == "simplex" and d.shape:
                last = Tuple(Integer(len(d.shape) - 1))
                for keep in (True, False):
                    self.named[SumOp(d.symbol, last, flag(keep))] = S.One

    def definition(self, sym):
        return self.defs.get(sym)

    def flags(self, name):
        return self.requires_grad[name], self.is_leaf[name]
