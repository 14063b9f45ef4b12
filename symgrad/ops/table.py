"""The op table: every function of the spec language, with PyTorch's signature.

Each `OpSpec` binds the PyTorch argument names and defaults, builds the SymPy
expression (through the op classes, which keep the shape, derivative and printing
rules), and records what PyTorch's autograd does with it: the backward node's name
(``grad_fn``) and whether that node saves tensors (so that a second ``backward()``
without ``retain_graph=True`` raises).  Layers and losses are written here in terms of
the primitive ops, exactly as PyTorch defines them.
"""
import sympy
from sympy import S, Tuple, Integer

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape
from . import elementwise as ew
from .base import flag, norm_dim
from .linalg import MatmulOp, TransposeOp, OuterOp, DotOp, TraceOp, DetOp, LogdetOp, InverseOp, T
from .reduce import SumOp, MeanOp, LogsumexpOp, SoftmaxOp, LogSoftmaxOp, NormOp
from .shape import (OnesOp, ZerosOp, EyeOp, OnesLikeOp, ZerosLikeOp, DetachOp, ReshapeOp,
                    UnsqueezeOp, SqueezeOp, reshape_target)

REQUIRED = object()


class Param:
    """One argument: its PyTorch name, its kind and its default."""

    def __init__(self, name, kind="tensor", default=REQUIRED):
        self.name, self.kind, self.default = name, kind, default


class OpSpec:
    def __init__(self, name, params, build, grad_fn=None, saves=False, varshape=False):
        self.name = name
        self.params = params
        self.build = build
        self.grad_fn = grad_fn
        self.saves = saves
        self.varshape = varshape     # ones(2, 3) as well as ones((2, 3))


FUNCTIONS = {}


def op(name, params, grad_fn=None, saves=False, varshape=False):
    def deco(build):
        FUNCTIONS[name] = OpSpec(name, params, build, grad_fn, saves, varshape)
        return build
    return deco


def P(*specs):
    out = []
    for s in specs:
        if isinstance(s, Param):
            out.append(s)
        else:
            out.append(Param(s))
    return out


def rank(x):
    return len(shape_of(x))


def dims_of(x, dim):
    r = rank(x)
    if dim is None:
        return tuple(range(r))
    ds = dim if isinstance(dim, tuple) else (dim,)
    out = sorted({norm_dim(d, r) for d in ds})
    if len(out) != len(ds):
        raise ShapeError("dim %s names a dimension twice" % (dim,))
    return tuple(out)


# --- elementwise ---------------------------------------------------------------------
NATIVE_BUILD = {
    "exp": (sympy.exp, "ExpBackward0", True),
    "log": (sympy.log, "LogBackward0", True),
    "sin": (sympy.sin, "SinBackward0", True),
    "cos": (sympy.cos, "CosBackward0", True),
    "tan": (sympy.tan, "TanBackward0", True),
    "tanh": (sympy.tanh, "TanhBackward0", True),
    "abs": (sympy.Abs, "AbsBackward0", True),
    "sign": (sympy.sign, "SignBackward0", False),
    "erf": (sympy.erf, "ErfBackward0", True),
    "sqrt": (sympy.sqrt, "SqrtBackward0", True),
    "rsqrt": (lambda x: x ** S("-1/2"), "RsqrtBackward0", True),
    "square": (lambda x: x ** 2, "PowBackward0", True),
    "sigmoid": (ew.Sigmoid, "SigmoidBackward0", True),
    "relu": (ew.Relu, "ReluBackward0", True),
    "softplus": (ew.Softplus, "SoftplusBackward0", True),
    "gelu": (ew.Gelu, "GeluBackward0", True),
    "silu": (ew.Silu, "SiluBackward0", True),
    "log1p": (ew.Log1p, "Log1PBackward0", True),
    "expm1": (ew.Expm1, "Expm1Backward0", True),
}

for _name, (_f, _gf, _saves) in NATIVE_BUILD.items():
    op(_name, P("input"), _gf, _saves)(lambda input, _f=_f: _f(input))


@op("leaky_relu", P("input", Param("negative_slope", "number", S("1/100"))), "LeakyReluBackward0", True)
def _leaky(input, negative_slope):
    return ew.LeakyRelu(input, negative_slope)


@op("pow", P("input", "exponent"), "PowBackward0", True)
def _pow(input, exponent):
    return input ** exponent


@op("heaviside", P("input", "values"), "torch::autograd::NotImplemented", False)
def _heaviside(input, values):
    return ew.Heaviside(input, values)


@op("where", P("condition", "input", "other"), "WhereBackward0", True)
def _where(condition, input, other):
    return ew.Where(condition, input, other)


# --- reductions ----------------------------------------------------------------------
def _reduction(cls):
    def build(input, dim=None, keepdim=False):
        if rank(input) == 0:
            return input
        return cls(input, Tuple(*map(Integer, dims_of(input, dim))), flag(keepdim))
    return build


op("sum", P("input", Param("dim", "dims", None), Param("keepdim", "bool", False)), "SumBackward0")(_reduction(SumOp))
op("mean", P("input", Param("dim", "dims", None), Param("keepdim", "bool", False)), "MeanBackward0")(_reduction(MeanOp))


@op("logsumexp", P("input", Param("dim", "dims"), Param("keepdim", "bool", False)), "LogsumexpBackward0", True)
def _logsumexp(input, dim, keepdim):
    if rank(input) == 0:
        return input
    return LogsumexpOp(input, Tuple(*map(Integer, dims_of(input, dim))), flag(keepdim))


@op("softmax", P("input", Param("dim", "dim")), "SoftmaxBackward0", True)
def _softmax(input, dim):
    return SoftmaxOp(input, Integer(norm_dim(dim, rank(input))))


@op("log_softmax", P("input", Param("dim", "dim")), "LogSoftmaxBackward0", True)
def _log_softmax(input, dim):
    return LogSoftmaxOp(input, Integer(norm_dim(dim, rank(input))))


@op("norm", P("input"), "LinalgVectorNormBackward0", True)
def _norm(input):
    return NormOp(input)


# --- linear algebra ------------------------------------------------------------------
@op("matmul", P("input", "other"), "MmBackward0", True)
def _matmul(input, other):
    return MatmulOp(input, other)


@op("transpose", P("input", Param("dim0", "dim"), Param("dim1", "dim")), "TransposeBackward0")
def _transpose(input, dim0, dim1):
    r = rank(input)
    if r == 0:
        return input
    return TransposeOp(input, Integer(norm_dim(dim0, r)), Integer(norm_dim(dim1, r)))


@op("t", P("input"), "TBackward0")
def _t(input):
    if rank(input) > 2:
        raise ShapeError("t() expects a tensor with <= 2 dimensions, got %d" % rank(input))
    return T(input)


@op("trace", P("input"), "TraceBackward0")
def _trace(input):
    return TraceOp(input)


@op("det", P("input"), "LinalgDetBackward0", True)
def _det(input):
    return DetOp(input)


@op("logdet", P("input"), "WhereBackward0", True)
def _logdet(input):
    return LogdetOp(input)


@op("inverse", P("input"), "LinalgInvExBackward0", True)
def _inverse(input):
    return InverseOp(input)


@op("outer", P("input", "vec2"), "MulBackward0", True)
def _outer(input, vec2):
    return OuterOp(input, vec2)


@op("dot", P("input", "tensor"), "DotBackward0", True)
def _dot(input, tensor):
    return DotOp(input, tensor)


# --- shape ---------------------------------------------------------------------------
@op("reshape", P("input", Param("shape", "shape")), "ViewBackward0", varshape=True)
def _reshape(input, shape):
    return ReshapeOp(input, Tuple(*reshape_target(shape_of(input), shape)))


@op("flatten", P("input", Param("start_dim", "dim", 0), Param("end_dim", "dim", -1)), "ViewBackward0")
def _flatten(input, start_dim, end_dim):
    s = shape_of(input)
    if len(s) == 0:
        return ReshapeOp(input, Tuple(S.One))
    a, b = norm_dim(start_dim, len(s)), norm_dim(end_dim, len(s))
    if a > b:
        raise ShapeError("flatten: start_dim %d comes after end_dim %d" % (start_dim, end_dim))
    n = S.One
    for d in s[a:b + 1]:
        n *= d
    return ReshapeOp(input, Tuple(*(s[:a] + (n,) + s[b + 1:])))


@op("unsqueeze", P("input", Param("dim", "dim")), "UnsqueezeBackward0")
def _unsqueeze(input, dim):
    return UnsqueezeOp(input, Integer(norm_dim(dim, rank(input) + 1)))


@op("squeeze", P("input", Param("dim", "dims", None)), "SqueezeBackward0")
def _squeeze(input, dim):
    s = shape_of(input)
    dims = dims_of(input, dim) if s else ()
    return SqueezeOp(input, Tuple(*[Integer(d) for d in dims if s[d] == 1]))


@op("detach", P("input"))
def _detach(input):
    return DetachOp(input)


# --- constants -----------------------------------------------------------------------
@op("ones", P(Param("size", "shape")), varshape=True)
def _ones(size):
    return OnesOp(Tuple(*size))


@op("zeros", P(Param("size", "shape")), varshape=True)
def _zeros(size):
    return ZerosOp(Tuple(*size))


@op("full", P(Param("size", "shape"), Param("fill_value", "number")))
def _full(size, fill_value):
    return fill_value * OnesOp(Tuple(*size))


@op("ones_like", P("input"))
def _ones_like(input):
    return OnesLikeOp(input)


@op("zeros_like", P("input"))
def _zeros_like(input):
    return ZerosLikeOp(input)


@op("eye", P(Param("n", "size")))
def _eye(n):
    return EyeOp(n)


# --- layers and losses, as PyTorch defines them ---------------------------------------
def _reduce(x, reduction):
    if reduction == "mean":
        return _reduction(MeanOp)(x)
    if reduction == "sum":
        return _reduction(SumOp)(x)
    if reduction == "none":
        return x
    raise SpecError("reduction must be 'mean', 'sum' or 'none', got %r" % reduction)


@op("linear", P("input", "weight", Param("bias", "tensor", None)), "AddmmBackward0", True)
def _linear(input, weight, bias):
    if rank(weight) not in (1, 2):
        raise ShapeError("linear: weight must be 1-D or 2-D, got %s" % fmt_shape(shape_of(weight)))
    if rank(weight) == 1 and bias is not None and (rank(input) == 2 or (rank(input) > 2 and rank(bias) > 0)):
        raise ShapeError("linear: a 1-D weight with a bias needs a 1-D input (PyTorch: mat2 must be a matrix)")
    y = MatmulOp(input, T(weight))
    return y if bias is None else y + bias


@op("mse_loss", P("input", "target", Param("reduction", "str", "mean")), "MseLossBackward0", True)
def _mse(input, target, reduction):
    return _reduce(_keep_shape((input - target) ** 2, input, target), reduction)


def _keep_shape(e, *args):
    """An elementwise result SymPy folded (``(x - x)**2`` is 0) keeps its broadcast shape."""
    from ..tensor import broadcast
    want = broadcast(*[shape_of(a) for a in args])
    if shape_of(e) == want or not want:
        return e
    return ZerosOp(Tuple(*want)) if e == 0 else e * OnesOp(Tuple(*want))


@op("cross_entropy", P("input", "target", Param("reduction", "str", "mean")), "DivBackward1", True)
def _cross_entropy(input, target, reduction):
    if shape_of(input) != shape_of(target):
        raise ShapeError("cross_entropy: the probability target must have the logits' shape, "
                         "got %s and %s" % (fmt_shape(shape_of(input)), fmt_shape(shape_of(target))))
    r = rank(input)
    if r == 0:
        raise ShapeError("cross_entropy: logits must be at least 1-D")
    cdim = 0 if r == 1 else 1
    per = -SumOp(target * LogSoftmaxOp(input, Integer(cdim)), Tuple(Integer(cdim)), flag(False))
    if r == 1:
        return per
    if reduction == "mean":
        n = S.One
        for k, d in enumerate(shape_of(input)):
            if k != cdim:
                n *= d
        return SumOp(per, Tuple(*map(Integer, range(r - 1))), flag(False)) / n
    return _reduce(per, reduction)


@op("binary_cross_entropy", P("input", "target", Param("reduction", "str", "mean")),
    "BinaryCrossEntropyBackward0", True)
def _bce(input, target, reduction):
    return _reduce(_keep_shape(-(target * sympy.log(input) + (1 - target) * sympy.log(1 - input)),
                               input, target), reduction)


@op("binary_cross_entropy_with_logits", P("input", "target", Param("reduction", "str", "mean")),
    "BinaryCrossEntropyWithLogitsBackward0", True)
def _bce_logits(input, target, reduction):
    return _reduce(_keep_shape(ew.Softplus(input) - input * target, input, target), reduction)


# --- operators (for autograd bookkeeping: the AST operator -> PyTorch node) ------------
OPERATORS = {
    "+": ("AddBackward0", False),
    "-": ("SubBackward0", False),
    "*": ("MulBackward0", True),
    "/": ("DivBackward0", True),
    "**": ("PowBackward0", True),
    "@": ("MmBackward0", True),
    "neg": ("NegBackward0", False),
    ".T": ("PermuteBackward0", False),
    "cmp": (None, False),
}

NAMES = sorted(FUNCTIONS)
