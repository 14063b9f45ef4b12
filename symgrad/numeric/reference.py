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
from ..spec.parse import parse_tree, call_parts


def resolve(path):
    """The PyTorch function a dotted name (``torch.nn.functional.gelu``) names."""
    obj = torch
    for part in path.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


class TorchEval:
    """Evaluates checked expression trees on torch tensors."""

    torch, F = torch, F

    def __init__(self, env, dims, dtype, device):
        self.env = env               # name -> tensor
        self.dims = dims             # dim name -> int
        self.dtype, self.device = dtype, device

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
            return -v if isinstance(n.op, ast.USub) else v
        if t is ast.BinOp:
            a, b = self.eval(n.left), self.eval(n.right)
            op = type(n.op)
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
            if n.attr != "T":               # a field of a named tuple: eigh(A).eigenvectors
                return getattr(v, n.attr)
            with warnings.catch_warnings():     # .T of a vector: PyTorch's deprecation warning
                warnings.simplefilter("ignore", UserWarning)
                return v.T
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
        if spec.is_elementwise and [p.kind for p in spec.params].count("tensor") == 1 \
                and not isinstance(vals["input"], torch.Tensor):
            # a number: PyTorch's unary functions take tensors (exp(2) means exp(tensor(2.)))
            vals["input"] = self.as_tensor(vals["input"])
        args = [vals[p.name] for p in spec.params]
        out = spec.ref(self, *args) if spec.ref is not None else resolve(spec.torch)(*args)
        return getattr(out, spec.picks) if spec.picks else out


def _plain(v):
    """A SymPy default (e.g. the slope 1/100) as a Python number."""
    try:
        return float(v) if hasattr(v, "evalf") else v
    except TypeError:
        return v
