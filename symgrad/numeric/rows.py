"""What a check compares and how it reports: `CheckRow`, `compare`, and the PyTorch reference.

`reference` runs the spec's own text in PyTorch (``symgrad.numeric.reference``) on given
inputs; `compare` measures a closed form's value against PyTorch's, with NaN or inf always a
failure; a `CheckRow` is one line of the verdict.  Shared by the first-order check
(``symgrad.numeric.check``) and the second-order one (``symgrad.numeric.second``).
"""
from dataclasses import dataclass

import warnings

with warnings.catch_warnings():      # a torch wheel without NumPy warns at import; harmless here
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

from ..errors import CheckError

FD_MAX_ELEMENTS = 4000        # finite differences above this many Jacobian entries are skipped


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
    kind: str = "autograd"    # "autograd" | "fd" (gradcheck) | "hessian" | "hvp" | "fd-hessian"

    def __getitem__(self, key):          # rows read like the JSON report's rows too
        return self.to_dict()[key]

    def to_dict(self):
        return {"output": self.output, "wrt": self.wrt, "device": self.device, "dtype": self.dtype,
                "max_abs_err": _json_float(self.max_abs_err), "max_rel_err": _json_float(self.max_rel_err),
                "passed": self.passed, "kind": self.kind, "message": self.message}

    def line(self):
        from ..report import row_line
        return row_line(self)


def _json_float(x):
    """NaN and inf are not JSON: report them as None (the row's message says why)."""
    return x if x == x and x not in (float("inf"), float("-inf")) else None


def reference(prob, inputs, dims, dtype, device):
    """Run the spec's text in PyTorch; return (env of tensors, leaf tensors)."""
    from .reference import TorchEval
    leaves = {}
    env = {}
    for d in prob.inputs:
        t = inputs[d.name].clone().requires_grad_(d.requires_grad)
        leaves[d.name] = t
        env[d.name] = t
    ev = TorchEval(env, dims, dtype, device)
    for n in prob.nodes:
        try:
            env[n.name] = ev.eval_text(n.text)
        except Exception as e:
            raise CheckError("%s: PyTorch cannot evaluate node '%s' = %s: %s: %s" % (
                prob.file, n.name, n.text, type(e).__name__, _first_line(e)))
    return env, leaves


def _first_line(e):
    return (str(e).strip().splitlines() or [""])[0]


# --- comparing ---------------------------------------------------------------------------
def compare(got, want, rtol, atol):
    """(max abs err, max rel err, passed, message) of a closed form's value against autograd's."""
    if not isinstance(got, torch.Tensor):
        return float("inf"), float("inf"), False, "the closed form gives a %s, not a tensor" % type(got).__name__
    if got.device != want.device:
        return float("inf"), float("inf"), False, "the closed form is on %s, the input on %s" % (got.device, want.device)
    if got.shape != want.shape:
        return float("inf"), float("inf"), False, "the closed form has shape %s, autograd's gradient %s" % (
            list(got.shape), list(want.shape))
    if got.dtype != want.dtype:
        return float("inf"), float("inf"), False, "the closed form has dtype %s, the input %s" % (
            str(got.dtype).replace("torch.", ""), str(want.dtype).replace("torch.", ""))
    got = got.to(want.dtype)
    want_ok = bool(torch.isfinite(want).all())
    got_ok = bool(torch.isfinite(got).all())
    if not want_ok or not got_ok:
        where = "autograd's gradient" if not want_ok else "the closed form"
        if not want_ok and not got_ok:
            where = "both autograd's gradient and the closed form"
        return float("nan"), float("nan"), False, "%s has NaN or inf at the drawn inputs" % where
    if want.numel() == 0:
        return 0.0, 0.0, True, ""
    diff = (got - want).abs()
    scale = max(1.0, float(want.abs().max()))
    tol = atol * scale + rtol * want.abs()
    abs_err = float(diff.max())
    rel_err = float((diff / want.abs().clamp_min(atol * scale)).max())
    ok = bool((diff <= tol).all())
    return abs_err, rel_err, ok, "" if ok else "the closed form differs from autograd"


def _name(dtype):
    return str(dtype).replace("torch.", "")
