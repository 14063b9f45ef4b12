"""Autograd semantics: what a spec's ``backward`` schedule leaves in every ``.grad``.

`predict(derivation)` runs the schedule *symbolically*, the way PyTorch's engine runs it:

* the graph is the one PyTorch records (`symgrad.autograd.recorded`, built
  from the AST of each node's text), so it knows which backward nodes exist, which of
  them saved tensors, and which tensors are leaves;
* ``o.backward()`` runs every node reachable from ``o`` (newest first); without
  ``retain_graph=True`` it then frees their saved tensors, and a later backward that runs
  a freed node that had saved tensors raises -- ``sum``, ``mean`` and ``x + 1`` save none,
  so ``sum(x)`` can be backpropagated twice;
* PyTorch's other two refusals are checked first: an implicit gradient for an output of
  more than one element, and an output that does not require grad (and a node with no
  derivative, ``heaviside``, raises when it runs);
* each completed step adds, to every leaf that requires grad and every ``retain_grad()``
  non-leaf it reaches, that tensor's adjoint from a reverse sweep (`symgrad.diff.sweep.sweep`,
  seeded with 1 or the step's ``gradient=``); ``zero_grad()`` sets them back to None.  A
  ``.grad`` is the tidied sum since the last ``zero_grad()`` (the notebook's ``5*a``), or
  None -- with the reason PyTorch has.  A raising step ends the schedule; the ``.grad``
  reported is the state after the last step that completed (PyTorch may already have
  accumulated into some leaves of the raising step before it raised; that partial state
  depends on the engine's threads and is neither predicted nor compared).

`prove(derivation, ...)` then runs the same schedule for real in PyTorch, on the values
the numeric check uses, and compares every step's outcome (completes, or raises with the
predicted kind of error), the ``.grad`` of every tensor after every step (values through
the closed forms' torch code, and every None), and ``requires_grad`` / ``is_leaf`` of
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
import ast
from dataclasses import dataclass, field
from typing import List, Optional

import sympy
from sympy import S

from ..diff.sweep import sweep, seed_for, materialize_for
from ..printing import to_text, to_latex
from .recorded import autograd_graph
from ..diff.simplify import tidy
from ..tensor import numel, fmt_shape

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")
IMPLICIT_MESSAGE = "grad can be implicitly created only for scalar outputs"
NO_GRAD_MESSAGE = "element 0 of tensors does not require grad and does not have a grad_fn"

ERROR_KINDS = {
    "freed": "saved tensors freed by an earlier backward",
    "implicit_grad": "implicit gradient for a non-scalar output",
    "no_grad": "the output does not require grad",
    "not_implemented": "a node without a derivative",
}


def error_kind(message):
    """Classify one of PyTorch's messages (what `prove` compares)."""
    if "backward through the graph a second time" in message:
        return "freed"
    if "implicitly created only for scalar outputs" in message:
        return "implicit_grad"
    if "does not require grad" in message:
        return "no_grad"
    if "not implemented" in message:
        return "not_implemented"
    return "other"


@dataclass
class ScheduleError:
    kind: str                   # a key of ERROR_KINDS
    message: str                # PyTorch's own text
    explanation: str            # why, in terms of this spec
    fix: str
    node: Optional[str] = None  # the backward node that raises
    saved: tuple = ()           # (field, what) it had saved
    freed_by: Optional[int] = None
    type: str = "RuntimeError"

    def to_dict(self):
        d = {"type": self.type, "message": self.message, "kind": self.kind,
             "explanation": self.explanation, "fix": self.fix}
        if self.node:
            d["node"] = self.node
        if self.saved:
            d["saved"] = [f for f, _ in self.saved]
        if self.freed_by is not None:
            d["freed_by"] = self.freed_by
        return d


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

def predict(derivation):
    """Run the problem's ``backward`` list symbolically; return a `Schedule`."""
    prob = derivation.problem
    ag = autograd_graph(prob)
    syms = prob.tensors
    holders = ag.holders()
    wanted = {syms[h.name] for h in holders}
    freed = {}                 # GradNode -> index of the step that freed it
    parts = {}                 # holder TensorVal -> [adjoints since the last zero_grad]
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
        v = ag.values[st.output]
        err = _refusal(ag, prob, st, v)
        if err is None:
            order = ag.executed(v)
            res.executed = order
            err = _rerun(prob, st, k, order, freed, steps)
        if err is not None:
            res.error = err
            stopped = True
            continue
        if not st.retain_graph:
            for n in res.executed:
                if n not in freed:
                    freed[n] = k
                    res.frees.append(n)
        out_sym = syms[st.output]
        seed = st.gradient if st.gradient is not None else seed_for(out_sym)
        key = (st.output, sympy.srepr(seed))
        if key not in sweeps:
            sweeps[key] = sweep(derivation.graph, out_sym, seed, wanted)
        adj = sweeps[key].adjoints
        for h in ag.reached(v, res.executed):
            c = adj.get(syms[h.name], S.Zero)
            parts.setdefault(h, []).append(c)
            res.added[h.name] = materialize_for(c, syms[h.name])
        res.grad = _state(ag, prob, parts, totals)
    for s in reversed(steps):
        if s.ran and not s.error:
            final = s.grad
            break
    else:
        final = {n: None for n in list(ag.values)}
    why = {n: _why_none(ag, n, steps) for n in ag.values}
    return Schedule(derivation, ag, steps, final, why)


def _state(ag, prob, parts, cache):
    """name -> closed form (or None) for every tensor, from the accumulated parts."""
    syms = prob.tensors
    out = {}
    for name, v in ag.values.items():
        ps = parts.get(v)
        if not ps:
            out[name] = None
            continue
        key = (name, tuple(ps))
        if key not in cache:
            total = tidy(sympy.Add(*ps)) if len(ps) > 1 else ps[0]
            cache[key] = materialize_for(total, syms[name])
        out[name] = cache[key]
    return out


def _why_none(ag, name, steps):
    v = ag.values[name]
    if not v.requires_grad:
        if v.origin.startswith("input"):
            return "an input with requires_grad: false"
        if "stop-gradient" in v.origin:
            return "%s: a leaf that does not require grad" % v.origin
        return "does not require grad (nothing it depends on differentiably requires grad)"
    if not v.is_leaf and not v.retains_grad:
        return "a non-leaf without retain_grad(); PyTorch warns when it is read"
    if any(s.kind == "zero_grad" and s.ran for s in steps):
        return "no backward reached it since the last zero_grad()"
    if not any(s.kind == "backward" and s.ran and not s.error for s in steps):
        return "no backward completed"
    return "no backward reached it"


def _refusal(ag, prob, st, v):
    """PyTorch's checks before the engine runs: no grad at all, or an implicit gradient."""
    sym = prob.tensors[st.output]
    o = st.output
    if not v.requires_grad:
        if v.origin.startswith("input"):
            reason = "'%s' is an input with requires_grad: false" % o
            fix = "set requires_grad: true on input '%s'" % o
        elif "stop-gradient" in v.origin:
            reason = "'%s' is %s, a leaf that does not require grad" % (o, v.origin.split(" (")[0])
            fix = "backpropagate through the tensor before detach(), or drop detach()"
        else:
            reason = ("nothing '%s' is computed from requires grad along a differentiable path "
                      "(inputs with requires_grad: false, detach(), comparisons and constants cut the graph)" % o)
            fix = "set requires_grad: true on an input that '%s' depends on differentiably" % o
        return ScheduleError("no_grad", NO_GRAD_MESSAGE,
                             "%s runs backward from '%s', but %s, so it has no grad_fn to start from."
                             % (st.call, o, reason), fix)
    if st.gradient is None and numel(sym.tshape) != 1:
        return ScheduleError(
            "implicit_grad", IMPLICIT_MESSAGE,
            "%s gives no gradient, and PyTorch creates the implicit gradient 1 only for an output of "
            "one element; '%s' has shape %s." % (st.call, o, fmt_shape(sym.tshape)),
            "%s.backward(gradient=ones_like(%s)) (a vector-Jacobian product), or backpropagate "
            "from a scalar such as sum(%s)" % (o, o, o))
    return None


def _rerun(prob, st, k, order, freed, steps):
    """The first node the engine runs that raises: freed saved tensors, or no derivative."""
    for n in order:
        if n.not_implemented:
            return ScheduleError(
                "not_implemented", n.not_implemented,
                "%s runs %s, and PyTorch defines no derivative for it." % (st.call, n.where()),
                "cut the gradient before it (detach(...)) or use a differentiable function",
                node=n.name)
        if n in freed and n.saves:
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


def with_retain_graph(call):
    """``d.backward()`` -> ``d.backward(retain_graph=True)``, keeping other arguments."""
    try:
        tree = ast.parse(call.strip(), mode="eval").body
        kws = [k for k in tree.keywords if k.arg != "retain_graph"]
        args = tree.args[:1]
        kws.append(ast.keyword(arg="retain_graph", value=ast.Constant(True)))
        tree.args, tree.keywords = args, kws
        return ast.unparse(tree)
    except Exception:            # a display nicety only
        return call.rstrip(")") + ", retain_graph=True)"

