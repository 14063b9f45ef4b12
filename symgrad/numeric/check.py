"""Numeric validation: every closed form against torch.autograd (and finite differences).

No derived result is reported unchecked.  For each device asked for:

1. inputs are drawn with a fixed seed from each input's domain (or taken from ``value``),
   away from kinks, in float64 on the CPU and then moved to the device and dtype -- so every
   device sees the same numbers;
2. the reference is PyTorch running the spec's own text (``symgrad.numeric.reference``) and
   differentiating it with ``torch.autograd.grad`` (a random upstream gradient ``grad_o``
   for a non-scalar output);
3. the candidate is the compiled module's ``gradients()`` (``symgrad.codegen.module``), the
   closed forms as generated code -- the code users get from ``symgrad compile``;
4. each (output, wrt, device) gets a row: max abs and rel error and a verdict.  NaN or
   inf anywhere (the output, autograd's gradient, the closed form) is a failure, never a pass.

``fd=True`` adds finite differences: ``torch.autograd.gradcheck`` (float64) through the
module's ``SymgradFunction``, whose backward *is* the closed form -- so the closed form
itself is checked against finite differences, not only autograd.  A spec with a
``backward`` schedule is also run for real (``symgrad.autograd.proof.prove``).
"""
from dataclasses import dataclass, field
from typing import List, Optional

import warnings

with warnings.catch_warnings():      # a torch wheel without NumPy warns at import; harmless here
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

from ..errors import CheckError
from .inputs import TOLERANCES, dim_values, draw_inputs, check_sizes
from .second import second_rows
from .rows import CheckRow, compare, reference, _first_line, _name, _json_float, FD_MAX_ELEMENTS  # noqa: F401

DEVICES = ("cpu", "cuda", "auto", "all")


@dataclass
class CheckReport:
    devices: List[str]
    dtype: str
    rows: List[CheckRow] = field(default_factory=list)
    schedule_rows: list = field(default_factory=list)
    schedule_passed: Optional[bool] = None
    seed: int = 0

    @property
    def passed(self):
        return all(r.passed for r in self.rows) and self.schedule_passed is not False

    @property
    def failures(self):
        return [r for r in self.rows if not r.passed]

    def row(self, output, wrt, device=None, kind="autograd"):
        for r in self.rows:
            if r.output == output and r.wrt == wrt and r.kind == kind and device in (None, r.device):
                return r
        raise KeyError((output, wrt, device, kind))

    def to_dict(self):
        return {"passed": self.passed, "device": self.devices, "dtype": self.dtype,
                "rows": [r.to_dict() for r in self.rows], "schedule_passed": self.schedule_passed,
                "schedule_rows": [r.to_dict() for r in self.schedule_rows], "seed": self.seed}


# --- devices, dims, inputs ---------------------------------------------------------------
def resolve_devices(device):
    """cpu | cuda | auto | all -> the devices to run on; cuda without a GPU is an error."""
    device = str(device)
    has_cuda = torch.cuda.is_available()
    if device == "cpu":
        return ["cpu"]
    if device == "cuda" or device.startswith("cuda:"):
        if not has_cuda:
            raise CheckError("--device cuda: PyTorch sees no CUDA GPU on this machine "
                             "(use --device cpu, or auto to take a GPU only where there is one)")
        return [device]
    if device == "auto":
        return ["cuda" if has_cuda else "cpu"]
    if device == "all":
        return ["cpu"] + (["cuda"] if has_cuda else [])
    raise CheckError("unknown device %r (cpu, cuda, auto or all)" % device)


# --- the check ---------------------------------------------------------------------------
def run_check(d, device="cpu", dtype="float64", seed=0, fd=False, dims=None):
    """Check every closed form of a Derivation; returns a `CheckReport`."""
    dtype = str(dtype).replace("torch.", "")
    if dtype not in TOLERANCES:
        raise CheckError("unknown dtype %r (float64 or float32)" % dtype)
    devices = resolve_devices(device)
    tdtype = getattr(torch, dtype)
    rtol, atol = TOLERANCES[dtype]
    prob = d.problem
    dvals = dim_values(prob, dims)
    check_sizes(d, dvals)
    from ..codegen.module import compile_module
    report = CheckReport(devices, dtype, seed=seed)
    try:
        mod = compile_module(d)
    except Exception as e:          # a code-generation bug: nothing can be proven, say why
        msg = "could not compile the closed forms: %s: %s" % (type(e).__name__, _first_line(e))
        report.rows = [CheckRow(g.output, g.wrt, dev, dtype, float("nan"), float("nan"), False, msg)
                       for dev in devices for g in d.gradients]
        mod = None
    for dev in devices if mod is not None else ():
        inputs = draw_inputs(prob, dvals, tdtype, dev, seed)
        report.rows.extend(_device_rows(d, mod, inputs, dvals, tdtype, dev, seed, rtol, atol))
        if d.hessians:
            report.rows.extend(second_rows(d, mod, inputs, dvals, tdtype, dev, seed, rtol, atol, fd))
        if fd:
            report.rows.extend(_fd_rows(d, mod, draw_inputs(prob, dvals, torch.float64, dev, seed), dev))
    if d.schedule is not None:
        from ..autograd.proof import prove
        report.schedule_rows, report.schedule_passed = prove(d, seed=seed, dtype=dtype, device=devices[0],
                                                             dims=dvals)
    return report


def upstream_gradients(d, env, dtype, device, seed):
    """A random grad_<o> (fixed seed) for each non-scalar output."""
    gen = torch.Generator().manual_seed((seed + 1) % 2 ** 64)     # torch's 64-bit upstreams wrap
    upstreams = {}
    for g in d.gradients:
        if g.upstream and g.upstream not in upstreams:
            shape = tuple(env[g.output].shape)
            upstreams[g.upstream] = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)
    return upstreams


def _device_rows(d, mod, inputs, dims, dtype, dev, seed, rtol, atol):
    prob = d.problem
    env, leaves = reference(prob, inputs, dims, dtype, dev)
    upstreams = upstream_gradients(d, env, dtype, dev, seed)
    rows = []
    try:
        got = mod.gradients(**inputs, **upstreams)
        crash = None
    except Exception as e:          # a generated-code bug: every row fails, with the reason
        got, crash = None, "the compiled closed forms raised %s: %s" % (type(e).__name__, _first_line(e))
    for o in prob.outputs:
        out = env[o]
        bad_out = isinstance(out, torch.Tensor) and out.is_floating_point() and not bool(torch.isfinite(out).all())
        wrt = list(prob.wrt)
        targets = [leaves[x] if x in leaves else env[x] for x in wrt]
        if isinstance(out, torch.Tensor) and out.requires_grad:
            live = [t for t in targets if isinstance(t, torch.Tensor) and t.requires_grad]
            try:
                grads = torch.autograd.grad(out, live, grad_outputs=upstreams.get("grad_" + o),
                                            retain_graph=True, allow_unused=True)
            except RuntimeError as e:       # e.g. heaviside: PyTorch has no derivative at all
                msg = "PyTorch cannot differentiate '%s': %s" % (o, _first_line(e))
                rows.extend(CheckRow(o, x, dev, _name(dtype), float("nan"), float("nan"), False, msg)
                            for x in wrt)
                continue
            by_id = {id(t): g for t, g in zip(live, grads)}
            grads = [by_id.get(id(t)) for t in targets]
        else:
            grads = [None] * len(wrt)
        for x, t, want in zip(wrt, targets, grads):
            if want is None:
                want = torch.zeros_like(t)
            want = want.detach()
            if crash is not None:
                rows.append(CheckRow(o, x, dev, _name(dtype), float("nan"), float("nan"), False, crash))
                continue
            if bad_out:
                rows.append(CheckRow(o, x, dev, _name(dtype), float("nan"), float("nan"), False,
                                     "output '%s' is NaN or inf at the drawn inputs" % o))
                continue
            a, r, ok, msg = compare(got[o][x], want, rtol, atol)
            rows.append(CheckRow(o, x, dev, _name(dtype), a, r, ok, msg))
    return rows


def _has_detach(prob):
    from ..ops.shape import DetachOp
    return any(n.expr.has(DetachOp) for n in prob.nodes)


def _fd_rows(d, mod, inputs, dev):
    """gradcheck (float64) of the closed forms, through SymgradFunction, for each (output, wrt)."""
    prob = d.problem
    names = list(mod.INPUTS)
    rows = []
    skip = None
    if _has_detach(prob):
        skip = "skipped: detach() is a stop-gradient, which finite differences cannot see"
    for k, o in enumerate(prob.outputs):
        n_out = int(mod.forward(**inputs)[o].numel())
        for x in prob.wrt:
            if x not in names:
                rows.append(CheckRow(o, x, dev, "float64", 0.0, 0.0, True,
                                     "skipped: finite differences are taken for inputs only", "fd"))
                continue
            n = int(inputs[x].numel())
            why = skip
            if why is None and (n > FD_MAX_ELEMENTS or n_out > FD_MAX_ELEMENTS):
                why = "skipped: %d x %d Jacobian entries are too many for finite differences" % (n_out, n)
            if why is None and not d.gradient(o, x).connected:
                why = "skipped: %s does not depend on %s" % (o, x)
            if why is not None:
                rows.append(CheckRow(o, x, dev, "float64", 0.0, 0.0, True, why, "fd"))
                continue
            rows.append(_gradcheck_row(mod, names, inputs, o, k, x, dev, len(prob.outputs)))
    return rows


def _gradcheck_row(mod, names, inputs, o, k, x, dev, n_outputs):
    fixed = {n: inputs[n].detach() for n in names}

    def f(xv):
        args = [xv if n == x else fixed[n] for n in names]
        out = mod.SymgradFunction.apply(*args)
        return out[k] if n_outputs > 1 else out
    from torch.autograd.gradcheck import GradcheckError
    xv = fixed[x].clone().requires_grad_(True)
    try:
        torch.autograd.gradcheck(f, (xv,), eps=1e-6, atol=1e-5, rtol=1e-4, check_undefined_grad=False)
        return CheckRow(o, x, dev, "float64", 0.0, 0.0, True, "", "fd")
    except GradcheckError as e:
        msg = " ".join(str(e).split("\n")[:1])
        return CheckRow(o, x, dev, "float64", float("nan"), float("nan"), False,
                        "finite differences disagree with the closed form (a kink nearby?): %s" % msg, "fd")
    except Exception as e:
        return CheckRow(o, x, dev, "float64", float("nan"), float("nan"), False,
                        "gradcheck failed: %s: %s" % (type(e).__name__, _first_line(e)), "fd")
