"""Numeric validation of second order: the compiled ``hessians()`` and ``hvps()`` against PyTorch.

For each ``[f, x, y]`` of the spec, on the same inputs as the gradients' check:

* ``kind="hessian"``: ``hessians()`` against ``torch.func.hessian`` (``jacfwd(jacrev)``) of
  the spec's own text as a function of x and y -- or, where x or y is a node (not a
  function argument) or torch.func cannot transform an op, a Jacobian of the gradient
  built by double backward, one basis direction at a time;
* ``kind="hvp"``: ``hvps()`` with a random direction ``v_x`` (fixed seed) against double
  backward, ``grad(grad(f, x, create_graph=True), y, grad_outputs=v_x)``;
* with ``fd``: ``kind="fd-hessian"``, the Hessian against central finite differences of the
  first derivative (autograd's ``grad(f, x)`` along each basis direction of y), float64.

Tolerances are the gradients'.  NaN or inf anywhere fails the row.
"""
import warnings

import torch

from .rows import CheckRow, compare, reference, _first_line, _name, FD_MAX_ELEMENTS

FD_EPS = 1e-6
MAX_HESSIAN_ENTRIES = 4_000_000     # a Hessian checked against torch.func.hessian is built twice


def second_rows(d, mod, inputs, dims, dtype, dev, seed, rtol, atol, fd=False):
    """The check rows of every Hessian of ``d`` on one device."""
    prob = d.problem
    rows = []
    gen = torch.Generator().manual_seed((seed + 2) % 2 ** 64)
    dirs = {}
    for h in d.hessians:
        x = h.wrt[0]
        if h.direction not in dirs and h.hvp_expr is not None:
            shape = tuple(inputs[x].shape) if x in inputs else _node_shape(d, inputs, dims, dtype, dev, x)
            dirs[h.direction] = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype=dtype, device=dev)
    total = _entries(d, inputs, dims, dtype, dev)
    big = None
    if total > MAX_HESSIAN_ENTRIES:
        big = ("skipped: the Hessians have %d entries (at most %d are built to check them): "
               "check with smaller dims (--dim); their HVPs are checked" % (total, MAX_HESSIAN_ENTRIES))
    got_h, crash_h = _call(lambda: mod.hessians(**inputs)) if big is None else (None, None)
    got_v, crash_v = _call(lambda: mod.hvps(**inputs, **dirs))
    for h in d.hessians:
        f, x, y = (h.output,) + h.wrt
        want_h, how = (None, None) if big else reference_hessian(prob, inputs, dims, dtype, dev, f, x, y)
        want_v = None if h.hvp_expr is None else \
            reference_hvp(prob, inputs, dims, dtype, dev, f, x, y, dirs[h.direction])
        for kind, got, crash, want in (("hessian", got_h, crash_h, want_h), ("hvp", got_v, crash_v, want_v)):
            if kind == "hessian" and big is not None:
                rows.append(CheckRow(f, [x, y], dev, _name(dtype), 0.0, 0.0, True, big, kind))
            elif (h.expr if kind == "hessian" else h.hvp_expr) is None:
                rows.append(_fail(h, dev, dtype, h.error, kind))
            elif crash is not None:
                rows.append(_fail(h, dev, dtype, crash, kind))
            elif isinstance(want, str):
                rows.append(_fail(h, dev, dtype, want, kind))
            else:
                a, r, ok, msg = compare(got[f][x][y], want, rtol, atol)
                msg = msg.replace("autograd", how if kind == "hessian" else "double backward")
                if kind == "hessian" and not ok and how == "torch.func.hessian":
                    a, r, ok, msg = _against_double_backward(got[f][x][y], want, (a, r, ok, msg), rtol, atol,
                                                             prob, inputs, dims, dtype, dev, f, x, y)
                rows.append(CheckRow(f, [x, y], dev, _name(dtype), a, r, ok, msg, kind))
        if fd and big is None:
            rows.append(_fd_row(h, prob, got_h, crash_h, inputs, dims, dev))
    return rows


def _entries(d, inputs, dims, dtype, dev):
    """How many entries hessians() builds, from the shapes at the drawn inputs."""
    env = None
    total = 0
    for h in d.hessians:
        n = 1
        for name in h.wrt:
            if name in inputs:
                n *= inputs[name].numel()
            else:
                env = env or reference(d.problem, inputs, dims, dtype, dev)[0]
                n *= env[name].numel()
        total += n
    return total


def _call(fn):
    try:
        return fn(), None
    except Exception as e:       # a generated-code bug: every row fails, with the reason
        return None, "the compiled closed forms raised %s: %s" % (type(e).__name__, _first_line(e))


def _fail(h, dev, dtype, msg, kind):
    return CheckRow(h.output, list(h.wrt), dev, _name(dtype), float("nan"), float("nan"), False, msg, kind)


def _node_shape(d, inputs, dims, dtype, dev, name):
    env, _ = reference(d.problem, inputs, dims, dtype, dev)
    return tuple(env[name].shape)


def _function(prob, inputs, dims, dtype, dev, args):
    """f's value as a function of the tensors named ``args`` (the other inputs fixed)."""
    from .reference import TorchEval

    def fn(*vals):
        env = {k: v.detach() for k, v in inputs.items()}
        env.update(dict(zip(args, vals)))
        ev = TorchEval(env, dims, dtype, dev)
        for n in prob.nodes:
            env[n.name] = ev.eval_text(n.text)
        return env
    return fn


def math_kernels(fn):
    """Run a second-order reference under PyTorch's math kernels: a fused kernel may have no
    double backward (the CPU flash kernel of ``scaled_dot_product_attention`` raises "derivative
    ... is not implemented"), while the math kernel computes the same function with one."""
    def run(*args):
        try:
            from torch.nn.attention import sdpa_kernel, SDPBackend
        except ImportError:                 # an older PyTorch: its default kernels
            return fn(*args)
        with sdpa_kernel([SDPBackend.MATH]):
            return fn(*args)
    run.__doc__ = fn.__doc__
    return run


@math_kernels
def reference_hessian(prob, inputs, dims, dtype, dev, f, x, y):
    """(PyTorch's d2f/dx dy of shape x.shape + y.shape, how it was made), or (a message, None)."""
    if x in inputs and y in inputs:
        args = [x] if x == y else [x, y]
        env_of = _function(prob, inputs, dims, dtype, dev, args)
        try:
            with warnings.catch_warnings():     # torch's forward-mode decompositions load lazily,
                warnings.simplefilter("ignore", DeprecationWarning)     # through torch.jit.script
                if x == y:
                    h = torch.func.hessian(lambda a: env_of(a)[f])(inputs[x])
                else:
                    h = torch.func.jacfwd(torch.func.jacrev(lambda a, b: env_of(a, b)[f], argnums=0),
                                          argnums=1)(inputs[x], inputs[y])
            return h.detach(), "torch.func.hessian"
        except Exception:          # an op torch.func cannot transform: double backward instead
            pass
    try:
        return _jacobian_by_double_backward(prob, inputs, dims, dtype, dev, f, x, y), "double backward"
    except RuntimeError as e:
        return "PyTorch cannot differentiate '%s' twice: %s" % (f, _first_line(e)), None


@math_kernels
def _against_double_backward(got, fwd, first, rtol, atol, prob, inputs, dims, dtype, dev, f, x, y):
    """A Hessian that differs from ``torch.func.hessian`` (forward over reverse) compared with
    the Jacobian of PyTorch's double backward (reverse over reverse).  Where PyTorch's two
    methods disagree with each other -- a forward-mode rule that does not symmetrise its
    direction (eigh, cholesky), a clamp applied under no_grad, a tie broken the other way --
    the closed form, which is the Jacobian of its own reverse rule, passes against double
    backward, and the row says how far apart PyTorch's two answers are."""
    try:
        db = _jacobian_by_double_backward(prob, inputs, dims, dtype, dev, f, x, y)
    except RuntimeError:
        return first
    a, r, ok, _ = compare(got, db, rtol, atol)
    if not ok:
        return first
    gap = float((db - fwd).abs().max()) if bool(torch.isfinite(fwd).all()) else float("nan")
    return a, r, True, ("equals double backward; torch.func.hessian (forward over reverse) differs "
                        "from double backward by %.3g here: PyTorch's two methods disagree" % gap)


def _grad_graph(prob, inputs, dims, dtype, dev, f, x, y):
    env, leaves = reference(prob, inputs, dims, dtype, dev)
    tx = leaves.get(x, env[x])
    ty = leaves.get(y, env[y])
    out = env[f]
    if not out.requires_grad:
        return None, tx, ty
    g, = torch.autograd.grad(out, tx, create_graph=True, allow_unused=True)
    return g, tx, ty


def _jacobian_by_double_backward(prob, inputs, dims, dtype, dev, f, x, y):
    g, tx, ty = _grad_graph(prob, inputs, dims, dtype, dev, f, x, y)
    out = torch.zeros(tuple(tx.shape) + tuple(ty.shape), dtype=dtype, device=dev)
    if g is None or not g.requires_grad:
        return out
    flat = out.reshape(tx.numel(), -1)
    for k in range(tx.numel()):
        e = torch.zeros(tx.numel(), dtype=dtype, device=dev)
        e[k] = 1
        row, = torch.autograd.grad(g, ty, grad_outputs=e.reshape(tx.shape), retain_graph=True, allow_unused=True)
        if row is not None:
            flat[k] = row.reshape(-1)
    return out


@math_kernels
def reference_hvp(prob, inputs, dims, dtype, dev, f, x, y, v):
    """grad(grad(f, x, create_graph=True), y, grad_outputs=v): PyTorch's double backward."""
    try:
        g, tx, ty = _grad_graph(prob, inputs, dims, dtype, dev, f, x, y)
        if g is None or not g.requires_grad:
            return torch.zeros_like(ty).detach()
        hv, = torch.autograd.grad(g, ty, grad_outputs=v, allow_unused=True)
        return torch.zeros_like(ty).detach() if hv is None else hv.detach()
    except RuntimeError as e:
        return "PyTorch cannot differentiate '%s' twice: %s" % (f, _first_line(e))


def _fd_row(h, prob, got, crash, inputs, dims, dev):
    """Central finite differences (float64) of autograd's df/dx along each basis direction of y."""
    f, x, y = (h.output,) + h.wrt

    def row(ok, msg, a=0.0):
        return CheckRow(f, [x, y], dev, "float64", a, a, ok, msg, "fd-hessian")
    if crash is not None or h.expr is None:
        return row(False, crash or h.error, float("nan"))
    if y not in inputs:
        return row(True, "skipped: finite differences are taken for inputs only")
    n = inputs[y].numel() * (inputs[x].numel() if x in inputs else 1)
    if n > FD_MAX_ELEMENTS:
        return row(True, "skipped: %d Hessian entries are too many for finite differences" % n)
    ins = {k: v.to(torch.float64) for k, v in inputs.items()}
    base = ins[y]
    cols = []
    for k in range(base.numel()):
        step = torch.zeros(base.numel(), dtype=torch.float64, device=dev)
        step[k] = FD_EPS
        step = step.reshape(base.shape)
        gs = []
        for sgn in (1, -1):
            ins2 = dict(ins, **{y: base + sgn * step})
            g, tx, _ = _grad_graph(prob, ins2, dims, torch.float64, dev, f, x, y)
            gs.append(torch.zeros_like(tx) if g is None else g.detach())
        cols.append((gs[0] - gs[1]) / (2 * FD_EPS))
    want = torch.stack(cols, dim=-1).reshape(tuple(cols[0].shape) + tuple(base.shape))
    a, r, ok, _ = compare(got[f][x][y].to(torch.float64), want, 1e-4, 1e-5)
    return CheckRow(f, [x, y], dev, "float64", a, r, ok,
                    "" if ok else "finite differences disagree with the closed form (a kink nearby?)", "fd-hessian")
