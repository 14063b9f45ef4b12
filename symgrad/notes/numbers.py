"""Numbers for the notes: the spec run for real in PyTorch, printed as PyTorch prints them.

The notes teach with values, as the notebook does (``a.grad`` is
``tensor([[0.3442, 1.0302, 1.5431, 2.4179]])``, the same as ``5*a``).  `numbers(d, check)`
runs the spec once in PyTorch (float64, CPU) on the inputs the numeric check uses -- each
input's ``value:`` where the spec gives one, else the draw with the check's seed from its
domain (`symgrad.numeric.inputs`) -- and keeps:

* ``forward``: every tensor's value, and ``grads[o][t]``: the gradient of output ``o`` with
  respect to every tensor ``t`` that requires grad (``torch.autograd.grad``; a non-scalar
  output with the check's upstream gradient ``grad_o``);
* ``steps``: the ``.grad`` of every tensor after each step of the ``backward`` schedule and
  PyTorch's real error, from the very replay the schedule's proof runs
  (``symgrad.autograd.proof``); `replay` runs another schedule the same way (the
  exercises' what-ifs and the one-call alternative);
* `agrees`: a predicted ``.grad`` (a closed form) against a replayed tensor, with the
  proof's own comparison.

torch is imported here, lazily: a spec whose inputs are too large, a dim without a value,
or a machine without torch gives `Unavailable` with the reason, and the notes say so.
Values print with `fmt` (PyTorch's own ``repr``, four decimals, long tensors summarized)
and `short` (a few entries, for a graph's node).
"""
import contextlib
import weakref

# Inputs with more entries than this get no numbers in the notes (they would not be read).
MAX_ENTRIES = 2_000_000
# A tensor with more entries than this prints summarized (PyTorch's "...").
PRINT_THRESHOLD = 16
# The print options of every value in the notes; the listing sets the same ones
# (``torch.set_printoptions(**PRINT_OPTIONS)``), so running it prints what the notes show.
PRINT_OPTIONS = {"precision": 4, "threshold": PRINT_THRESHOLD, "edgeitems": 2, "linewidth": 80}
_CACHE = weakref.WeakKeyDictionary()


class Unavailable:
    """No numbers: ``reason`` says why (the notes print it)."""

    def __init__(self, reason):
        self.reason = reason

    def __bool__(self):
        return False


class Numbers:
    """The values of one run; see the module docstring."""

    def __init__(self, d, seed, dims, inputs, env, source):
        self.d, self.seed, self.dims, self.inputs, self.env = d, seed, dims, inputs, env
        self.source = source                  # "value" | "seed" | "both"
        self.forward = {}
        self.grads = {}
        self.grad_errors = {}
        self.upstream = {}
        self.steps, self.error = [], None
        self._compared = {}

    def __bool__(self):
        return True

    def agrees(self, expr, got):
        """(ok, max abs error) of a predicted closed form (or None) against a replayed value."""
        import torch
        from ..autograd.proof import _compare
        from ..numeric.inputs import TOLERANCES
        rtol, atol = TOLERANCES["float64"]
        ok, err, _ = _compare(expr, got, self.forward, self.dims, torch.float64, "cpu", rtol, atol,
                              self._compared)
        return ok, err

    def replay(self, steps):
        """A schedule (a list of `BackwardStep`) run for real on a fresh forward pass:
        (.grad snapshots after each completed step, (step, PyTorch's message) or None)."""
        import torch
        from ..autograd.proof import _run_forward, _run_steps
        env = _run_forward(self.d.problem, self.inputs, self.dims, torch.float64, "cpu")
        return _run_steps(_with_steps(self.d.problem, steps), env, self.dims, torch.float64, "cpu")


    def combined(self, outputs):
        """One backward call through the sum of scalar outputs, on a fresh forward pass:
        ({wrt name: .grad}, None), or ({}, PyTorch's message)."""
        import warnings
        import torch
        from ..autograd.proof import _run_forward
        env = _run_forward(self.d.problem, self.inputs, self.dims, torch.float64, "cpu")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                total = env[outputs[0]]
                for o in outputs[1:]:
                    total = total + env[o]
                total.backward()
        except RuntimeError as e:
            return {}, (str(e).splitlines() or [""])[0]
        return {x: env[x].grad for x in self.d.problem.wrt if isinstance(env.get(x), torch.Tensor)}, None


def _with_steps(prob, steps):
    import copy
    p = copy.copy(prob)
    p.backward = list(steps)
    return p


def numbers(d, check=None):
    """The `Numbers` of a derivation (cached), or `Unavailable`."""
    seed = getattr(check, "seed", 0) or 0
    cached = _CACHE.get(d)
    if cached is not None and cached[0] == seed:
        return cached[1]
    try:
        out = _run(d, seed)
    except Exception as e:                  # the notes never fail for want of numbers
        out = Unavailable("%s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0][:200]))
    _CACHE[d] = (seed, out)
    return out


def _run(d, seed):
    try:
        import torch
    except ImportError:
        return Unavailable("PyTorch is not installed")
    from ..autograd.proof import _run_forward, _run_steps
    from ..errors import SymgradError
    from ..numeric.inputs import concrete, dim_values, draw_inputs
    prob = d.problem
    try:
        dims = dim_values(prob)
        total = 0
        for x in prob.inputs:
            n = 1
            for s in concrete(x.shape, dims):
                n *= s
            total += n
    except SymgradError as e:
        return Unavailable(str(e))
    if total > MAX_ENTRIES:
        return Unavailable("the inputs have %d entries" % total)
    given = [x for x in prob.inputs if x.value is not None]
    source = "value" if len(given) == len(prob.inputs) else ("both" if given else "seed")
    inputs = draw_inputs(prob, dims, torch.float64, "cpu", seed)
    env = _run_forward(prob, inputs, dims, torch.float64, "cpu")
    num = Numbers(d, seed, dims, inputs, env, source)
    num.forward = {n: (t.detach() if isinstance(t, torch.Tensor) else t) for n, t in env.items()}
    _gradients(d, num, env)
    if prob.backward is not None:                # a fresh forward pass: autograd.grad above
        fresh = _run_forward(prob, inputs, dims, torch.float64, "cpu")     # fed retain_grad()
        num.steps, num.error = _run_steps(prob, fresh, dims, torch.float64, "cpu")
    return num


def _gradients(d, num, env):
    """grads[o][name]: d o / d name for every tensor that requires grad, by autograd."""
    import torch
    from ..numeric.check import upstream_gradients
    prob = d.problem
    upstreams = upstream_gradients(d, env, torch.float64, "cpu", num.seed)
    live = [(n, t) for n, t in env.items() if isinstance(t, torch.Tensor) and t.requires_grad]
    for o in prob.outputs:
        out = env[o]
        num.grads[o] = {}
        g = upstreams.get("grad_" + o)
        if g is not None:
            num.upstream[o] = g
        if not (isinstance(out, torch.Tensor) and out.requires_grad):
            continue
        uniq, seen = [], set()
        for n, t in live:
            if id(t) not in seen:
                seen.add(id(t))
                uniq.append(t)
        try:
            got = torch.autograd.grad(out, uniq, grad_outputs=g, retain_graph=True, allow_unused=True)
        except RuntimeError as e:
            num.grad_errors[o] = (str(e).splitlines() or [""])[0]
            continue
        by_id = {id(t): v for t, v in zip(uniq, got)}
        for n, t in live:
            v = by_id.get(id(t))
            num.grads[o][n] = None if v is None else v.detach()


# --- printing -----------------------------------------------------------------------------

@contextlib.contextmanager
def _print_options():
    """PyTorch's printing with the notes' options (restored afterwards): PRINT_OPTIONS, as
    the listing sets them, and float64 the default dtype (so no ``dtype=`` suffix, as in the
    listing, which sets it)."""
    import torch
    opts = torch._tensor_str.PRINT_OPTS
    saved = dict(precision=opts.precision, threshold=opts.threshold, edgeitems=opts.edgeitems,
                 linewidth=opts.linewidth, sci_mode=opts.sci_mode)
    dtype = torch.get_default_dtype()
    torch.set_printoptions(sci_mode=None, **PRINT_OPTIONS)
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_printoptions(**saved)
        torch.set_default_dtype(dtype)


def fmt(t):
    """A value as PyTorch prints it with PRINT_OPTIONS (the listing's): ``tensor([[0.3442,
    1.0302]])``; ``None`` for None.  Beyond PRINT_THRESHOLD entries, two at each end of each
    dimension and "..." between, exactly as the listing's ``print`` shows it."""
    if t is None:
        return "None"
    try:
        import torch
    except ImportError:
        return str(t)
    if not isinstance(t, torch.Tensor):
        return repr(t)
    with _print_options():
        return repr(t.detach() if not t.requires_grad else t)


def fmt_live(t):
    """As `fmt`, with ``requires_grad=True`` / ``grad_fn=<...>`` as the notebook shows them."""
    try:
        import torch
    except ImportError:
        return str(t)
    if not isinstance(t, torch.Tensor):
        return repr(t)
    with _print_options():
        return repr(t)


def labelled(label, text):
    """``label`` then a (possibly multi-line) print, its later lines indented to match."""
    return label + text.replace("\n", "\n" + " " * len(label))


def _number(x):
    if isinstance(x, int):                       # an int or a bool, as PyTorch prints it
        return str(x)
    if x == 0:
        return "0"
    a = abs(x)
    if 1e-3 <= a < 1e4:
        s = "%.4f" % x
        return s.rstrip("0").rstrip(".") if "." in s and a >= 100 else s
    return "%.2e" % x


def short(t, n=4, count=True):
    """A few entries of a value, for a node of a graph: ``0.5``, ``[0.0688, 0.2060, …] (24)``
    (without the count of entries when ``count`` is false)."""
    if t is None:
        return "—"
    try:
        flat = t.detach().reshape(-1).tolist()
    except AttributeError:
        return _number(float(t))
    if not getattr(t.dtype, "is_floating_point", True) and not getattr(t.dtype, "is_complex", False):
        flat = [x if isinstance(x, bool) else int(x) for x in flat]     # labels, masks: 7, True
    if t.dim() == 0:
        return _number(flat[0])
    if len(flat) > 1 and all(x == flat[0] for x in flat):
        return "all %s" % _number(flat[0])
    if len(flat) <= n:
        return "[%s]" % ", ".join(_number(x) for x in flat)
    head = "[%s, …]" % ", ".join(_number(x) for x in flat[:n - 1])
    return "%s (%d)" % (head, len(flat)) if count else head


def constant_value(t):
    """The one value every entry has, or None (``b.grad`` is 0.5 everywhere)."""
    try:
        flat = t.detach().reshape(-1)
    except AttributeError:
        return None
    if flat.numel() < 2:
        return None
    first = float(flat[0])
    return first if bool((flat == first).all()) else None
