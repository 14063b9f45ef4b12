"""Activations and routing functions: softplus (beta, threshold), gelu (approximate), elu,
selu, celu, mish, hardtanh, relu6, logsigmoid, softsign, tanhshrink, maximum, minimum and
clamp/clip.

Each block gives PyTorch's subgradient at the kinks exactly as ``torch.autograd`` does
(measured in torch 2.13): the elu family takes the negative branch at 0 (``elu'(0) =
alpha``) while its second derivative there is 0 (PyTorch's double backward masks by x < 0); ``maximum``/``minimum`` give 1/2 to each side of a tie (``(1 + sign(a - b))/2``);
``clamp`` passes the gradient at its bounds while ``hardtanh`` and ``relu6`` do not.
Branches that may overflow (``alpha e^x`` for large x) are `Where` branches, never a
product with a mask, so the unused branch cannot turn into ``inf * 0``.
"""
import sympy
from sympy import S, exp, Piecewise, Float

from ..errors import SpecError
from ..tensor import Tensor
from .base import ElementwiseFn, TensorOp
from .elementwise import custom, Sigmoid, Softplus, Gelu, Where, Gt, Lt, Ge, Le
from .registry import register
from .registry import P, Param

INPLACE = Param("inplace", "bool", False)


def _no_inplace(inplace, name):
    """PyTorch's ``inplace`` flag: only False (returns None: ``_no_inplace(...) or Elu(...)``)."""
    if inplace:
        raise SpecError("inplace=True is not supported: the spec language has no in-place ops "
                        "(write %s(x) and a new node)" % name)


def _latex_alpha(p, name, x, alpha):
    """elu(x), or elu(x; alpha=...) when alpha is not 1."""
    extra = "" if alpha == 1 else r"; \alpha = %s" % p._print(alpha)
    return r"\operatorname{%s}\left(%s%s\right)" % (name, p._print(x), extra)


def _is_tensor(v):
    return v is not None and (v.has(Tensor) or v.has(TensorOp))


# --- the elu family: at 0 the negative branch --------------------------------------------

def _neg_branch(e, x):
    """The negative branch's factor ``e`` (``e^x``, 1 at x = 0) of an elu derivative, as
    ``where(x < 0, e, 1)``: its value at 0 is the negative branch's (PyTorch's ``elu'(0) =
    alpha``) while its own derivative is masked by ``x < 0`` -- PyTorch's double backward
    (``elu_double_backward``: ``elu_backward(...) * (x < 0)``) gives 0 at 0."""
    return Where(Lt(x, S.Zero), e, S.One)


@custom(P("input", Param("alpha", "number", S.One), INPLACE), grad_fn="EluBackward0", saved=("self",),
        on_bool="fail", build=lambda input, alpha, inplace: _no_inplace(inplace, "elu") or Elu(input, alpha),
        reason="d elu(x) = dx for x > 0, alpha e^x dx for x <= 0 (at 0 the negative branch, as PyTorch)")
class Elu(ElementwiseFn):
    nargs = 2
    spec_name = "elu"
    torch_name = "torch.nn.functional.elu"

    def value(self, x, alpha):
        return Piecewise((x, x > 0), (alpha * (exp(x) - 1), True))

    def fdiff(self, argindex=1):
        x, alpha = self.args
        return Where(Gt(x, S.Zero), S.One, alpha * _neg_branch(exp(x), x)) if argindex == 1 else S.Zero

    def text(self, p):
        x, alpha = self.args
        return "elu(%s)" % p._print(x) if alpha == 1 else "elu(%s, alpha=%s)" % (p._print(x), p._print(alpha))

    def torch(self, p):
        return "torch.nn.functional.elu(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def latex(self, p):
        return _latex_alpha(p, "elu", *self.args)


# PyTorch's double constants, as 17-digit decimals (what the text prints parses back to them)
_SCALE, _ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
SELU_SCALE, SELU_ALPHA = Float(repr(_SCALE), 17), Float(repr(_ALPHA), 17)
SELU_SA = Float(repr(_SCALE * _ALPHA), 17)          # scale*alpha, as PyTorch's elu_backward computes it


@custom(P("input", INPLACE), grad_fn="EluBackward0", saved=("self",), on_bool="fail",
        build=lambda input, inplace: _no_inplace(inplace, "selu") or Selu(input),
        reason="selu = scale elu(x, alpha): d selu(x) = scale dx for x > 0, scale alpha e^x dx for x <= 0")
class Selu(ElementwiseFn):
    nargs = 1
    spec_name = "selu"
    torch_name = "torch.nn.functional.selu"

    def value(self, x):
        return SELU_SCALE * Piecewise((x, x > 0), (SELU_ALPHA * (exp(x) - 1), True))

    def fdiff(self, argindex=1):
        # scale*where(x > 0, 1, alpha*e^x), with the constants outside where(): a decimal
        # constant parses back exactly only as a coefficient
        x = self.args[0]
        return SELU_SCALE * Gt(x, S.Zero) + SELU_SA * Le(x, S.Zero) * _neg_branch(exp(x), x)


def _celu(input, alpha, inplace):
    _no_inplace(inplace, "celu")
    if alpha == 0:
        raise SpecError("alpha cannot be 0 for celu (PyTorch raises ZeroDivisionError)")
    return Celu(input, alpha)


@custom(P("input", Param("alpha", "number", S.One), INPLACE), grad_fn="CeluBackward0", saved=("self",),
        on_bool="fail", build=_celu,
        reason="d celu(x) = dx for x > 0, e^{x/alpha} dx for x <= 0 (at 0 the negative branch)")
class Celu(ElementwiseFn):
    nargs = 2
    spec_name = "celu"
    torch_name = "torch.nn.functional.celu"

    def value(self, x, alpha):
        return Piecewise((x, x > 0), (alpha * (exp(x / alpha) - 1), True))

    def fdiff(self, argindex=1):
        x, alpha = self.args
        return Where(Gt(x, S.Zero), S.One, _neg_branch(exp(x / alpha), x)) if argindex == 1 else S.Zero

    def text(self, p):
        x, alpha = self.args
        return "celu(%s)" % p._print(x) if alpha == 1 else "celu(%s, alpha=%s)" % (p._print(x), p._print(alpha))

    def torch(self, p):
        return "torch.nn.functional.celu(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def latex(self, p):
        return _latex_alpha(p, "celu", *self.args)


# --- smooth activations --------------------------------------------------------------------

def _softplus(input, beta, threshold):
    """softplus(x) keeps its textbook derivative sigma(x); other beta/threshold: PyTorch's
    ``x if beta x > threshold else log(1 + e^{beta x})/beta``."""
    return Softplus(input) if beta == 1 and threshold == 20 else SoftplusBeta(input, beta, threshold)


register("softplus", P("input", Param("beta", "number", S.One), Param("threshold", "number", S(20))),
         _softplus, kind="elementwise", torch="torch.nn.functional.softplus", grad_fn="SoftplusBackward0",
         saved=("self",), on_bool="fail",
         reason="d softplus(x) = sigma(beta x) dx (1 above the threshold, where softplus is x)")


class SoftplusBeta(ElementwiseFn):
    nargs = 3
    spec_name = "softplus"
    torch_name = "torch.nn.functional.softplus"

    def value(self, x, beta, threshold):
        return Piecewise((x, beta * x > threshold), (sympy.log(1 + exp(beta * x)) / beta, True))

    def fdiff(self, argindex=1):
        # PyTorch: 1 above the threshold, else sigma(beta x); its double backward masks by
        # beta x < threshold, so at the tie the value is sigma(threshold), a constant
        x, beta, threshold = self.args
        bx = beta * x
        inside = Where(Lt(bx, threshold), Sigmoid(bx), Sigmoid(threshold))
        return Where(Gt(bx, threshold), S.One, inside) if argindex == 1 else S.Zero

    def text(self, p):
        return "softplus(%s, beta=%s, threshold=%s)" % tuple(p._print(a) for a in self.args)

    def latex(self, p):
        return r"\operatorname{softplus}\left(%s; \beta = %s, \tau = %s\right)" % tuple(p._print(a) for a in self.args)


def _gelu(input, approximate):
    if approximate not in ("none", "tanh"):
        raise SpecError("approximate argument must be either none or tanh (got %r), as in PyTorch"
                        % (approximate,))
    return Gelu(input) if approximate == "none" else GeluTanh(input)


register("gelu", P("input", Param("approximate", "str", "none", kwonly=True)), _gelu, kind="elementwise",
         torch="torch.nn.functional.gelu", grad_fn="GeluBackward0", saved=("self",), on_bool="fail",
         reason="d gelu(x) = (Phi(x) + x phi(x)) dx, with Phi and phi the normal CDF and density "
                "(approximate='tanh': the derivative of x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))/2)")

GELU_KAPPA = sympy.Rational(44715, 10 ** 6)


class GeluTanh(ElementwiseFn):
    nargs = 1
    spec_name = "gelu"
    torch_name = "torch.nn.functional.gelu"

    def value(self, x):
        return x * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (x + GELU_KAPPA * x ** 3))) / 2

    def fdiff(self, argindex=1):
        d = sympy.Dummy("x")
        return sympy.diff(self.value(d), d).xreplace({d: self.args[0]})

    def text(self, p):
        return "gelu(%s, approximate='tanh')" % p._print(self.args[0])

    def torch(self, p):
        return "torch.nn.functional.gelu(%s, approximate='tanh')" % p._print(self.args[0])

    def latex(self, p):
        return r"\operatorname{gelu}_{\tanh}\left(%s\right)" % p._print(self.args[0])


@custom(P("input", INPLACE), grad_fn="MishBackward0", saved=("self",), on_bool="fail",
        build=lambda input, inplace: _no_inplace(inplace, "mish") or Mish(input),
        reason="mish = x tanh(softplus(x)): d mish = (t + x sigma(x)(1 - t^2)) dx with t = tanh(softplus(x))")
class Mish(ElementwiseFn):
    nargs = 1
    spec_name = "mish"
    torch_name = "torch.nn.functional.mish"

    def value(self, x):
        return x * sympy.tanh(sympy.log(1 + exp(x)))

    def fdiff(self, argindex=1):
        x = self.args[0]
        t = sympy.tanh(Softplus(x))
        return t + x * Sigmoid(x) * (1 - t**2)


@custom(grad_fn="LogSigmoidBackward0", saved=("self", "buffer"), on_bool="fail",
        reason="d log sigma(x) = (1 - sigma(x)) dx = sigma(-x) dx")
class Logsigmoid(ElementwiseFn):
    nargs = 1
    spec_name = "logsigmoid"
    torch_name = "torch.nn.functional.logsigmoid"
    latex_name = r"\log\sigma"

    def value(self, x):
        return -sympy.log(1 + exp(-x))

    def fdiff(self, argindex=1):
        return Sigmoid(-self.args[0])


def record_softsign(w, n, fn, vals, nodes):
    """``x / (1 + x.abs())``: PyTorch records the composite Div <- Add <- Abs."""
    x, t = vals["input"], w.text(nodes["input"])
    return w.record(n, "DivBackward0", [x], "DivBackward0", (("self", t), ("other", "1 + |%s|" % t)),
                    ("DivBackward0", "AddBackward0", "AbsBackward0"), contiguous=getattr(x, "contiguous", True))


@custom(grad_fn="DivBackward0", saved=("self", "other"), record=record_softsign, on_bool="fail",
        reason="d (x/(1 + |x|)) = dx/(1 + |x|)^2")
class Softsign(ElementwiseFn):
    nargs = 1
    spec_name = "softsign"
    torch_name = "torch.nn.functional.softsign"

    def value(self, x):
        return x / (1 + abs(x))

    def fdiff(self, argindex=1):
        return 1 / (1 + sympy.Abs(self.args[0]))**2


def record_tanhshrink(w, n, fn, vals, nodes):
    """``x - x.tanh()``: PyTorch records Sub <- Tanh; the tanh node saved its output."""
    x = vals["input"]
    return w.record(n, "SubBackward0", [x], "TanhBackward0", (("result", "tanh(%s)" % w.text(nodes["input"])),),
                    ("SubBackward0", "TanhBackward0"), contiguous=getattr(x, "contiguous", True))


@custom(grad_fn="SubBackward0", saved=("result",), record=record_tanhshrink, on_bool="fail",
        reason="d (x - tanh x) = tanh^2 x dx")
class Tanhshrink(ElementwiseFn):
    nargs = 1
    spec_name = "tanhshrink"
    torch_name = "torch.nn.functional.tanhshrink"

    def value(self, x):
        return x - sympy.tanh(x)

    def fdiff(self, argindex=1):
        return sympy.tanh(self.args[0])**2


# --- hardtanh and relu6: no gradient at the bounds ----------------------------------------

def _hardtanh(input, min_val, max_val, inplace):
    _no_inplace(inplace, "hardtanh")
    if (min_val > max_val) is sympy.true:
        raise SpecError("min_val cannot be greater than max_val (PyTorch raises ValueError)")
    return Hardtanh(input, min_val, max_val)


@custom(P("input", Param("min_val", "number", S.NegativeOne), Param("max_val", "number", S.One), INPLACE),
        build=_hardtanh, grad_fn="HardtanhBackward0", saved=("self",), on_bool="fail",
        reason="hardtanh passes the gradient strictly inside (min_val, max_val): 0 at the bounds, unlike clamp")
class Hardtanh(ElementwiseFn):
    nargs = 3
    spec_name = "hardtanh"
    torch_name = "torch.nn.functional.hardtanh"

    def value(self, x, lo, hi):
        return sympy.Min(sympy.Max(x, lo), hi)

    def fdiff(self, argindex=1):
        x, lo, hi = self.args
        return Gt(x, lo) * Lt(x, hi) if argindex == 1 else S.Zero

    def text(self, p):
        x, lo, hi = (p._print(a) for a in self.args)
        return "hardtanh(%s, min_val=%s, max_val=%s)" % (x, lo, hi)

    def torch(self, p):
        return "torch.nn.functional.hardtanh(%s)" % ", ".join(p._print(a) for a in self.args)


@custom(P("input", INPLACE), build=lambda input, inplace: _no_inplace(inplace, "relu6") or Relu6(input),
        grad_fn="HardtanhBackward0", saved=("self",), on_bool="fail",
        reason="relu6 = hardtanh(x, 0, 6): the gradient passes strictly inside (0, 6), 0 at 0 and at 6")
class Relu6(ElementwiseFn):
    nargs = 1
    spec_name = "relu6"
    torch_name = "torch.nn.functional.relu6"

    def value(self, x):
        return sympy.Min(sympy.Max(x, 0), 6)

    def fdiff(self, argindex=1):
        return Gt(self.args[0], S.Zero) * Lt(self.args[0], sympy.Integer(6))


# --- maximum and minimum: a tie gives 1/2 to each side --------------------------------------

@custom(P("input", "other"), grad_fn="MaximumBackward0", saved=("self", "other"), number_ok=False, strict=True,
        reason="maximum routes the gradient to the larger argument; a tie gives 1/2 to each: (1 + sign(a - b))/2")
class Maximum(ElementwiseFn):
    nargs = 2
    spec_name = "maximum"
    torch_name = "torch.maximum"
    latex_name = r"\max"

    def value(self, a, b):
        return sympy.Max(a, b)

    def fdiff(self, argindex=1):
        a, b = self.args
        return (1 + sympy.sign(a - b if argindex == 1 else b - a)) / 2


@custom(P("input", "other"), grad_fn="MinimumBackward0", saved=("self", "other"), number_ok=False, strict=True,
        reason="minimum routes the gradient to the smaller argument; a tie gives 1/2 to each: (1 + sign(b - a))/2")
class Minimum(ElementwiseFn):
    nargs = 2
    spec_name = "minimum"
    torch_name = "torch.minimum"
    latex_name = r"\min"

    def value(self, a, b):
        return sympy.Min(a, b)

    def fdiff(self, argindex=1):
        a, b = self.args
        return (1 + sympy.sign(b - a if argindex == 1 else a - b)) / 2


# --- clamp / clip: the gradient passes at the bounds ----------------------------------------

def _clamp(input, min, max):
    if min is None and max is None:
        raise SpecError("at least one of 'min' or 'max' must not be None")
    if min is not None and max is not None:
        if _is_tensor(min) != _is_tensor(max):
            raise SpecError("min and max must both be numbers or both tensors (PyTorch raises a TypeError)")
        return Clamp(input, min, max)
    return ClampMin(input, min) if max is None else ClampMax(input, max)


def record_clamp(w, n, fn, vals, nodes):
    """Number bounds: ``ClampBackward1`` (saves the input); tensor bounds: ``ClampBackward0``,
    which also saves them and sends them gradients."""
    x = vals["input"]
    bounds = [k for k in ("min", "max") if w.is_tensor(vals[k])]
    args = [x] + [vals[k] for k in bounds]
    name = "ClampBackward0" if bounds else "ClampBackward1"
    saved = (("self", w.text(nodes["input"])),) + tuple((k, w.text(nodes[k])) for k in bounds)
    return w.record(n, name, args, name, saved, contiguous=w.contiguous_elementwise(args, w.shape(n)))


@custom(P("input", Param("min", "tensor", None), Param("max", "tensor", None)), build=_clamp, aliases=("clip",),
        grad_fn="ClampBackward1", saved=("self",), record=record_clamp,
        reason="clamp passes the gradient where min <= x <= max, bounds included; a tensor bound receives "
               "it where it binds")
class Clamp(ElementwiseFn):
    """clamp(x, min, max) with both bounds; `ClampMin` and `ClampMax` have one."""
    nargs = 3
    spec_name = "clamp"
    torch_name = "torch.clamp"
    keys = ("min", "max")

    def value(self, x, lo, hi):
        return sympy.Min(sympy.Max(x, lo), hi)

    def fdiff(self, argindex=1):
        x, lo, hi = self.args
        if argindex == 1:
            return Ge(x, lo) * Le(x, hi)
        if argindex == 2:                   # PyTorch: (x < min) & (min < max)
            return Lt(x, lo) * Lt(lo, hi)
        return 1 - Le(x, hi) * Le(lo, hi)   # PyTorch: (x > max) | (max < min)

    def text(self, p):
        return "clamp(%s)" % ", ".join([p._print(self.args[0])] + [
            "%s=%s" % (k, p._print(b)) for k, b in zip(self.keys, self.args[1:])])

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        args = ", ".join(p._print(a) for a in self.args)
        return r"\operatorname{clamp}\left(%s\right)" % args


class ClampMin(Clamp):
    """clamp(x, min=a): max(x, a), the gradient passing where x >= a."""
    nargs = 2
    keys = ("min",)

    def value(self, x, lo):
        return sympy.Max(x, lo)

    def fdiff(self, argindex=1):
        x, lo = self.args
        return Ge(x, lo) if argindex == 1 else Lt(x, lo)

    def latex(self, p):
        return r"\max\left(%s, %s\right)" % (p._print(self.args[0]), p._print(self.args[1]))


class ClampMax(Clamp):
    """clamp(x, max=b): min(x, b), the gradient passing where x <= b."""
    nargs = 2
    keys = ("max",)

    def value(self, x, hi):
        return sympy.Min(x, hi)

    def fdiff(self, argindex=1):
        x, hi = self.args
        return Le(x, hi) if argindex == 1 else Gt(x, hi)

    def latex(self, p):
        return r"\min\left(%s, %s\right)" % (p._print(self.args[0]), p._print(self.args[1]))
