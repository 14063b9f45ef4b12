"""Autograd semantics: what a spec's ``backward`` schedule leaves in every ``.grad``.

`predict(derivation)` runs the schedule *symbolically*, the way PyTorch's engine runs it:

* the graph is the one PyTorch records (`symgrad.schedule_parse.autograd_graph`, built
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
  non-leaf it reaches, that tensor's adjoint from a reverse sweep (`symgrad.derive.sweep`,
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
import warnings
from dataclasses import dataclass, field
from typing import List, Optional

import sympy
from sympy import S

from .derive import sweep, seed_for, materialize_for
from .printing import to_text, to_latex
from .schedule_parse import autograd_graph
from .simplify import tidy
from .tensor import numel, fmt_shape

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


# --------------------------------------------------------------------------------------
# proof: the same schedule, run for real in PyTorch
# --------------------------------------------------------------------------------------

@dataclass
class ProofRow:
    what: str                    # "step" | "grad" | "flags" | "tensors" (the report's flags)
    step: Optional[int]
    call: Optional[str]
    tensor: Optional[str]
    expected: str
    got: str
    passed: bool
    device: str
    dtype: str
    max_abs_err: float = 0.0
    message: str = ""

    def to_dict(self):
        return {"kind": "schedule", "what": self.what, "step": self.step, "call": self.call,
                "tensor": self.tensor, "expected": self.expected, "got": self.got,
                "passed": self.passed, "device": self.device, "dtype": self.dtype,
                "max_abs_err": self.max_abs_err, "message": self.message}

    def line(self):
        verdict = "ok" if self.passed else "FAIL"
        if self.what == "step":
            subject = "step %d: %s" % (self.step, self.call)
        elif self.what == "grad":
            subject = "%s.grad" % self.tensor
        elif self.what == "flags":
            subject = "autograd flags"
        else:
            subject = "report's tensors"
        if self.passed:
            detail = self.message or self.expected
        elif self.what == "tensors":
            detail = "%s: %s" % (self.message, self.got)
        else:
            detail = "predicted %s, PyTorch: %s%s" % (self.expected, self.got,
                                                       (" (%s)" % self.message) if self.message else "")
        return "%-4s schedule %-30s %-5s %-8s %s" % (verdict, subject, self.device, self.dtype, detail)


def prove(derivation, seed=0, dtype="float64", device="cpu", dims=None):
    """Run the schedule in PyTorch and compare it with the prediction: (rows, passed)."""
    import torch
    from .check import draw_inputs, dim_values, TOLERANCES

    sched = derivation.schedule
    if sched is None:
        return [], True
    prob = derivation.problem
    dname = dtype if isinstance(dtype, str) else str(dtype).replace("torch.", "")
    tdtype = getattr(torch, dname)
    rtol, atol = TOLERANCES.get(dname, TOLERANCES["float64"])
    dvals = dim_values(prob, dims)
    inputs = draw_inputs(prob, dvals, tdtype, device, seed)
    env = _run_forward(prob, inputs, dvals, tdtype, device)
    # closed forms are evaluated on the forward values as they were before any backward
    forward = {n: (t.detach().clone() if isinstance(t, torch.Tensor) else t) for n, t in env.items()}
    rows = []

    def row(what, step, call, tensor, expected, got, passed, err=0.0, msg=""):
        rows.append(ProofRow(what, step, call, tensor, expected, got, passed, str(device), dname, err, msg))

    _flag_row(derivation, sched, env, row)
    actual, error = _run_steps(prob, env, dvals, tdtype, device)
    values = {}               # closed-form values, evaluated once
    last = {n: None for n in sched.names}
    for s in sched.steps:
        if not s.ran:
            break
        got_err = error[1] if error is not None and error[0] == s.index else None
        if s.error or got_err:
            exp = "raises %s" % ERROR_KINDS[s.error.kind] if s.error else "completes"
            got_kind = error_kind(got_err) if got_err else None
            got = ("raises: %s" % got_err.split(". ")[0][:120]) if got_err else "completes"
            ok = bool(s.error and got_err and got_kind == s.error.kind)
            row("step", s.index, s.call, None, exp, got, ok,
                msg="raises RuntimeError (%s), as predicted" % ERROR_KINDS[s.error.kind] if ok else "")
            break
        if s.index > len(actual):
            break
        snap = actual[s.index - 1]
        bad = []
        for n in sched.names:
            ok, err, got = _compare(s.grad[n], snap.get(n), forward, dvals, tdtype, device, rtol, atol, values)
            if not ok:
                bad.append("%s.grad: predicted %s, got %s" % (n, _txt(s.grad[n]), got))
        nval = sum(1 for n in sched.names if s.grad[n] is not None)
        row("step", s.index, s.call, None, "completes", "completes" if not bad else "; ".join(bad[:3]),
            not bad, msg="completes; %d .grad value%s and %d None%s as predicted"
            % (nval, "" if nval == 1 else "s", len(sched.names) - nval, "" if len(sched.names) - nval == 1 else "s"))
        last = snap
    for n in sched.names:
        want = sched.grad[n]
        ok, err, got = _compare(want, last.get(n), forward, dvals, tdtype, device, rtol, atol, values)
        text = sched.text(n) or "None"
        if want is None:
            msg = "None, as predicted" if ok else ""
        else:
            msg = "= %s  (max abs err %.3g)" % (text, err) if ok else ""
        row("grad", None, None, n, text, got, ok, err, msg)
    return rows, all(r.passed for r in rows)


def _run_forward(prob, inputs, dims, dtype, device):
    from .torch_eval import TorchEval
    env = {}
    for d in prob.inputs:
        env[d.name] = inputs[d.name].clone().requires_grad_(d.requires_grad)
    ev = TorchEval(env, dims, dtype, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in prob.nodes:
            env[n.name] = ev.eval_text(n.text)
        for name in prob.retain_grad:
            t = env[name]
            if hasattr(t, "retain_grad") and t.requires_grad:
                t.retain_grad()
    return env


def _run_steps(prob, env, dims, dtype, device):
    """Each step in PyTorch: (snapshots of every .grad after each completed step, error)."""
    import torch
    from .parser import parse_tree
    from .torch_eval import TorchEval
    snaps, error = [], None
    tensors = [t for t in env.values() if isinstance(t, torch.Tensor)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, st in enumerate(prob.backward or [], 1):
            if st.kind == "zero_grad":
                for t in tensors:
                    t.grad = None
            else:
                out = env[st.output]
                grad = None
                if st.gradient is not None:
                    g_node = _gradient_node(parse_tree(st.call).body)
                    with torch.no_grad():
                        grad = TorchEval(env, dims, dtype, device).eval(g_node)
                    # a fresh tensor: PyTorch may make a leaf's .grad the very tensor passed
                    # here, and later accumulations would then write into an input
                    grad = torch.as_tensor(grad, dtype=dtype, device=device).detach().clone()
                try:
                    if not isinstance(out, torch.Tensor):
                        raise RuntimeError(NO_GRAD_MESSAGE)
                    out.backward(gradient=grad, retain_graph=st.retain_graph)
                except RuntimeError as e:
                    error = (k, str(e))
                    break
            snaps.append({name: (None if not isinstance(t, torch.Tensor) or t.grad is None
                                 else t.grad.detach().clone()) for name, t in env.items()})
    return snaps, error


def _gradient_node(call):
    for kw in call.keywords:
        if kw.arg == "gradient":
            return kw.value
    return call.args[0]


def _compare(want, got, env, dims, dtype, device, rtol, atol, values):
    """(ok, max abs err, what PyTorch has) for one predicted .grad."""
    import torch
    if want is None or got is None:
        desc = "None" if got is None else "a tensor of shape %s" % list(got.shape)
        return (want is None) == (got is None), 0.0, desc
    key = want
    if key not in values:
        try:
            values[key] = _evaluate(want, env, dims, dtype, device)
        except Exception as e:                      # a closed form PyTorch cannot run
            values[key] = e
    val = values[key]
    if isinstance(val, Exception):
        return False, float("inf"), "(closed form failed to evaluate: %s)" % str(val).splitlines()[0][:80]
    val = val.to(got.dtype)
    if val.shape != got.shape:
        try:
            val = val.expand(got.shape)
        except RuntimeError:
            return False, float("inf"), "shape %s vs %s" % (list(got.shape), list(val.shape))
    if not torch.isfinite(got).all() or not torch.isfinite(val).all():
        return False, float("nan"), "NaN or inf"
    diff = (val - got).abs()
    err = float(diff.max()) if diff.numel() else 0.0
    ok = bool((diff <= atol + rtol * got.abs()).all())
    return ok, err, "values differ (max abs err %.3g)" % err if not ok else "equal"


def _evaluate(expr, env, dims, dtype, device):
    """A closed form's value: its torch code (as `symgrad compile` writes it) on the forward values."""
    import torch
    from .printing import to_torch
    ns = {"torch": torch, "_dt": dtype, "_dev": device}
    ns.update(dims)
    for name, t in env.items():
        ns[name] = t.detach() if isinstance(t, torch.Tensor) else t
    with torch.no_grad():
        try:
            code = to_torch(_float_masks(expr))
            val = eval(compile(code, "<symgrad closed form>", "eval"), ns)   # our own generated code
        except Exception:
            from .torch_eval import TorchEval
            val = TorchEval(dict(ns), dims, dtype, device).eval_text(to_text(expr))
    return torch.as_tensor(val, dtype=dtype, device=device)


class _AsFloat(sympy.Function):
    """A 0/1 mask used as a number, in torch code: PyTorch refuses ``-(x > 0)`` on bools."""
    nargs = 1
    is_commutative = True
    is_real = True

    def _torchcode(self, p):
        return "(%s).to(_dt)" % p._print(self.args[0])


def _float_masks(e, memo=None):
    """Every mask that is used as a number (not a where() condition) cast to the dtype."""
    from .ops.elementwise import Mask, Where
    memo = {} if memo is None else memo
    if e in memo:
        return memo[e]
    if isinstance(e, Mask):
        out = _AsFloat(e)
    elif not e.args or e.is_Atom:
        out = e
    elif isinstance(e, Where):
        c, x, y = e.args
        out = e.func(c, _float_masks(x, memo), _float_masks(y, memo))
    else:
        new = [_float_masks(a, memo) for a in e.args]
        out = e.func(*new) if any(n is not a for n, a in zip(new, e.args)) else e
    memo[e] = out
    return out


def _flag_row(derivation, sched, env, row):
    """requires_grad / is_leaf of every tensor, against PyTorch: the schedule's own model
    (``Schedule.flags``) and the report's ``tensors`` (``Derivation.tensor_info``)."""
    import torch
    info = derivation.tensor_info()
    bad_model, bad_report = [], []
    for n in sched.names:
        t = env[n]
        if not isinstance(t, torch.Tensor):
            continue
        real = (t.requires_grad, t.is_leaf)
        model = sched.flags[n][:2]
        rep = (info[n]["requires_grad"], info[n]["is_leaf"])
        if model != real:
            bad_model.append("%s: requires_grad=%s is_leaf=%s predicted, PyTorch has %s %s" % ((n,) + model + real))
        if rep != real:
            bad_report.append("%s: requires_grad=%s is_leaf=%s in the report, PyTorch has %s %s" % ((n,) + rep + real))
    n = len(sched.names)
    what = "requires_grad and is_leaf of %d tensors" % n
    row("flags", None, None, None, what, "; ".join(bad_model) or "the same", not bad_model,
        msg="%s as predicted" % what if not bad_model else "")
    if bad_report:
        row("tensors", None, None, None, what, "; ".join(bad_report), False,
            msg="the report's 'tensors' (symgrad.graph) disagrees with PyTorch")
