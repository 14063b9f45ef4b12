"""The numbers a check runs on: dims' values, inputs drawn from their domains, tolerances.

Shared by the check of closed forms (`check`) and the proof of a schedule
(``symgrad.autograd.proof``), which must see the very same inputs.  Inputs are drawn with a
fixed seed from each input's domain (or taken from ``value``), in float64 on the CPU and
then moved to the device and dtype, so every device sees the same numbers.  An integer
input (``dtype: long``) is drawn in ``[0, high)`` and a bool one at random; both keep their
dtype (int64, bool) on every device and are never cast to the working dtype.
"""
import torch

from ..errors import CheckError


# (rtol, atol); atol is relative to the size of the gradient (max |entry|, at least 1):
# float32 matmuls round at the scale of their largest terms, not of each result entry.
TOLERANCES = {"float64": (1e-7, 1e-9), "float32": (1e-4, 1e-5)}


MAX_ELEMENTS = 20_000_000


def dim_values(prob, overrides=None):
    prob.check_dims(overrides or {})        # unknown dims, and values that contradict one
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
    return tuple(int(d) if d.is_Integer else int(d.subs({s: dims[str(s)] for s in d.free_symbols}))
                 for d in shape)


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
        if d.dtype != "float":              # integer and bool inputs keep their own dtype
            out[d.name] = draw_integer(d, shape, dims, gen).to(device=device)
            continue
        if d.value is not None:
            t = torch.tensor(d.value, dtype=torch.float64).reshape(shape)
        else:
            t = draw(d.domain, shape, gen)
        out[d.name] = t.to(dtype=dtype, device=device)
    return out


INT_DTYPES = {"long": torch.int64, "bool": torch.bool}


def draw_integer(d, shape, dims, gen):
    """A long input's values in [0, high), a bool input's at random (or the given value)."""
    dt = INT_DTYPES[d.dtype]
    if d.value is not None:
        return torch.tensor(d.value, dtype=dt).reshape(shape)
    if d.dtype == "bool":
        return torch.rand(shape, generator=gen, dtype=torch.float64) < 0.5
    high = concrete((d.high,), dims)[0]
    return torch.randint(0, high, shape, generator=gen, dtype=dt)


def draw(domain, shape, gen):
    """Values of one domain, away from the kinks at 0 (relu, abs, sign ...)."""
    r = lambda: torch.rand(shape, generator=gen, dtype=torch.float64)
    if domain == "positive":
        return 0.5 + 1.5 * r()
    if domain == "nonnegative":
        return 0.05 + r()
    if domain == "unit":
        return 0.1 + 0.8 * r()
    if domain == "spd":
        n = shape[-1]
        m = torch.randn(shape, generator=gen, dtype=torch.float64)
        return m @ m.transpose(-1, -2) + n * torch.eye(n, dtype=torch.float64)
    if domain == "simplex":
        if not shape:
            return torch.ones((), dtype=torch.float64)
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        return torch.softmax(x, dim=-1)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    return torch.where(x.abs() < 1e-3, x + 0.01, x)


def check_sizes(d, dims):
    """Refuse, before allocating anything, a check whose tensors would be too large."""
    from ..tensor import shape_of, Tensor
    from ..printing import to_text
    vals = {sym: int(dims[name]) for name, (sym, _) in d.problem.dims.items()}
    seen = set()

    def size(e):
        n = 1
        for s in shape_of(e):
            n *= int(s) if s.is_Integer else int(s.subs(vals))
        return n

    def walk(e, where):
        stack = [e]
        while stack:
            x = stack.pop()
            if x in seen or not hasattr(x, "args"):
                continue
            seen.add(x)
            if isinstance(x, Tensor) or x.args:
                try:
                    n = size(x)
                except (TypeError, ValueError):
                    n = 0
                if n > MAX_ELEMENTS:
                    raise CheckError("%s: %s is too large to check (%s has %d elements; at most %d): "
                                     "check with smaller dims (--dim) or --no-check"
                                     % (d.problem.file, where, _short(to_text, x), n, MAX_ELEMENTS))
            stack.extend(x.args)
    for n in d.problem.nodes:
        walk(n.expr, "node '%s'" % n.name)
    for g in d.gradients:
        walk(g.expr, "d%s/d%s" % (g.output, g.wrt))


def _short(to_text, e):
    try:
        t = to_text(e)
    except Exception:
        t = str(e)
    return t if len(t) <= 60 else t[:57] + "..."
