"""PyTorch's own meaning of the spec's text: the reference every check compares with.

The checked AST of each node (``symgrad.parser.parse_tree``) is walked and each
operator and function is applied with the real ``torch`` / ``torch.nn.functional``
call of the same name -- so the reference is what the same text computes in PyTorch,
independent of symgrad's SymPy translation.  Arguments are bound with the op table's
signatures.  Only already-whitelisted trees are evaluated; nothing is `eval`-ed.
"""
import ast
import math

import warnings

with warnings.catch_warnings():      # a torch wheel without NumPy warns at import; harmless here
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch
import torch.nn.functional as F

from .ops import REQUIRED
from .parser import parse_tree, call_parts


def _reduce(fn):
    def f(input, dim=None, keepdim=False):
        if dim is None:
            if keepdim:
                return fn(input, dim=tuple(range(input.dim())), keepdim=True)
            return fn(input)
        return fn(input, dim=dim, keepdim=keepdim)
    return f


def _like(x):
    return {"dtype": x.dtype, "device": x.device} if isinstance(x, torch.Tensor) else {}


REF = {
    "exp": torch.exp, "log": torch.log, "log1p": torch.log1p, "expm1": torch.expm1,
    "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "abs": torch.abs, "sin": torch.sin,
    "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "relu": torch.relu, "softplus": F.softplus, "gelu": F.gelu, "silu": F.silu,
    "leaky_relu": lambda input, negative_slope: F.leaky_relu(input, float(negative_slope)),
    "square": torch.square, "pow": torch.pow, "sign": torch.sign, "erf": torch.erf,
    "heaviside": lambda input, values: torch.heaviside(input, torch.as_tensor(values, **_like(input))),
    "where": torch.where,
    "sum": _reduce(torch.sum), "mean": _reduce(torch.mean),
    "logsumexp": lambda input, dim, keepdim: torch.logsumexp(input, dim, keepdim),
    "norm": torch.norm,
    "softmax": lambda input, dim: torch.softmax(input, dim),
    "log_softmax": lambda input, dim: torch.log_softmax(input, dim),
    "matmul": torch.matmul, "transpose": torch.transpose, "t": torch.t, "trace": torch.trace,
    "det": torch.det, "logdet": torch.logdet, "inverse": torch.inverse,
    "outer": torch.outer, "dot": torch.dot,
    "reshape": lambda input, shape: torch.reshape(input, shape),
    "flatten": lambda input, start_dim, end_dim: torch.flatten(input, start_dim, end_dim),
    "unsqueeze": torch.unsqueeze,
    "squeeze": lambda input, dim: torch.squeeze(input) if dim is None else torch.squeeze(input, dim),
    "detach": torch.detach,
    "linear": lambda input, weight, bias: F.linear(input, weight, bias),
    "mse_loss": lambda input, target, reduction: F.mse_loss(input, target, reduction=reduction),
    "cross_entropy": lambda input, target, reduction: F.cross_entropy(input, target, reduction=reduction),
    "binary_cross_entropy": lambda input, target, reduction: F.binary_cross_entropy(input, target, reduction=reduction),
    "binary_cross_entropy_with_logits": lambda input, target, reduction:
        F.binary_cross_entropy_with_logits(input, target, reduction=reduction),
}
CONSTRUCTORS = {"ones": torch.ones, "zeros": torch.zeros, "eye": torch.eye}
ELEMENTWISE = {"exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sin", "cos", "tan", "tanh",
               "sigmoid", "relu", "softplus", "gelu", "silu", "leaky_relu", "square", "sign", "erf"}


class TorchEval:
    """Evaluates checked expression trees on torch tensors."""

    def __init__(self, env, dims, dtype, device):
        self.env = env               # name -> tensor
        self.dims = dims             # dim name -> int
        self.dtype, self.device = dtype, device

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
        if name in ("reshape",):
            vals["shape"] = tuple(int(s) for s in _tuple(vals["shape"]))
        if name in CONSTRUCTORS:
            v = list(vals.values())[0]
            size = tuple(int(s) for s in _tuple(v)) if name != "eye" else int(v)
            return CONSTRUCTORS[name](size, dtype=self.dtype, device=self.device)
        if name == "full":
            size = tuple(int(s) for s in _tuple(vals["size"]))
            return torch.full(size, float(vals["fill_value"]), dtype=self.dtype, device=self.device)
        if name == "ones_like":
            return torch.ones_like(vals["input"])
        if name == "zeros_like":
            return torch.zeros_like(vals["input"])
        if name in ELEMENTWISE and not isinstance(vals["input"], torch.Tensor):
            # a number: PyTorch's functions take tensors (exp(2) means exp(tensor(2.)))
            vals["input"] = torch.as_tensor(vals["input"], dtype=self.dtype, device=self.device)
        return REF[name](*[vals[p.name] for p in spec.params])


def _tuple(v):
    return v if isinstance(v, tuple) else (v,)


def _plain(v):
    """A SymPy default (e.g. the slope 1/100) as a Python number."""
    try:
        return float(v) if hasattr(v, "evalf") else v
    except TypeError:
        return v
