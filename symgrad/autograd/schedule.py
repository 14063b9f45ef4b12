"""Autograd semantics: what a spec's ``backward`` schedule leaves in every ``.grad``.

`predict(derivation)` runs the schedule *symbolically*, the way PyTorch's engine runs it:

* the graph is the one PyTorch records (`symgrad.autograd.recorded`, built
  from the AST of each node's text), so it knows which backward nodes exist, which of
  them saved tensors, and which tensors are leaves;
* ``o.backward()`` runs every node reachable from ``o`` (newest first); without
  ``retain_graph=True`` it then frees their saved tensors, and a later backward that runs
  a freed node that had saved tensors raises -- ``sum``, ``mean`` and ``x + 1`` save none,
  so ``sum(x)`` can be backpropagated twice;
* PyTorch's refusals of the call itself are checked first, in PyTorch's order and with
  its exception type: ``.backward`` of a name that is a plain Python number
  (``AttributeError``); ``inputs=`` and then ``gradient=`` given a plain number
  (``TypeError``: ``gradient=2.5`` is refused even for a scalar output); an empty
  ``inputs=``; a gradient of another shape than the output (PyTorch does not broadcast
  it); an implicit gradient for an output of more than one element; an output that does
  not require grad; a tensor of ``inputs=`` that does not require grad (and a node with
  no derivative, ``heaviside``, raises when it runs).  The arguments are PyTorch's
  (`symgrad.spec.steps`): ``retain_graph`` defaults to ``create_graph``;
* with ``inputs=`` only the nodes on a path to an input run (and only they are freed),
  a non-leaf input's own ``grad_fn`` runs, and it retains its grad from then on
  (`AutogradGraph.needed`);
* each completed step adds, to every leaf that requires grad (of ``inputs=``, when given)
  and every retaining non-leaf whose ``grad_fn`` ran, that tensor's adjoint from a
  reverse sweep (`symgrad.diff.sweep.sweep`, started from 1 or the step's ``gradient=``, the
  derivation's own sweep when it is the same); ``zero_grad()`` sets them back to None.  A
  ``.grad`` is the tidied sum since the last ``zero_grad()`` (the notebook's ``5*a``), or
  None -- with the reason PyTorch has.  A raising step ends the schedule; the ``.grad``
  reported is the state after the last step that completed (PyTorch may already have
  accumulated into some leaves of the raising step before it raised; that partial state
  depends on the engine's threads and is neither predicted nor compared).

`prove(derivation, ...)` then runs the same schedule for real in PyTorch, on the values
the numeric check uses -- each call exactly as written, its arguments evaluated as PyTorch
evaluates them -- and compares every step's outcome (completes, or raises the predicted
exception type with the predicted kind of error), the ``.grad`` of every tensor after
every step (values through the closed forms' torch code, and every None), and
``requires_grad`` / ``is_leaf`` of
every tensor -- the schedule's own and the report's ``tensors``.  Each `ProofRow` has
``to_dict()`` and a one-line ``line()``.

The `Schedule` object (what the report and the notes renderer use):

* ``steps`` -- one `StepResult` per line of ``backward``: ``index`` (1-based), ``call``,
  ``kind`` ("backward" | "zero_grad"), ``output``, ``retain_graph``, ``ran`` (False after
  a raising step), ``error`` (a `ScheduleError` or None), ``grad`` (name -> SymPy closed
  form or None: the state after the step), ``added`` (name -> this step's contribution),
  ``executed`` (the `GradNode`s it ran, in the engine's order) and ``frees`` (those whose
  saved tensors it freed);
* ``grad`` -- name -> closed form or None after the last step that completed, for every
  tensor in spec order; ``why_none`` -- name -> why PyTorch leaves None there;
* ``flags`` -- name -> (requires_grad, is_leaf, grad_fn name) as PyTorch has them;
* ``raised_at`` -- the 1-based index of the raising step, or None; ``error`` -- its error;
* ``text(name)``, ``latex(name)``, ``to_dict()`` (SPEC section 5) and ``summary_lines()``.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import sympy
from sympy import S

from ..diff.sweep import sweep, upstream_for, materialize_for
from ..printing import to_text, to_latex
from .recorded import autograd_graph
from ..spec.steps import backward_call
from ..diff.simplify import tidy
from ..tensor import shape_of
from .refusals import ScheduleError, FREED_MESSAGE, with_retain_graph, _refusal


@dataclass
class StepResult:
    index: int
    call: str
    kind: str
    output: Optional[str]
    retain_graph: bool
    ran: bool = True
    error: Optional[ScheduleError] = None
    grad: dict = field(default_factory=dict)
    added: dict = field(default_factory=dict)
    executed: list = field(default_factory=list)
    frees: list = field(default_factory=list)

    def to_dict(self):
        return {"call": self.call, "error": self.error.to_dict() if self.error else None,
                "ran": self.ran,
                "grad": {k: _txt(v) for k, v in self.grad.items()} if self.ran and not self.error else None,
                "runs": [n.name for n in self.executed],
                "frees": [n.name for n in self.frees if n.saves]}


def _txt(e):
    return None if e is None else to_text(e)


class Schedule:
    def __init__(self, derivation, graph, steps, grad, why_none):
        self.derivation = derivation
        self.autograd = graph
        self.steps: List[StepResult] = steps
        self.grad = grad
        self.why_none = why_none
        prob = derivation.problem
        self.names = [d.name for d in prob.inputs] + [n.name for n in prob.nodes]
        self.flags = {n: graph.flags(n) for n in self.names}
        self.raised_at = next((s.index for s in steps if s.error), None)
        self.error = next((s.error for s in steps if s.error), None)
        self._texts = {}

    def text(self, name):
        e = self.grad[name]
        if e is None:
            return None
        if e not in self._texts:
            self._texts[e] = to_text(e)
        return self._texts[e]

    def latex(self, name):
        e = self.grad[name]
        return None if e is None else to_latex(e)

    def to_dict(self):
        return {
            "steps": [s.to_dict() for s in self.steps],
            "grad": {n: self.text(n) for n in self.names},
            "latex": {n: self.latex(n) for n in self.names},
            "why_none": {n: self.why_none[n] for n in self.names if self.grad[n] is None},
            "raised_at": self.raised_at,
            "autograd": {n: {"requires_grad": rg, "is_leaf": leaf, "grad_fn": gf,
                             "retains_grad": self.autograd.values[n].retains_grad}
                         for n, (rg, leaf, gf) in self.flags.items()},
        }

    def summary_lines(self):
        lines = []
        for s in self.steps:
            head = "step %d: %s" % (s.index, s.call)
            if not s.ran:
                lines.append("%s  (not run: step %d raised)" % (head, self.raised_at))
            elif s.error:
                first = s.error.message.split(". ")[0].rstrip(".")
                lines.append("%s raises %s: %s" % (head, s.error.type, first))
                lines.append("    why: %s" % s.error.explanation)
                lines.append("    fix: %s" % s.error.fix)
            elif s.kind == "zero_grad":
                lines.append("%s  -> every .grad is None again" % head)
            else:
                freed = [n for n in s.frees if n.saves]
                tail = ("; frees the saved tensors of %s" % ", ".join(n.raiser for n in freed[:4])
                        + (" ..." if len(freed) > 4 else "")) if freed else ""
                lines.append("%s  -> ok%s" % (head, tail))
        if self.raised_at is not None:
            done = self.raised_at - 1
            lines.append("after step %d (the last step that completed):" % done if done else
                         "no step completed:")
        for n in self.names:
            e = self.grad[n]
            if e is None:
                lines.append("%s.grad = None   (%s)" % (n, self.why_none[n]))
            else:
                lines.append("%s.grad = %s" % (n, to_text(e)))
        return lines

    def __repr__(self):
        return "\n".join(self.summary_lines())


# --------------------------------------------------------------------------------------
# prediction
# --------------------------------------------------------------------------------------

def value_types(prob, ag):
    """name -> what Python holds there: "int" for a dim, "int"/"float" for a plain number, else "tensor"."""
    types = dict.fromkeys(prob.dims, "int")
    types.update({n: v.number or "tensor" for n, v in ag.values.items()})
    return types


def predict(derivation):
    """Run the problem's ``backward`` list symbolically; return a `Schedule`."""
    prob = derivation.problem
    ag = autograd_graph(prob)
    syms = prob.tensors
    calls = {k: backward_call(st, prob) for k, st in enumerate(prob.backward or [], 1)
             if st.kind == "backward"}
    types = value_types(prob, ag)
    retaining = {v for v in ag.values.values() if v.retains_grad}
    # inputs= makes a non-leaf retain its grad: such tensors may hold a .grad too
    named = [ag.values[n] for c in calls.values() for n in (c.inputs or ())]
    holders = ag.holders() + [v for v in named if v.requires_grad and not v.is_leaf]
    wanted = {syms[h.name] for h in holders}
    freed = {}                 # GradNode -> index of the step that freed it
    parts = {}                 # holder TensorVal -> (how many, sum) of adjoints since the last zero_grad
    sweeps, totals = {}, {}
    steps = []
    stopped = False
    for k, st in enumerate(prob.backward or [], 1):
        res = StepResult(k, st.call, st.kind, st.output, st.retain_graph)
        steps.append(res)
        if stopped:
            res.ran = False
            continue
        if st.kind == "zero_grad":
            parts = {}
            res.grad = _state(ag, prob, parts, totals)
            continue
        bc = calls[k]
        v = ag.values[st.output]
        inputs = None if bc.inputs is None else [ag.values[n] for n in bc.inputs]
        err = _refusal(ag, prob, st, bc, v, types)
        if err is None:
            for t in inputs or ():
                if not t.is_leaf:
                    retaining.add(t)          # PyTorch calls retain_grad() on every input
            order, partial = ag.needed(v, inputs)
            res.executed = order
            err = _rerun(prob, st, k, order, partial, freed, steps)
        if err is not None:
            res.error = err
            stopped = True
            continue
        if not st.retain_graph:
            for n in res.executed:
                if n not in freed and _runs_raiser(n, partial):
                    freed[n] = k
                    res.frees.append(n)
        out_sym = syms[st.output]
        upstream = upstream_for(out_sym) if st.gradient is None else _broadcast_form(st.gradient)
        key = (st.output, sympy.srepr(upstream))
        if key not in sweeps:
            sweeps[key] = _sweep(derivation, out_sym, upstream, wanted)
        adj = sweeps[key].adjoints
        for h in ag.reached(v, res.executed, retaining, inputs):
            c = adj.get(syms[h.name], S.Zero)
            k_, acc = parts.get(h, (0, S.Zero))
            parts[h] = (k_ + 1, c if not k_ else sympy.Add(acc, c))
            res.added[h.name] = materialize_for(c, syms[h.name])
        res.grad = _state(ag, prob, parts, totals)
    for s in reversed(steps):
        if s.ran and not s.error:
            final = s.grad
            break
    else:
        final = {n: None for n in list(ag.values)}
    why = {n: _why_none(ag, n, steps, retaining) for n in ag.values}
    return Schedule(derivation, ag, steps, final, why)


def _sweep(derivation, out_sym, upstream, wanted):
    """The reverse sweep from an output: the derivation's own when it already has it."""
    have = derivation.sweeps.get(out_sym.name)
    named = getattr(derivation, "named", {}).get(out_sym.name)
    if have is not None and have.upstream == upstream and have.wanted == frozenset(wanted) \
            and (named is None or not named.made):       # values, not named adjoints
        return have
    return sweep(derivation.graph, out_sym, upstream, wanted)


def _broadcast_form(g):
    """A given gradient with its 0-d ones and zeros as plain 1 and 0 (a 0-d tensor of ones
    broadcasts like the number 1): ``3*ones_like(d)`` for a scalar ``d`` starts from 3."""
    from ..ops.shape import OnesLikeOp, ZerosLikeOp, OnesOp, ZerosOp
    rule = {}
    for e in g.atoms(OnesLikeOp, ZerosLikeOp, OnesOp, ZerosOp):
        if not shape_of(e):
            rule[e] = S.Zero if isinstance(e, (ZerosLikeOp, ZerosOp)) else S.One
    return g.xreplace(rule) if rule else g


def _runs_raiser(n, partial):
    """Whether running n runs the node of its chain that saved tensors."""
    return n.saves and (n not in partial or n.raiser == n.chain[0])


def _state(ag, prob, parts, cache):
    """name -> closed form (or None) for every tensor, from the accumulated parts: their sum
    is kept as it grows (SymPy's sum of a sum and a part is the sum of all the parts), so a
    long schedule costs the same per step."""
    syms = prob.tensors
    out = {}
    for name, v in ag.values.items():
        if v not in parts:
            out[name] = None
            continue
        k, acc = parts[v]
        key = (name, k > 1, acc)
        if key not in cache:
            cache[key] = materialize_for(tidy(acc) if k > 1 else acc, syms[name])
        out[name] = cache[key]
    return out


def _why_none(ag, name, steps, retaining):
    v = ag.values[name]
    if v.number:
        return "a plain Python %s, not a tensor" % v.number
    if not v.requires_grad:
        if v.origin.startswith("input"):
            return "an input with requires_grad: false"
        if "stop-gradient" in v.origin:
            return "%s: a leaf that does not require grad" % v.origin
        return "does not require grad (nothing it depends on differentiably requires grad)"
    if not v.is_leaf and v not in retaining:
        return "a non-leaf without retain_grad(); PyTorch warns when it is read"
    if any(s.kind == "zero_grad" and s.ran for s in steps):
        return "no backward reached it since the last zero_grad()"
    if not any(s.kind == "backward" and s.ran and not s.error for s in steps):
        return "no backward completed"
    return "no backward reached it"


def _rerun(prob, st, k, order, partial, freed, steps):
    """The first node the engine runs that raises: freed saved tensors, or no derivative."""
    for n in order:
        if n.not_implemented:
            return ScheduleError(
                "not_implemented", n.not_implemented,
                "%s runs %s, and PyTorch defines no derivative for it." % (st.call, n.where()),
                "cut the gradient before it (detach(...)) or use a differentiable function",
                node=n.name)
        if n in freed and _runs_raiser(n, partial):
            j = freed[n]
            earlier = steps[j - 1]
            saved = ", ".join("`%s`%s" % (f, " (%s)" % what if what else "") for f, what in n.saved) \
                or "its saved tensors"
            via = "" if n.raiser == n.name else ", whose chain includes %s" % n.raiser
            return ScheduleError(
                "freed", FREED_MESSAGE,
                "step %d, %s, runs %s%s again; it saved %s, which step %d, %s, freed when it "
                "backpropagated through that node without retain_graph=True."
                % (k, st.call, n.where(), via, saved, j, earlier.call),
                "%s in step %d" % (with_retain_graph(earlier.call), j),
                node=n.raiser, saved=n.saved, freed_by=j)
    return None


