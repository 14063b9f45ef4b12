"""Running the user's code under torch.export, and turning its failures into located errors.

Why torch.export (non-strict) and not torch.fx's symbolic tracing: symbolic tracing runs
the code on proxies, so Python that touches real tensors escapes it -- a Python
``sum(p.pow(2).sum() for p in net.parameters())`` iterates the real parameters and is
silently baked in as a constant, ``x.view(x.size(0), -1)`` leaves symbolic sizes to
resolve, and a function calling a global model is refused.  Non-strict export runs the
Python for real on fake tensors and records every tensor operation as one canonical ATen
op with static shapes (``aten.linear``, ``aten.layer_norm``, ``aten.cross_entropy_loss``,
``aten.flatten`` survive as themselves), the parameters of the modules the root owns stay
parameters however the code reaches them, branching on a tensor's value fails loudly, and each node carries its stack
trace and module path -- what the spec's names and error locations are made of.

The user's files are registered as stack-trace anchors while exporting, so frames of
plain functions (not only ``forward`` methods) appear in the traces; torch's own log
output and warnings raised inside torch are kept out of the user's terminal.
"""
import contextlib
import io
import linecache
import logging
import sys
import types
import warnings

import torch

from .errors import TraceError
from .inputs import example_tensor
from .source import locate, display
from .target import user_error

_DATA_DEPENDENT = ("GuardOnDataDependentSymNode", "DataDependentOutputException", "DynamicOutputShapeException",
                   "PendingUnbackedSymbolNotFound")


MIN_TORCH = (2, 5)       # non-strict export whose IR keeps linear, layer_norm, cross_entropy whole


def capture(root, specs, aliases=None):
    """Export ``root.module`` on example tensors for ``specs`` (data inputs, in order)."""
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2] if p.isdigit())
    if version < MIN_TORCH:
        raise TraceError("symgrad trace needs torch >= %d.%d (torch.export); this is torch %s"
                         % (MIN_TORCH + (torch.__version__,)))
    args, values = _examples(root, specs)
    with _anchors(root), _quiet(), _stderr() as err:
        try:
            return torch.export.export(root.module, args, values, strict=False)
        except Exception as e:
            err.drop(getattr(e, "partial_fx_graph", None))
            raise _explain(e, root, aliases) from None


def _examples(root, specs):
    """The example tensors: positional-only arguments, then keyword arguments."""
    dtype = float_dtype(root.module)
    values = {s.name: example_tensor(s, dtype) for s in specs}
    return tuple(values.pop(n) for n in root.positional if n in values), values


def backward_runs(root, specs):
    """Run the code eagerly on copies of its state and call backward: the error PyTorch
    raises, or None.

    The spec writes in-place ops out of place; that is only what PyTorch computes when its
    own backward can run -- an op that overwrites a value autograd saved (``relu_`` then
    ``h += x``) makes ``loss.backward()`` raise, and the spec must not pretend otherwise.
    Copies of the parameters and buffers keep the user's module untouched.
    """
    from torch.func import functional_call
    args, values = _examples(root, specs)
    state = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in
             list(root.module.named_parameters()) + list(root.module.named_buffers())}
    leaves = [v for v in state.values() if v.requires_grad]
    try:
        out = functional_call(root.module, state, args, values)
        outs = [o for o in torch.utils._pytree.tree_leaves(out) if isinstance(o, torch.Tensor) and o.requires_grad]
        if outs and leaves:
            torch.autograd.grad(sum(o.sum() for o in outs), leaves, allow_unused=True)
    except RuntimeError as e:
        return e
    return None


def float_dtype(module):
    """The floating dtype of the model's parameters (float32 unless the user chose another)."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _explain(e, root, aliases):
    name = type(e).__name__
    if name in _DATA_DEPENDENT or "data-dependent" in str(e) or "data dependent" in str(e):
        where = locate(e.__traceback__)
        msg = ("'%s' branches on or reads a tensor's value (data-dependent control flow): a spec is one "
               "fixed graph of tensor operations; compute both branches and use torch.where, or trace "
               "one branch" % root.title)
        return TraceError(msg, *((display(where.file, aliases), where.line) if where else (None, None)))
    return user_error("tracing '%s' raised" % root.title, e, aliases)


@contextlib.contextmanager
def _anchors(root):
    """Keep the stack frames of every function of the user's files in the recorded traces."""
    try:
        from torch.fx import proxy
        anchors = proxy._STACK_TRACE_ANCHORS
    except (ImportError, AttributeError):         # an older torch: traces keep forward() frames only
        yield
        return
    added = _user_functions(root) - anchors
    anchors.update(added)
    try:
        yield
    finally:
        anchors.difference_update(added)


def _user_functions(root):
    """(file, function name) for every function of the files that define the traced
    function and the model's classes -- helpers, methods, generator expressions."""
    from .source import is_user_file
    seeds = [getattr(root.module, "fn", None)] + [getattr(type(m), "forward", None) for m in root.module.modules()]
    files = {s.__code__.co_filename for s in seeds if hasattr(s, "__code__")}
    out = set()
    for f in sorted(x for x in files if is_user_file(x)):
        try:
            top = compile("".join(linecache.getlines(f)), f, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        stack = [top]
        while stack:
            code = stack.pop()
            out.add((f, code.co_name))
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return out


class _Stderr(io.StringIO):
    def drop(self, text):
        """Forget ``text`` (the graph torch prints, maybe more than once, when export fails);
        keep the user's own output."""
        if text:
            rest = self.getvalue().replace(str(text) + "\n", "")
            self.seek(0)
            self.truncate()
            self.write(rest)


@contextlib.contextmanager
def _stderr():
    """Hold back what is printed to stderr while exporting; pass on all but torch's graph dump."""
    buf = _Stderr()
    try:
        with contextlib.redirect_stderr(buf):
            yield buf
    finally:
        sys.stderr.write(buf.getvalue())


@contextlib.contextmanager
def _quiet():
    """Silence logging (torch logs graphs when export fails) and the warnings torch itself
    raises while exporting; the user's own warnings still show."""
    before = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch(\.|$)")
        try:
            yield
        finally:
            logging.disable(before)
