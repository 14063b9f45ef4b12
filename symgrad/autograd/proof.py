"""The proof of a schedule: the same ``backward`` list run for real in PyTorch.

`prove(derivation, ...)` runs the schedule on the values the numeric check uses and
compares every step's outcome (completes, or raises with the predicted kind of error),
the ``.grad`` of every tensor after every step (values through the closed forms' torch
code, and every None), and ``requires_grad`` / ``is_leaf`` of every tensor -- the
schedule's own and the report's ``tensors``.  Each `ProofRow` has ``to_dict()`` and a
one-line ``line()``.  The prediction itself is `symgrad.autograd.schedule.predict`.
"""
import warnings
from dataclasses import dataclass
from typing import Optional

from ..printing import to_text
from .refusals import ERROR_KINDS, error_kind
from .schedule import _txt

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

    def line(self, compact=False):
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
        if compact:
            return "%-4s schedule: %s -- %s" % (verdict, subject, detail)
        return "%-4s schedule %-30s %-5s %-8s %s" % (verdict, subject, self.device, self.dtype, detail)


def prove(derivation, seed=0, dtype="float64", device="cpu", dims=None):
    """Run the schedule in PyTorch and compare it with the prediction: (rows, passed)."""
    import torch
    from ..numeric.inputs import draw_inputs, dim_values, TOLERANCES

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
        got_err = error[1:] if error is not None and error[0] == s.index else None
        if s.error or got_err:
            exp = "raises %s (%s)" % (s.error.type, ERROR_KINDS[s.error.kind]) if s.error else "completes"
            got = ("raises %s: %s" % (got_err[0], got_err[1].split(". ")[0][:120])) if got_err else "completes"
            ok = bool(s.error and got_err and got_err[0] == s.error.type
                      and error_kind(got_err[1]) == s.error.kind)
            row("step", s.index, s.call, None, exp, got, ok,
                msg="raises %s (%s), as predicted" % (s.error.type, ERROR_KINDS[s.error.kind]) if ok else "")
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
    from ..numeric.reference import TorchEval
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
    """Each step in PyTorch, exactly as written: (snapshots of every .grad after each
    completed step, (step, error type, message) of the step that raised, or None)."""
    import torch
    from ..spec.parse import parse_tree
    snaps, error = [], None
    tensors = [t for t in env.values() if isinstance(t, torch.Tensor)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, st in enumerate(prob.backward or [], 1):
            if st.kind == "zero_grad":
                for t in tensors:
                    t.grad = None
            else:
                try:
                    _call(parse_tree(st.call).body, env, dims, dtype, device)
                except Exception as e:          # what PyTorch raises is the result
                    error = (k, type(e).__name__, str(e))
                    break
            snaps.append({name: (None if not isinstance(t, torch.Tensor) or t.grad is None
                                 else t.grad.detach().clone()) for name, t in env.items()})
    return snaps, error


def _call(call, env, dims, dtype, device):
    """``o.backward(...)`` with the very arguments the text gives: each evaluated as PyTorch
    evaluates it (a number stays a Python number, a list of tensors a sequence of them)."""
    from ..spec.steps import call_arguments
    from ..numeric.reference import TorchEval
    ev = TorchEval(env, dims, dtype, device)
    method = getattr(env[call.func.value.id], "backward")     # a plain number has none
    args, kwargs = call_arguments(call)
    method(*[ev.eval(a) for a in args], **{k: ev.eval(v) for k, v in kwargs})


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
    """A closed form's value: its torch code, lowered as `symgrad compile` lowers it (a mask or
    an integer tensor that stands for a float adjoint is cast to the working dtype), on the
    forward values."""
    import math
    import torch
    from ..codegen.lower import fix_bools
    from ..printing import to_torch
    ns = {"torch": torch, "math": math, "_dt": dtype, "_dev": device}
    ns.update(dims)
    for name, t in env.items():
        ns[name] = t.detach() if isinstance(t, torch.Tensor) else t
    with torch.no_grad():
        try:
            code = to_torch(fix_bools(expr, ()))
            val = eval(compile(code, "<symgrad closed form>", "eval"), ns)   # our own generated code
        except Exception:
            from ..numeric.reference import TorchEval
            val = TorchEval(dict(ns), dims, dtype, device, closed_form=True).eval_text(to_text(expr))
    return torch.as_tensor(val, dtype=dtype, device=device)


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
            msg="the report's 'tensors' (symgrad.diff.graph) disagrees with PyTorch")
