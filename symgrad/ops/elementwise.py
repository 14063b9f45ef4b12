"""Elementwise ops: the custom scalar functions, the 0/1 masks, and the SymPy natives.

Each custom function declares its derivative (`fdiff`, with PyTorch's choice of
subgradient at kinks: ``relu'(0) = 0``, ``leaky_relu'(0) = slope``, ``abs'(0) = 0``),
its spelling in the spec language, LaTeX and torch.  Masks (`Gt`, `Lt`, `Ge`, `Le`)
are 0/1-valued tensors, exactly as ``x * (x > 0)`` behaves in PyTorch.

`NATIVE` describes SymPy's own functions that the spec language maps onto.
"""
import sympy
from sympy import S, exp, erf, sqrt, pi

from .base import ElementwiseFn


class Sigmoid(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return 1 / (1 + exp(-x))
    spec_name = "sigmoid"
    torch_name = "torch.sigmoid"
    latex_name = r"\sigma"

    def fdiff(self, argindex=1):
        return self * (1 - self)


class Relu(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return sympy.Max(x, 0)
    spec_name = "relu"
    torch_name = "torch.relu"

    def fdiff(self, argindex=1):
        return Gt(self.args[0], S.Zero)


class LeakyRelu(ElementwiseFn):
    nargs = 2

    def value(self, x, slope):
        return x if x > 0 else slope * x
    spec_name = "leaky_relu"
    torch_name = "torch.nn.functional.leaky_relu"

    def fdiff(self, argindex=1):
        if argindex != 1:
            return S.Zero
        x, slope = self.args
        return Gt(x, S.Zero) + slope * Le(x, S.Zero)

    def text(self, p):
        return "leaky_relu(%s, negative_slope=%s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def torch(self, p):
        return "torch.nn.functional.leaky_relu(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))


class Softplus(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return sympy.log(1 + exp(x))
    spec_name = "softplus"
    torch_name = "torch.nn.functional.softplus"

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])


class Gelu(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return x * (1 + erf(x / sqrt(2))) / 2
    spec_name = "gelu"
    torch_name = "torch.nn.functional.gelu"

    def fdiff(self, argindex=1):
        x = self.args[0]
        return (1 + erf(x / sqrt(2))) / 2 + x * exp(-x**2 / 2) / sqrt(2 * pi)


class Silu(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return x / (1 + exp(-x))
    spec_name = "silu"
    torch_name = "torch.nn.functional.silu"

    def fdiff(self, argindex=1):
        s = Sigmoid(self.args[0])
        return s * (1 + self.args[0] * (1 - s))


class Log1p(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return sympy.log(1 + x)
    spec_name = "log1p"
    torch_name = "torch.log1p"
    latex_name = r"\operatorname{log1p}"

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


class Expm1(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return exp(x) - 1
    spec_name = "expm1"
    torch_name = "torch.expm1"

    def fdiff(self, argindex=1):
        return self + 1


class Mask(ElementwiseFn):
    """A comparison as a 0/1 tensor; its gradient is zero and it never requires grad."""
    nargs = 2
    differentiable = False
    op = None
    latex_op = None
    is_nonnegative = True

    def fdiff(self, argindex=1):
        return S.Zero

    def value(self, a, b):
        return S.One if {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[self.op] else S.Zero

    @classmethod
    def eval(cls, a, b):
        if a.is_Number and b.is_Number:      # two numbers compare to a number, 0 or 1
            return cls.value(cls, a, b)

    def _eval_power(self, e):
        if e.is_Integer and e > 0:
            return self

    def text(self, p):
        return "(%s %s %s)" % (p._print(self.args[0]), self.op, p._print(self.args[1]))

    def torch(self, p):
        return "(%s %s %s)" % (p._print(self.args[0]), self.op, p._print(self.args[1]))

    def latex(self, p):
        return r"\left[%s %s %s\right]" % (p._print(self.args[0]), self.latex_op, p._print(self.args[1]))


class Gt(Mask):
    spec_name, op, latex_op = "gt", ">", ">"


class Lt(Mask):
    spec_name, op, latex_op = "lt", "<", "<"


class Ge(Mask):
    spec_name, op, latex_op = "ge", ">=", r"\geq"


class Le(Mask):
    spec_name, op, latex_op = "le", "<=", r"\leq"


COMPLEMENT = {Gt: Le, Le: Gt, Lt: Ge, Ge: Lt}


class Heaviside(ElementwiseFn):
    """heaviside(x, v): PyTorch defines no derivative for it."""
    nargs = 2
    spec_name = "heaviside"
    differentiable = False

    def fdiff(self, argindex=1):
        return S.Zero        # PyTorch has none: its backward raises (the schedule predicts it)

    def torch(self, p):
        return "torch.heaviside(%s, torch.as_tensor(%s, dtype=_dt, device=_dev))" % (
            p._print(self.args[0]), p._print(self.args[1]))


class Where(ElementwiseFn):
    """where(c, x, y); its partials are the 0/1 masks of c and of not-c."""
    nargs = 3
    spec_name = "where"

    @classmethod
    def eval(cls, c, x, y):
        if c.is_Number:                       # a decided condition (the parser keeps shapes)
            return x if c != 0 else y

    def fdiff(self, argindex=1):
        c = self.args[0]
        if argindex == 1:
            return S.Zero
        if type(c) in COMPLEMENT:
            return c if argindex == 2 else COMPLEMENT[type(c)](*c.args)
        return Where(c, S.One, S.Zero) if argindex == 2 else Where(c, S.Zero, S.One)

    def torch(self, p):
        c, x, y = (p._print(a) for a in self.args)
        return "torch.where(%s, %s, %s)" % (c, p.as_tensor(self.args[1], x), p.as_tensor(self.args[2], y))

    def latex(self, p):
        c, x, y = (p._print(a) for a in self.args)
        return r"\begin{cases} %s & \text{if } %s \\ %s & \text{otherwise}\end{cases}" % (x, c, y)


class Native:
    """How a SymPy-native elementwise function is spelled in each language."""

    def __init__(self, spec_name, torch_name):
        self.spec_name = spec_name
        self.torch_name = torch_name


NATIVE = {
    sympy.exp: Native("exp", "torch.exp"),
    sympy.log: Native("log", "torch.log"),
    sympy.sin: Native("sin", "torch.sin"),
    sympy.cos: Native("cos", "torch.cos"),
    sympy.tan: Native("tan", "torch.tan"),
    sympy.tanh: Native("tanh", "torch.tanh"),
    sympy.Abs: Native("abs", "torch.abs"),
    sympy.sign: Native("sign", "torch.sign"),
    sympy.erf: Native("erf", "torch.erf"),
}

CUSTOM = [Sigmoid, Relu, LeakyRelu, Softplus, Gelu, Silu, Log1p, Expm1, Heaviside, Where]
