"""Second order: Hessian-vector products by a second reverse sweep, Hessians by batching it.

For a scalar ``f`` the gradient ``g = df/dx`` is a closed form over the forward graph (its
nodes by name) and the first sweep's named adjoints.  ``S = sum(g * v_x)``, for a direction
``v_x`` of ``x``'s shape, is one more node of the graph -- and so are the named adjoints,
with their definitions -- so the same reverse sweep (`symgrad.diff.sweep`) from ``S`` w.r.t.
``y`` gives the Hessian-vector product ``d/dy (df/dx . v_x)``, of ``y``'s shape, in closed
form, with every op's own vector-Jacobian rule.  Its adjoints are named as the first sweep's
are (`SecondNames`): the adjoint of ``grad_z`` is the tangent of ``z`` along ``v_x``
(``v_z``), that of a node ``h`` its second-order adjoint (``hvp_h``).  The Hessian is that
product at every basis direction at once (`symgrad.diff.batch`).

A gradient that is differentiated again must hold in every direction, as PyTorch's double
backward does: PyTorch differentiates ``inverse(X).T``, not the ``inverse(X)`` that an spd
``X`` allows.  So the first sweep is made without the symmetry of spd inputs when the
problem has one (`simplify.unconstrained`), and the symmetry is used on the result only.
"""
from contextlib import nullcontext

from sympy import S

from ..ops.reduce import SumOp, _reduction
from ..ops.registry import MissingFact
from ..tensor import Tensor, shape_of
from .adjoints import AdjointNames, Adjoint
from .batch import hessian_form
from .simplify import tidy, unconstrained, use_symmetry
from .sweep import sweep, materialize_for


class SecondGraph:
    """The forward graph plus nodes of the first sweep: its named adjoints and ``S``."""

    def __init__(self, graph, extra):
        self.base = graph
        self.defs = dict(graph.defs)
        self.defs.update(extra)
        self.requires_grad = dict(graph.requires_grad)
        self.requires_grad.update({s.name: True for s in extra})
        self.boundaries = graph.boundaries
        self.pre_activations = graph.pre_activations
        self.reuse = graph.reuse


class SecondNames(AdjointNames):
    """Names of the second sweep's adjoints: ``v_z`` for the adjoint of ``grad_z`` (the
    tangent of z along the direction), ``hvp_h`` for a node's second-order adjoint."""

    prefix = ""

    def __init__(self, graph, taken, first):
        super().__init__(graph, taken)
        self.first = first               # first-order adjoint symbol -> what it is the adjoint of

    def offer(self, u, G, consumers, targets):
        """Every tangent and second-order adjoint worth a name gets one here (they lead to one
        result, so the first sweep's rule would name none); `finish` puts the short ones used
        once back inline."""
        stem = self.stem(u)
        if stem is None or not self.worth(u, G):
            return G
        name = self.fresh(stem)
        sym = Tensor(name, shape_of(u), real=True)
        adj = Adjoint(sym, stem, G)
        self.defs.append(adj)
        self.by_symbol[sym] = adj
        return sym

    def stem(self, u):
        if u in self.first:
            return "v_" + self.first[u]
        if isinstance(u, Tensor):
            return "hvp_" + u.name if u in self.graph.base.defs else None
        node = self.pre.get(u)
        return None if node is None else "hvp_%s_pre" % node.name


class FirstOrder:
    """The gradient df/dx that is differentiated again, with the named adjoints it uses."""

    def __init__(self, form, adjoints):
        self.form = form                  # in terms of the adjoints' symbols
        self.adjoints = adjoints          # [Adjoint] in definition order (symbol, of, value)


def has_spd(problem):
    return any(d.domain == "spd" for d in problem.inputs)


def first_order(d, f, x):
    """df/dx for second order: the derivation's own closed form (and its named adjoints)
    when it is unconstrained, else a sweep of its own without symmetry or names."""
    prob = d.problem
    if x in prob.wrt and not has_spd(prob):
        g = d.gradient(f, x)
        return FirstOrder(g.form, [a for a in d.named[f].defs])
    names = prob.tensors
    with unconstrained():
        sw = sweep(d.graph, names[f], S.One, {names[x]})
    return FirstOrder(materialize_for(sw.adjoints.get(names[x], S.Zero), names[x]), [])


class SecondOrder:
    """d2f/dx dy: the Hessian-vector product (named and inline) and the Hessian."""

    def __init__(self, d, f, x, y, taken, direction):
        prob = d.problem
        names = prob.tensors
        self.output, self.x, self.y = f, x, y
        xs, ys = names[x], names[y]
        self.ys_shape = ys.tshape
        self.first = first_order(d, f, x)
        self.direction = Tensor(direction, xs.tshape, real=True)
        g = self.first.form
        s_sym = Tensor("_S", (), real=True)
        extra = {a.symbol: a.value for a in self.first.adjoints}
        extra[s_sym] = _reduction(SumOp)(g * self.direction)
        graph = SecondGraph(d.graph, extra)
        self.names = SecondNames(graph, taken, {a.symbol: a.of for a in self.first.adjoints})
        with unconstrained():
            sw = sweep(graph, s_sym, S.One, {ys}, self.names)
            hvp = materialize_for(sw.adjoints.get(ys, S.Zero), ys)
            inline = self.names.inline(hvp)               # first-order adjoints kept by name
            form = self.names.finish({"hvp": hvp})["hvp"]
            form = self._unwrap(form)
            try:
                h, self.hessian_error = hessian_form(inline, self.direction, ys.tshape), None
            except MissingFact as e:          # an op without a batching rule: the HVP stands
                h, self.hessian_error = None, "no closed-form Hessian: %s" % e
        self.connected = ys in sw.adjoints
        self.symmetric = has_spd(prob)
        self.hvp_named = self.finish(form)
        for a in self.names.defs:
            a.value = self.finish(a.value)
        self.hvp_expr = self.finish(inline)
        self.hessian_expr = None if h is None else self.finish(h)

    def finish(self, e):
        """The result at the point the check draws: an spd input is symmetric there."""
        return deep_tidy(e, symmetric=self.symmetric)

    def _unwrap(self, form):
        """An HVP that is one named adjoint is that adjoint's definition (no name for it)."""
        adj = self.names.by_symbol.get(form)
        if adj is None:
            return form
        self.names.defs.remove(adj)
        del self.names.by_symbol[form]
        return adj.value

    def uses(self):
        """The named adjoints the Hessian and its HVP need (first sweep's, then the HVP's own),
        directly or through other definitions, each in definition order."""
        second = {a.symbol: a for a in self.names.defs}
        first = {a.symbol: a for a in self.first.adjoints}
        need, todo = set(), [e for e in (self.hessian_expr, self.hvp_named) if e is not None]
        while todo:
            e = todo.pop()
            for s in e.free_symbols:
                a = second.get(s) or first.get(s)
                if a is not None and s not in need:
                    need.add(s)
                    todo.append(a.value)
        return [a.name for a in self.first.adjoints + self.names.defs if a.symbol in need]

    def inline_first(self, e):
        """``e`` with the first sweep's adjoints substituted too (latest first)."""
        for a in reversed(self.first.adjoints):
            if e.has(a.symbol):
                e = tidy(e.xreplace({a.symbol: a.value}))
        return e


def direction_name(x, taken):
    """``v_x``, or ``v_x_2`` ... where the spec already has that name."""
    name, k = "v_" + x, 1
    while name in taken:
        k += 1
        name = "v_%s_%d" % (x, k)
    return name


def deep_tidy(e, symmetric=False):
    """`tidy` at every level, bottom-up (each shared subexpression once), and the symmetry
    of spd inputs when ``symmetric``."""
    memo = {}

    def walk(x):
        if x.is_Atom:
            return x
        r = memo.get(x)
        if r is not None:
            return r
        args = [walk(a) for a in x.args]
        y = x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)
        if symmetric:
            y = use_symmetry(y)
        with unconstrained() if not symmetric else nullcontext():
            y = tidy(y)
        memo[x] = y
        return y
    return walk(e)
