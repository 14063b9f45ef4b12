"""Elementwise ops: the custom scalar functions, the 0/1 masks, and the SymPy natives.

Each custom function declares its derivative (`fdiff`, with PyTorch's choice of
subgradient at kinks: ``relu'(0) = 0``, ``leaky_relu'(0) = slope``, ``abs'(0) = 0``),
its spelling in the spec language, LaTeX and torch.  Masks (`Gt`, `Lt`, `Ge`, `Le`)
are 0/1-valued tensors, exactly as ``x * (x > 0)`` behaves in PyTorch.

`NATIVE` describes SymPy's own functions that the spec language maps onto.

Each function is one block: its class (or the SymPy native it maps onto) and its
registration (`symgrad.ops.registry`), with PyTorch's backward node, what the node saves,
and the reason the notes give.  Adding an elementwise function is adding a block here.
"""
import sympy
from sympy import S, exp, erf, sqrt, pi

from .base import ElementwiseFn, TensorOp
from .registry import register, P, Param, NOT_IMPLEMENTED


class Native:
    """How a SymPy-native elementwise function is spelled in each language."""

    def __init__(self, spec_name, torch_name):
        self.spec_name = spec_name
        self.torch_name = torch_name


NATIVE = {}          # SymPy function class -> Native


def native(name, fn, grad_fn, saved, reason, torch=None, build=None, **facts):
    """One block for a function SymPy already knows (its calculus and LaTeX are SymPy's)."""
    torch = torch or "torch." + name
    if build is None:
        NATIVE[fn] = Native(name, torch)
        build = lambda input, _f=fn: _f(input)        # noqa: E731
    register(name, P("input"), build, kind="elementwise", torch=torch, grad_fn=grad_fn,
             saved=saved, reason=reason, **facts)


def custom(params=None, build=None, **facts):
    """Class decorator: the block of a function of our own class, under its spec name."""
    def deco(cls):
        ps = params or P("input")
        register(cls.spec_name, ps, build or cls, kind="elementwise", torch=cls.torch_name, **facts)
        return cls
    return deco


native("exp", sympy.exp, "ExpBackward0", ("result",), "d e^x = e^x dx: the output itself")
native("log", sympy.log, "LogBackward0", ("self",), "d log x = dx / x")
native("sin", sympy.sin, "SinBackward0", ("self",), "d sin x = cos x dx")
native("cos", sympy.cos, "CosBackward0", ("self",), "d cos x = -sin x dx")
native("tan", sympy.tan, "TanBackward0", ("result",), "d tan x = (1 + tan^2 x) dx")
native("tanh", sympy.tanh, "TanhBackward0", ("result",), "d tanh x = (1 - tanh^2 x) dx: one minus the output squared")
native("abs", sympy.Abs, "AbsBackward0", ("self",), "d|x| = sign(x) dx (0 at 0, as PyTorch)", on_bool="fail")
native("sign", sympy.sign, "SignBackward0", (), "sign is piecewise constant: its gradient is 0", on_bool="keep")
native("sinh", sympy.sinh, "SinhBackward0", ("self",), "d sinh x = cosh x dx")
native("cosh", sympy.cosh, "CoshBackward0", ("self",), "d cosh x = sinh x dx")
native("erf", sympy.erf, "ErfBackward0", ("self",), "d erf x = 2/sqrt(pi) e^{-x^2} dx")
native("sqrt", None, "SqrtBackward0", ("result",), "d sqrt(x) = dx / (2 sqrt(x))",
       build=lambda input: sympy.sqrt(input))
native("rsqrt", None, "RsqrtBackward0", ("result",), "d x^{-1/2} = -x^{-3/2}/2 dx", build=lambda input: input ** S("-1/2"))
native("square", None, "PowBackward0", ("self",), "d x^2 = 2x dx", build=lambda input: input ** 2)
native("asin", sympy.asin, "AsinBackward0", ("self",), "d asin x = dx / sqrt(1 - x^2)")
native("acos", sympy.acos, "AcosBackward0", ("self",), "d acos x = -dx / sqrt(1 - x^2)")
native("atan", sympy.atan, "AtanBackward0", ("self",), "d atan x = dx / (1 + x^2)")
native("reciprocal", None, "ReciprocalBackward0", ("result",), "d (1/x) = -dx / x^2: minus the output squared",
       build=lambda input: 1 / input)
native("exp2", None, "Exp2Backward0", ("result",), "d 2^x = 2^x log(2) dx: the output times log 2",
       build=lambda input: 2 ** input)
native("log2", None, "Log2Backward0", ("self",), "d log2 x = dx / (x log 2)",
       build=lambda input: sympy.log(input) / sympy.log(2))
native("log10", None, "Log10Backward0", ("self",), "d log10 x = dx / (x log 10)",
       build=lambda input: sympy.log(input) / sympy.log(10))

POW_SAVED = {"PowBackward0": ("self",), "PowBackward1": ("self", "exponent", "result"),
             "PowBackward2": ("exponent", "result")}


def record_pow(w, n, fn, vals, nodes):
    """``x ** y`` (the operator and the function): the node depends on which side is a tensor."""
    a, b = vals["input"], vals["exponent"]
    ta, tb = w.is_tensor(a), w.is_tensor(b)
    name = "PowBackward1" if ta and tb else ("PowBackward0" if ta else "PowBackward2")
    shape = w.shape(n)
    return w.record(n, name, [a, b], name, w.saved(POW_SAVED[name], [a, b], [nodes["input"], nodes["exponent"]], n),
                    shape=shape, contiguous=w.contiguous_elementwise([a, b], shape))


# the parser builds x**y itself (with bounds on exponents); this block holds the other facts
register("pow", P("input", "exponent"), lambda input, exponent: input ** exponent, kind="elementwise",
         torch="torch.pow", grad_fn="PowBackward0", saved=POW_SAVED["PowBackward0"], record=record_pow,
         reason="d x^y = y x^{y-1} dx + x^y log(x) dy")


@custom(grad_fn="SigmoidBackward0", saved=("result",),
        reason="d sigma(x) = sigma(x)(1 - sigma(x)) dx: from the output alone")
class Sigmoid(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return 1 / (1 + exp(-x))
    spec_name = "sigmoid"
    torch_name = "torch.sigmoid"
    latex_name = r"\sigma"

    def fdiff(self, argindex=1):
        return self * (1 - self)


@custom(grad_fn="ReluBackward0", saved=("result",), on_bool="fail",
        reason="relu routes: the gradient passes where the input is positive, else 0")
class Relu(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return sympy.Max(x, 0)
    spec_name = "relu"
    torch_name = "torch.relu"

    def fdiff(self, argindex=1):
        # relu(x) > 0 exactly where x > 0: said with the output, the mask names its node
        # (``h > 0``); `masks_on_inputs` puts x back where the output has no name
        return Gt(self, S.Zero)


@custom(P("input", Param("negative_slope", "number", S("1/100"))),
        grad_fn="LeakyReluBackward0", saved=("self",), on_bool="fail",
        ref=lambda ctx, input, negative_slope: ctx.F.leaky_relu(input, float(negative_slope)),
        reason="leaky_relu routes: slope 1 where the input is positive, else negative_slope")
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
        if slope.is_nonnegative:         # the output has the input's sign: masks of the output
            x = self
        return Gt(x, S.Zero) + slope * Le(x, S.Zero)

    def text(self, p):
        return "leaky_relu(%s, negative_slope=%s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def torch(self, p):
        return "torch.nn.functional.leaky_relu(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))


class Softplus(ElementwiseFn):           # registered with beta and threshold in `activations`
    nargs = 1

    def value(self, x):
        return sympy.log(1 + exp(x))
    spec_name = "softplus"
    torch_name = "torch.nn.functional.softplus"

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])


class Gelu(ElementwiseFn):               # registered with `approximate` in `activations`
    nargs = 1

    def value(self, x):
        return x * (1 + erf(x / sqrt(2))) / 2
    spec_name = "gelu"
    torch_name = "torch.nn.functional.gelu"

    def fdiff(self, argindex=1):
        x = self.args[0]
        return (1 + erf(x / sqrt(2))) / 2 + x * exp(-x**2 / 2) / sqrt(2 * pi)


@custom(grad_fn="SiluBackward0", saved=("self",), on_bool="fail",
        reason="d silu(x) = sigma(x)(1 + x(1 - sigma(x))) dx")
class Silu(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return x / (1 + exp(-x))
    spec_name = "silu"
    torch_name = "torch.nn.functional.silu"

    def fdiff(self, argindex=1):
        s = Sigmoid(self.args[0])
        return s * (1 + self.args[0] * (1 - s))


@custom(grad_fn="Log1PBackward0", saved=("self",), reason="d log(1 + x) = dx / (1 + x)")
class Log1p(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return sympy.log(1 + x)
    spec_name = "log1p"
    torch_name = "torch.log1p"
    latex_name = r"\operatorname{log1p}"

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


@custom(grad_fn="Expm1Backward0", saved=("result",), reason="d (e^x - 1) = e^x dx: the output plus one")
class Expm1(ElementwiseFn):
    nargs = 1

    def value(self, x):
        return exp(x) - 1
    spec_name = "expm1"
    torch_name = "torch.expm1"

    def fdiff(self, argindex=1):
        return self + 1


@custom(P("input", "other"), grad_fn="LogaddexpBackward0", saved=("self", "other"), number_ok=False, strict=True,
        reason="d log(e^a + e^b) = sigma(a - b) da + sigma(b - a) db: a softmax over the two")
class Logaddexp(ElementwiseFn):
    nargs = 2
    spec_name = "logaddexp"
    torch_name = "torch.logaddexp"

    def value(self, a, b):
        return sympy.log(exp(a) + exp(b))

    def fdiff(self, argindex=1):
        a, b = self.args
        return Sigmoid(a - b) if argindex == 1 else Sigmoid(b - a)


@custom(P("input", "other"), grad_fn="Atan2Backward0", saved=("self", "other"), number_ok=False, strict=True,
        reason="d atan2(y, x) = (x dy - y dx)/(x^2 + y^2); 0 at the origin, as PyTorch")
class Atan2(ElementwiseFn):
    """atan2(y, x) (PyTorch's argument order: input is y); not SymPy's atan2, which rewrites
    itself (atan(y/x) for a positive x)."""
    nargs = 2
    spec_name = "atan2"
    torch_name = "torch.atan2"

    def value(self, y, x):
        return sympy.atan2(y, x)

    def fdiff(self, argindex=1):
        y, x = self.args
        r = x**2 + y**2
        d = (x if argindex == 1 else -y) / r
        return d if r.is_positive else Where(Gt(r, S.Zero), d, S.Zero)      # PyTorch: 0 at (0, 0)


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


@custom(P("input", "values"), grad_fn=NOT_IMPLEMENTED, number_ok=False, on_bool="keep",
        ref=lambda ctx, input, values: ctx.torch.heaviside(input, ctx.as_tensor(values, input)),
        reason="PyTorch defines no derivative for heaviside: its backward raises")
class Heaviside(ElementwiseFn):
    """heaviside(x, v): PyTorch defines no derivative for it."""
    nargs = 2
    spec_name = "heaviside"
    torch_name = "torch.heaviside"
    differentiable = False

    def fdiff(self, argindex=1):
        return S.Zero        # PyTorch has none: its backward raises (the schedule predicts it)

    def value(self, x, v):
        return S.Zero if x < 0 else (v if x == 0 else S.One)

    def torch(self, p):
        return "torch.heaviside(%s, torch.as_tensor(%s, dtype=_dt, device=_dev))" % (
            p._print(self.args[0]), p._print(self.args[1]))


@custom(P(Param("condition", "mask"), "input", "other"), grad_fn="WhereBackward0", saved=("condition",),
        reason="where routes: the gradient goes to the chosen branch, entry by entry")
class Where(ElementwiseFn):
    """where(c, x, y); its partials are the 0/1 masks of c and of not-c."""
    nargs = 3
    spec_name = "where"
    torch_name = "torch.where"

    @classmethod
    def eval(cls, c, x, y):
        if c.is_Number:                       # a decided condition (the parser keeps shapes)
            return x if c != 0 else y
        if isinstance(c, Mask) and (x.has(c) or y.has(c)):
            # where(f > 0, -x/f**3*(f > 0), 0): the branch taken where c holds sees c as 1 --
            # entry by entry only, never inside a reduction or a view (prod(where(c, x, 1)))
            x2, y2 = _entrywise_replace(x, c, S.One), _entrywise_replace(y, c, S.Zero)
            if x2 is not x or y2 is not y:
                return cls(c, x2, y2)

    def fdiff(self, argindex=1):
        c = self.args[0]
        if argindex == 1:
            return S.Zero
        if type(c) in COMPLEMENT:
            return c if argindex == 2 else COMPLEMENT[type(c)](*c.args)
        return Where(c, S.One, S.Zero) if argindex == 2 else Where(c, S.Zero, S.One)

    def text(self, p):
        c, x, y = (p._print(a) for a in self.args)
        if isinstance(self.args[0], Mask) and c.startswith("(") and c.endswith(")"):
            c = c[1:-1]                       # where(x > 0, ...), not where((x > 0), ...)
        return "where(%s, %s, %s)" % (c, x, y)

    def torch(self, p):
        c, x, y = (p._print(a) for a in self.args)
        return "torch.where(%s, %s, %s)" % (c, p.as_tensor(self.args[1], x), p.as_tensor(self.args[2], y))

    def latex(self, p):
        c, x, y = (p._print(a) for a in self.args)
        return r"\begin{cases} %s & \text{if } %s \\ %s & \text{otherwise}\end{cases}" % (x, c, y)


def _entrywise_replace(e, old, new):
    """``e`` with ``old`` replaced by ``new`` where it stands entry for entry with e as a
    factor or term -- not below a tensor op, whose entries mix or move, nor inside another
    where, whose guard (``y/where(x != 0, x, 1)``) keeps a second derivative finite;
    ``e`` itself when nothing changed."""
    if e == old:
        return new
    if isinstance(e, (TensorOp, Where)) or not e.args or not e.has(old):
        return e
    args = [_entrywise_replace(a, old, new) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)


def masks_on_inputs(e):
    """``relu(x) > 0`` -> ``x > 0`` (and leaky_relu's masks) where the output has no name."""
    if not e.has(Relu, LeakyRelu):
        return e

    def plain(m):
        a = m.args[0]
        if isinstance(a, (Relu, LeakyRelu)) and m.args[1] == 0:
            return m.func(a.args[0], S.Zero)
        return m
    return e.replace(lambda x: isinstance(x, Mask), plain)
