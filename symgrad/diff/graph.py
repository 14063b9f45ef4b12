"""The tensor graph of a problem, and PyTorch's autograd flags for every tensor.

A spec node is a `Tensor` symbol whose definition is a SymPy expression over inputs,
dims and earlier nodes.  `requires_grad` follows PyTorch: an input has what the spec
says; an op's result requires grad when a differentiable argument does (comparisons,
constants and ``detach`` never do).  A tensor is a leaf when it is an input or does
not require grad -- so ``detach(x)`` is a leaf, and so is a node built only from
inputs with ``requires_grad: false``.
"""
from sympy import Add, Mul, Pow, S, Tuple, Integer

from ..ops import is_elementwise, TensorOp
from ..tensor import shape_of
from ..ops.base import flag
from ..ops.reduce import SumOp, MeanOp, constant_along
from .reuse import Reuse


def requires_grad_map(prob):
    """name -> requires_grad, as PyTorch sets it (see `flags_map`)."""
    return {name: f[0] for name, f in flags_map(prob).items()}


def flags_map(prob):
    """name -> (requires_grad, is_leaf) of every tensor, from the graph PyTorch records.

    The recorded graph (`symgrad.autograd.recorded`) follows the node texts as
    PyTorch runs them, so ``b: a`` is the leaf ``a`` itself and ``a*0`` still records a node.
    """
    from ..autograd.recorded import autograd_graph
    ag = autograd_graph(prob)
    return {name: ag.flags(name)[:2] for name in ag.values}


class Graph:
    """Definitions and flags: what the derivation and the schedule walk over."""

    def __init__(self, prob):
        self.prob = prob
        self.defs = {n.symbol: n.expr for n in prob.nodes}
        self.by_name = prob.tensors
        flags = flags_map(prob)
        self.requires_grad = {name: f[0] for name, f in flags.items()}
        self.is_leaf = {name: f[1] for name, f in flags.items()}
        # reuse: a node's definition -> its name, so closed forms mention forward results
        self._reuse = None
        self.named = {}
        for n in prob.nodes:
            if n.expr.args and n.expr not in self.named:
                self.named[n.expr] = n.symbol
        # pre-activations: a node h = f(pre), f an elementwise function of one compound
        # argument, has ``pre`` as a unit of its own (its adjoint is grad_h_pre)
        self.boundaries = {}           # compound pre-activations: units of their own
        self.pre_activations = {}      # every pre-activation (a compound one or an op)
        for n in prob.nodes:
            pre = _pre_activation(n.expr)
            if pre is not None:
                self.pre_activations.setdefault(pre, n.symbol)
                if not isinstance(pre, TensorOp):
                    self.boundaries.setdefault(pre, n.symbol)
        self._centered_facts(prob)
        # domain facts: a probability vector (domain simplex) sums to one along its last dim
        for d in prob.inputs:
            if d.domain == "simplex" and d.shape:
                last = Tuple(Integer(len(d.shape) - 1))
                for keep in (True, False):
                    self.named[SumOp(d.symbol, last, flag(keep))] = S.One

    def _centered_facts(self, prob):
        """A tensor centred along dims sums to zero along them: ``xc = x - mean(x, dims,
        keepdim=True)``, and a product of it with factors constant along those dims (``xh =
        xc/sqrt(v + eps)``)."""
        centered = {}
        for n in prob.nodes:
            ds = _centered_dims(n.expr, self.defs, centered)
            if ds is None:
                continue
            centered[n.symbol] = ds
            for cls in (SumOp, MeanOp):
                for keep in (True, False):
                    self.named[cls(n.symbol, Tuple(*map(Integer, ds)), flag(keep))] = S.Zero

    @property
    def reuse(self):
        if self._reuse is None:
            self._reuse = Reuse(self.named)
        return self._reuse

    def definition(self, sym):
        return self.defs.get(sym)

    def flags(self, name):
        return self.requires_grad[name], self.is_leaf[name]


def _pre_activation(e):
    """``pre`` when ``e`` is f(pre, constants...) for an elementwise function f and ``pre`` a
    compound elementwise expression (a sum, product or power) or a tensor op, else None."""
    if not is_elementwise(e) or isinstance(e, (Add, Mul, Pow)) or not getattr(e, "differentiable", True):
        return None
    tensors = [a for a in e.args if a.free_symbols]
    if len(tensors) == 1 and isinstance(tensors[0], (Add, Mul, Pow, TensorOp)) and tensors[0] is e.args[0]:
        return tensors[0]
    return None


def _centered_dims(e, defs, centered):
    """The dims along which ``e`` sums to zero, or None."""
    if isinstance(e, Add) and len(e.args) == 2:
        for a, b in (e.args, e.args[::-1]):
            m = -b
            m = defs.get(m, m)
            if isinstance(m, MeanOp) and m.keepdim and m.args[0] == a:
                return tuple(m.dims)
    if isinstance(e, Mul):
        for f in e.args:
            ds = centered.get(f)
            if ds is not None and all(constant_along(g, ds, len(shape_of(e))) for g in e.args if g is not f):
                return ds
    return None
