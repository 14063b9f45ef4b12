"""Numeric validation: every closed form against torch.autograd (and finite differences).

Inputs are drawn with a fixed seed from each input's domain (or taken from ``value``);
the reference is PyTorch running the spec's own text (``symgrad.torch_eval``) and
differentiating it with ``torch.autograd.grad``; the candidate is the compiled closed
form (``symgrad.compile``).  Any NaN or inf is a failure, never a pass.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import torch

from .errors import CheckError
from .tensor import numel

TOLERANCES = {"float64": (1e-7, 1e-9), "float32": (2e-4, 1e-5)}
MAX_ELEMENTS = 20_000_000
FD_MAX_ELEMENTS = 4000


@dataclass
class CheckRow:
    output: str
    wrt: str
    device: str
    dtype: str
    max_abs_err: float
    max_rel_err: float
    passed: bool
    message: str = ""
    kind: str = "autograd"

    def to_dict(self):
        return {"output": self.output, "wrt": self.wrt, "device": self.device, "dtype": self.dtype,
                "max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err,
                "passed": self.passed, "kind": self.kind, "message": self.message}


@dataclass
class CheckReport:
    devices: List[str]
    dtype: str
    rows: List[CheckRow] = field(default_factory=list)
    schedule_rows: list = field(default_factory=list)
    schedule_passed: Optional[bool] = None

    @property
    def passed(self):
        return all(r.passed for r in self.rows) and self.schedule_passed is not False

    def to_dict(self):
        return {"passed": self.passed, "device": self.devices, "dtype": self.dtype,
                "rows": [r.to_dict() for r in self.rows], "schedule_passed": self.schedule_passed,
                "schedule_rows": [r.to_dict() for r in self.schedule_rows]}


def resolve_devices(device):
    has_cuda = torch.cuda.is_available()
    if device == "cpu":
        return ["cpu"]
    if device == "cuda":
        if not has_cuda:
            raise CheckError("--device cuda: PyTorch sees no CUDA GPU on this machine")
        return ["cuda"]
    if device == "auto":
        return ["cuda" if has_cuda else "cpu"]
    if device == "all":
        return ["cpu"] + (["cuda"] if has_cuda else [])
    raise CheckError("unknown device %r (cpu, cuda, auto or all)" % device)


def dim_values(prob, overrides=None):
    vals = {}
    for name, (sym, v) in prob.dims.items():
        vals[name] = v
    for name, v in (overrides or {}).items():
        if name not in prob.dims:
            raise CheckError("--dim %s: the spec has no dim '%s' (dims: %s)"
                             % (name, name, ", ".join(prob.dims) or "none"))
        vals[name] = int(v)
    missing = [n for n, v in vals.items() if v is None]
    if missing:
        raise CheckError("dim '%s' has no value to check with: give one in 'dims' or --dim %s=N"
                         % (missing[0], missing[0]))
    return vals


def concrete(shape, dims):
    return tuple(int(d) if d.is_Integer else int(dims[str(d)]) for d in shape)


def draw_inputs(prob, dims, dtype, device, seed):
    """Input tensors: given values, or draws from each declared domain (fixed seed)."""
    gen = torch.Generator().manual_seed(seed)
    total = 0
    out = {}
    for d in prob.inputs:
        shape = concrete(d.shape, dims)
        n = 1
        for s in shape:
            n *= s
        total += n
        if total > MAX_ELEMENTS:
            raise CheckError("inputs are too large to check (%d elements; at most %d): "
                             "check with smaller dims (--dim) or --no-check" % (total, MAX_ELEMENTS))
        if d.value is not None:
            t = torch.tensor(d.value, dtype=torch.float64).reshape(shape)
        else:
            t = _draw(d.domain, shape, gen)
        out[d.name] = t.to(dtype=dtype, device=device)
    return out


def _draw(domain, shape, gen):
    r = lambda: torch.rand(shape, generator=gen, dtype=torch.float64)
    if domain == "positive":
        return 0.5 + 1.5 * r()
    if domain == "nonnegative":
        return 0.05 + r()
    if domain == "unit":
        return 0.1 + 0.8 * r()
    if domain == "spd":
        n = shape[0]
        m = torch.randn(shape, generator=gen, dtype=torch.float64)
        return m @ m.T + n * torch.eye(n, dtype=torch.float64)
    if domain == "simplex":
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        return torch.softmax(x, dim=-1) if len(shape) else torch.ones(())
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    return torch.where(x.abs() < 1e-3, x + 0.01, x)     # away from kinks at 0


def reference(prob, inputs, dims, dtype, device):
    """Run the spec's text in PyTorch; return (env of tensors, leaf tensors)."""
    from .torch_eval import TorchEval
    leaves = {}
    env = {}
    for d in prob.inputs:
        t = inputs[d.name].clone().requires_grad_(d.requires_grad)
        leaves[d.name] = t
        env[d.name] = t
    ev = TorchEval(env, dims, dtype, device)
    for n in prob.nodes:
        env[n.name] = ev.eval_text(n.text)
    return env, leaves


def compare(got, want, rtol, atol):
    got = torch.as_tensor(got).to(want.dtype)
    if got.shape != want.shape:
        return float("inf"), float("inf"), False, "shape %s != %s" % (tuple(got.shape), tuple(want.shape))
    if not torch.isfinite(want).all():
        return float("nan"), float("nan"), False, "autograd's gradient has NaN or inf (inputs outside the op's domain?)"
    if not torch.isfinite(got).all():
        return float("nan"), float("nan"), False, "the closed form gives NaN or inf"
    diff = (got - want).abs()
    abs_err = float(diff.max()) if diff.numel() else 0.0
    rel = diff / want.abs().clamp_min(atol)
    rel_err = float(rel.max()) if rel.numel() else 0.0
    ok = bool((diff <= atol + rtol * want.abs()).all())
    return abs_err, rel_err, ok, "" if ok else "closed form differs from autograd"


def run_check(d, device="cpu", dtype="float64", seed=0, fd=False, dims=None):
    if dtype not in TOLERANCES:
        raise CheckError("unknown dtype %r (float64 or float32)" % dtype)
    devices = resolve_devices(device)
    tdtype = getattr(torch, dtype)
    rtol, atol = TOLERANCES[dtype]
    prob = d.problem
    dvals = dim_values(prob, dims)
    fn = d.compile()
    report = CheckReport(devices, dtype)
    for dev in devices:
        inputs = draw_inputs(prob, dvals, tdtype, dev, seed)
        env, leaves = reference(prob, inputs, dvals, tdtype, dev)
        gen = torch.Generator().manual_seed(seed + 1)
        seeds = {}
        for g in d.gradients:
            if g.seed and g.seed not in seeds:
                shape = tuple(env[g.output].shape)
                seeds[g.seed] = torch.randn(shape, generator=gen, dtype=torch.float64).to(tdtype).to(dev)
        got = fn(**{k: v for k, v in inputs.items()}, **seeds)
        for o in prob.outputs:
            out = env[o]
            wrt = [x for x in prob.wrt]
            targets = [leaves[x] if x in leaves else env[x] for x in wrt]
            seed_t = seeds.get("grad_" + o)
            if not out.requires_grad:
                grads = [None] * len(wrt)
            else:
                grads = torch.autograd.grad(out, targets, grad_outputs=seed_t, retain_graph=True,
                                            allow_unused=True)
            for x, t, want in zip(wrt, targets, grads):
                if want is None:
                    want = torch.zeros_like(t)
                a, r, ok, msg = compare(got[o][x], want.detach(), rtol, atol)
                report.rows.append(CheckRow(o, x, dev, dtype, a, r, ok, msg))
        if fd:
            report.rows.extend(_fd_rows(d, inputs, dvals, dev))
    if d.schedule is not None:
        from .schedule import prove
        report.schedule_rows, report.schedule_passed = prove(d, seed=seed, dtype=dtype, device=devices[0],
                                                             dims=dvals)
    return report


def _fd_rows(d, inputs, dims, dev):
    """Finite differences (torch.autograd.gradcheck, float64) for each output."""
    prob = d.problem
    rows = []
    wrt_inputs = [x for x in prob.wrt if any(i.name == x for i in prob.inputs)]
    n = sum(inputs[x].numel() for x in wrt_inputs)
    for o in prob.outputs:
        if n > FD_MAX_ELEMENTS:
            rows.append(CheckRow(o, ",".join(wrt_inputs), dev, "float64", 0.0, 0.0, True,
                                 "skipped: %d elements is too many for finite differences" % n, "fd"))
            continue

        def f(*xs):
            from .torch_eval import TorchEval
            env = {k: v.to(torch.float64) for k, v in inputs.items()}
            env.update(dict(zip(wrt_inputs, xs)))
            ev = TorchEval(env, dims, torch.float64, dev)
            for node in prob.nodes:
                env[node.name] = ev.eval_text(node.text)
            return env[o]
        xs = [inputs[x].to(torch.float64).clone().requires_grad_(True) for x in wrt_inputs]
        try:
            ok = torch.autograd.gradcheck(f, xs, eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=False)
            msg = "" if ok else "autograd disagrees with finite differences"
        except Exception as e:        # a non-differentiable point, say
            ok, msg = False, "gradcheck failed: %s" % str(e).splitlines()[0]
        rows.append(CheckRow(o, ",".join(wrt_inputs), dev, "float64", 0.0, 0.0, bool(ok), msg, "fd"))
    return rows
