"""PyTorch's own meaning of the spec's text: the reference every check compares with.

The checked AST of each node (``symgrad.spec.parse.parse_tree``) is walked and each
operator and function is applied with the real ``torch`` / ``torch.nn.functional``
call of the same name -- so the reference is what the same text computes in PyTorch,
independent of symgrad's SymPy translation.  Arguments are bound with the op table's
signatures.  Only already-whitelisted trees are evaluated; nothing is `eval`-ed.

Which PyTorch function a name means is its op block's fact (``torch=`` of its registration,
or ``ref=`` where the call binds arguments differently); nothing here knows an op.
"""
import ast
import math

import warnings

with warnings.catch_warnings():      # a torch wheel without NumPy warns at import; harmless here
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch
import torch.nn.functional as F

from ..ops import REQUIRED
from ..spec.parse import parse_tree, call_parts, int_literal
from ..spec.subscripts import index_entries


def resolve(path):
    """The PyTorch function a dotted name (``torch.nn.functional.gelu``) names."""
    obj = torch
    for part in path.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


class TorchEval:
    """Evaluates checked expression trees on torch tensors.

    ``closed_form``: the text is a closed form (a gradient), not the spec's PyTorch code.  An
    adjoint is a float tensor in PyTorch, so an integer or bool tensor that enters arithmetic
    as a number (``one_hot(y, 3)/3``, ``-(x > 0)``) or a float op (``index_add`` of
    ``one_hot(y, C)``, a matmul) is evaluated in the working dtype -- not PyTorch's default
    float32, nor refused; an index (``W[y]``, ``index_add``'s ``index``) stays an integer.
    """

    torch, F = torch, F

    def __init__(self, env, dims, dtype, device, closed_form=False):
        self.env = env               # name -> tensor
        self.dims = dims             # dim name -> int
        self.dtype, self.device = dtype, device
        self.closed_form = closed_form

    def as_tensor(self, v, like=None):
        """A Python number as a tensor of the working dtype (or of ``like``'s dtype and device)."""
        if isinstance(v, torch.Tensor):
            return v
        if isinstance(like, torch.Tensor):
            return torch.as_tensor(v, dtype=like.dtype, device=like.device)
        return torch.as_tensor(v, dtype=self.dtype, device=self.device)

    def eval_text(self, text):
        return self.eval(parse_tree(text).body)

    def eval(self, n):
        t = type(n)
        if t is ast.Constant:
            return n.value
        if t is ast.Name:
            if n.id in self.env:
                return self.env[n.id]
            if n.id in self.dims:
                return self.dims[n.id]
            if n.id == "pi":
                return math.pi
            raise KeyError(n.id)
        if t is ast.UnaryOp:
            v = self.eval(n.operand)
            if self.closed_form and isinstance(n.op, ast.USub) and _is_bool(v):
                v = v.to(self.dtype)
            return -v if isinstance(n.op, ast.USub) else v
        if t is ast.BinOp:
            a, b = self.eval(n.left), self.eval(n.right)
            op = type(n.op)
            if self.closed_form:
                a, b = self.numbers(op, a, b)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            if op is ast.Pow:
                return a ** b
            if op is ast.MatMult:
                return a @ b
        if t is ast.Compare:
            a, b = self.eval(n.left), self.eval(n.comparators[0])
            op = type(n.ops[0])
            return {ast.Gt: lambda: a > b, ast.Lt: lambda: a < b,
                    ast.GtE: lambda: a >= b, ast.LtE: lambda: a <= b}[op]()
        if t is ast.Attribute:
            v = self.eval(n.value)
            if n.attr != "T":
                return getattr(v, n.attr)       # .mT, or a field of a result (max(x, 1).values)
            with warnings.catch_warnings():     # .T of a vector: PyTorch's deprecation warning
                warnings.simplefilter("ignore", UserWarning)
                return v.T
        if t is ast.Subscript:
            v = self.eval(n.value)
            if isinstance(v, tuple):            # a piece of split/chunk
                return v[int_literal(n.slice)]
            entries, single = index_entries(n.slice)
            idx = [self.index(e) for e in entries]
            return v[idx[0] if single else tuple(idx)]
        if t in (ast.Tuple, ast.List):
            return tuple(self.eval(e) for e in n.elts)
        if t is ast.Call:
            return self.call(n)
        raise TypeError("cannot evaluate %s" % t.__name__)

    def call(self, n):
        name, spec, args = call_parts(n)
        vals = {}
        for p, a in zip(spec.params, args):
            vals[p.name] = self.eval(a)
        for k in n.keywords:
            vals[k.arg] = self.eval(k.value)
        for p in spec.params:
            if p.name not in vals:
                vals[p.name] = None if p.default is REQUIRED else _plain(p.default)
        if self.closed_form:
            self.float_args(spec, vals)
        number = spec.is_elementwise and not any(isinstance(v, torch.Tensor) for v in vals.values())
        if number:
            # a function of numbers (dims, constants) is a Python number, as math.sqrt(d) in
            # PyTorch code: computed by the same torch function on float64 0-d tensors
            for p in spec.params:
                if p.kind in ("tensor", "mask") and vals[p.name] is not None:
                    v = vals[p.name]
                    vals[p.name] = torch.as_tensor(v, dtype=None if isinstance(v, bool) else torch.float64)
        args = [vals[p.name] for p in spec.params]
        if spec.ref is not None:
            out = spec.ref(self, *args)
        else:
            out = resolve(spec.torch)(*[vals[p.name] for p in spec.params if not p.kwonly],
                                      **{p.name: vals[p.name] for p in spec.params if p.kwonly})
        out = getattr(out, spec.picks) if spec.picks else out
        return out.item() if number else out

    def numbers(self, op, a, b):
        """The operands of ``a op b`` in a closed form: an integer tensor whose result is a float
        (``/``, or with a float operand) and a bool one used as a number are made the working
        dtype; integers among themselves (``y + 1``, an index) stay integers."""
        floating = op is ast.Div or any(_is_float(v) for v in (a, b)) or (
            op is ast.Pow and not (isinstance(b, int) and b >= 0))
        return tuple(v.to(self.dtype) if _is_bool(v) or (floating and _is_int(v)) else v for v in (a, b))

    def float_args(self, spec, vals):
        """The tensor arguments of a call in a closed form: an integer one joins the float ones
        in the working dtype (``index_add(zeros, 0, y, one_hot(y, C))``, a matmul, the tensors
        of ``cat``), and an elementwise function computes in it; an ``index`` argument, a
        tuple of indices (``index_put``) and where()'s condition stay as they are."""
        cast = lambda v: v.to(self.dtype) if _is_int(v) or _is_bool(v) else v
        single = [p.name for p in spec.params if p.kind == "tensor"]
        if spec.is_elementwise or any(_is_float(vals[n]) for n in single):
            for n in single:
                vals[n] = cast(vals[n])
        for p in spec.params:
            v = vals[p.name]
            if p.kind == "tensors" and isinstance(v, tuple) and any(_is_float(x) for x in v):
                vals[p.name] = tuple(cast(x) for x in v)

    def index(self, e):
        """One entry of a subscript as Python indexes a tensor."""
        if e[0] == "int":
            return e[1]
        if e[0] == "slice":
            return slice(*e[1:])
        if e[0] == "none":
            return None
        if e[0] == "ellipsis":
            return Ellipsis
        return self.eval(e[1])


def _is_float(v):
    return isinstance(v, float) or (isinstance(v, torch.Tensor) and v.is_floating_point())


def _is_int(v):
    return isinstance(v, torch.Tensor) and not v.is_floating_point() and v.dtype != torch.bool


def _is_bool(v):
    return isinstance(v, torch.Tensor) and v.dtype == torch.bool


def _plain(v):
    """A SymPy default (e.g. the slope 1/100) as a Python number."""
    try:
        return float(v) if hasattr(v, "evalf") else v
    except TypeError:
        return v
