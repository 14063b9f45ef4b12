"""The spec as a PyTorch script, as in the notebook: the listing the notes print.

`pytorch_listing` writes the inputs, the forward pass and the ``backward`` schedule as
PyTorch code.  Inputs given by ``value:`` are written out; the others are drawn the way
symgrad's check draws them (`symgrad.numeric.inputs.draw`: one ``torch.Generator`` with
the check's seed, each input in spec order from its domain), so running the listing
prints exactly the numbers the notes show.
"""
import re

from .numbers import PRINT_OPTIONS
from .text import torch_code

# PyTorch's own print options: the listing sets only those the notes change.
TORCH_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80}
# Lines of the listing are broken after commas beyond this length.
LISTING_WIDTH = 80

# How `symgrad.numeric.inputs.draw` draws each domain, as PyTorch code (SHAPE, GEN).
_DRAWS = {
    "positive": "0.5 + 1.5 * torch.rand(SHAPE, generator=gen)",
    "nonnegative": "0.05 + torch.rand(SHAPE, generator=gen)",
    "unit": "0.1 + 0.8 * torch.rand(SHAPE, generator=gen)",
    "simplex": "torch.softmax(torch.randn(SHAPE, generator=gen), dim=-1)",
    "real": "torch.randn(SHAPE, generator=gen)",
}


def _py(v):
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(_py(a) for a in v)
    return repr(v)


def _wrapped(head, body, tail, width=LISTING_WIDTH):
    """head + body + tail, broken after the commas of body (inside brackets, so still Python)
    when it is longer than width."""
    if len(head) + len(body) + len(tail) <= width:
        return head + body + tail
    indent = " " * len(head)
    lines, cur = [], head
    for piece in re.split(r"(?<=,) ", body):
        if len(cur) + len(piece) > width and cur.strip() and cur != head:
            lines.append(cur.rstrip())
            cur = indent
        cur += piece + " "
    lines.append(cur.rstrip() + tail)
    return "\n".join(lines)


def _input_code(x, num):
    """One input: its value, or the check's draw from its domain."""
    rg = x.requires_grad
    shape = ", ".join(str(s) for s in x.shape) or "()"
    if x.dtype != "float":                # an integer or bool input: never requires grad
        dt = "torch.long" if x.dtype == "long" else "torch.bool"
        if x.value is not None:
            return _wrapped("%s = torch.tensor(" % x.name, _py(x.value), ", dtype=%s)" % dt)
        size = "(%s,)" % shape if len(x.shape) == 1 else "(%s)" % shape if x.shape else "()"
        if x.dtype == "long":
            return "%s = torch.randint(0, %s, %s, generator=gen, dtype=torch.long)" % (x.name, x.high, size)
        return "%s = torch.rand(%s, generator=gen, dtype=torch.float64) < 0.5" % (x.name, size)
    if x.value is not None:
        return _wrapped("%s = torch.tensor(" % x.name, _py(x.value),
                        "%s)" % (", requires_grad=True" if rg else ""))
    if x.domain == "spd" and x.shape:
        n = str(x.shape[-1])
        code = "(lambda m: m @ m.T + %s * torch.eye(%s))(torch.randn(%s, generator=gen))" % (n, n, shape)
    else:
        code = _DRAWS.get(x.domain, _DRAWS["real"]).replace("SHAPE", shape)
    if code.startswith("torch.randn(") and x.domain in ("real", None):
        if num and _nudged(num, x):             # draw() moves entries off the kink at 0
            return "\n".join(["%s = %s" % (x.name, code),
                              "%s = torch.where(%s.abs() < 1e-3, %s + 0.01, %s)%s"
                              % ((x.name,) * 4 + (".requires_grad_()" if rg else "",))])
        return "%s = %s%s" % (x.name, code, ".requires_grad_()" if rg else "")
    return "%s = (%s)%s" % (x.name, code, ".requires_grad_()" if rg else "")


def _nudged(num, x):
    """Whether the check's draw of x moved an entry off the kink (|x| < 1e-3 becomes x + 0.01)."""
    import torch
    from ..numeric.inputs import concrete, draw
    gen = torch.Generator().manual_seed(num.seed)
    for d in num.d.problem.inputs:
        if d.value is not None:
            continue
        shape = concrete(d.shape, num.dims)
        if d.name == x.name:
            raw = torch.randn(shape, generator=gen, dtype=torch.float64)
            return not torch.equal(raw, num.inputs[x.name].to(torch.float64))
        draw(d.domain, shape, gen)
    return False


def pytorch_listing(d, num=None, raised_at=None):
    """The spec as a PyTorch script: inputs, forward pass, the schedule (step numbers as
    comments, the step that raises marked)."""
    prob = d.problem
    body, uses_f = [], False
    for name, (sym, val) in prob.dims.items():
        body.append("%s = %s" % (name, val if val is not None else 5))
    drawn = [x for x in prob.inputs if x.value is None]
    if drawn:
        seed = getattr(num, "seed", 0) if num else 0
        body.append("gen = torch.Generator().manual_seed(%d)   # the inputs symgrad's check draws" % seed)
    for x in prob.inputs:
        body.append(_input_code(x, num))
    retained = set(prob.retain_grad or ())
    for n in prob.nodes:
        code, f = torch_code(n.text)
        uses_f = uses_f or f
        body.append("%s = %s" % (n.name, code))
        if n.name in retained:
            body.append("%s.retain_grad()" % n.name)
    if prob.backward:
        body.append("")
    leaves = [x.name for x in prob.inputs if x.requires_grad] + list(prob.retain_grad or ())
    if any(b.kind == "zero_grad" for b in prob.backward or ()):
        body += ["def zero_grad():                # as optimizer.zero_grad(set_to_none=True)",
                 "    for t in (%s%s):" % (", ".join(leaves), "," if len(leaves) == 1 else ""),
                 "        t.grad = None", ""]
    steps = []
    for k, b in enumerate(prob.backward or (), 1):
        line = b.call
        if b.kind == "backward" and b.gradient is not None:
            line, f = torch_code(b.call)
            uses_f = uses_f or f
        steps.append((line, "step %d%s" % (k, ": raises" if raised_at == k else "")))
        if raised_at == k:
            break
    width = max([len(c) for c, _ in steps if "\n" not in c] or [0])
    for c, m in steps:
        body.append("%s   # %s" % (c.ljust(width), m) if "\n" not in c else c)
    head = ["import torch"]
    if uses_f:
        head.append("import torch.nn.functional as F")
    opts = ", ".join("%s=%s" % (k, v) for k, v in PRINT_OPTIONS.items() if TORCH_DEFAULTS.get(k) != v)
    head += ["", "torch.set_default_dtype(torch.float64)",
             "torch.set_printoptions(%s)   # as the notes print values" % opts, ""]
    return "\n".join(head + body).rstrip() + "\n"
