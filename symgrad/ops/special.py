"""Special functions: lgamma, digamma, polygamma and xlogy.

Our own classes rather than SymPy's: ``torch.lgamma`` is log|Gamma(x)| (real for negative
x, where SymPy's ``loggamma`` is complex), and each prints as PyTorch spells it --
digamma's derivative is ``polygamma(1, x)``, n first, which is a block of its own so that
a closed form parses back, compiles and checks.  ``xlogy(x, y)`` is ``x log y`` with 0
where ``x == 0``; its gradients are PyTorch's, including at ``x == 0, y <= 0``.
"""
import sympy
from sympy import S, Integer

from ..errors import SpecError
from ..tensor import Tensor
from .base import ElementwiseFn, TensorOp
from .elementwise import custom, Where, Ge, Le
from .registry import P, Param


@custom(grad_fn="LgammaBackward0", saved=("self",), reason="d log|Gamma(x)| = psi(x) dx: the digamma function")
class Lgamma(ElementwiseFn):
    nargs = 1
    spec_name = "lgamma"
    torch_name = "torch.lgamma"
    math_name = "math.lgamma"            # a function of dims is a Python number

    def value(self, x):
        return sympy.log(abs(sympy.gamma(x)))

    def fdiff(self, argindex=1):
        return Digamma(self.args[0])

    def latex(self, p):
        return r"\log\left|\Gamma\left(%s\right)\right|" % p._print(self.args[0])


@custom(grad_fn="DigammaBackward0", saved=("self",), reason="d psi(x) = psi^(1)(x) dx: the trigamma function")
class Digamma(ElementwiseFn):
    nargs = 1
    spec_name = "digamma"
    torch_name = "torch.digamma"
    latex_name = r"\psi"

    def value(self, x):
        return sympy.polygamma(0, x)

    def fdiff(self, argindex=1):
        return Polygamma(Integer(1), self.args[0])


def _polygamma(n, input):
    if n < 0:
        raise SpecError("n must be a nonnegative integer (PyTorch: polygamma(n, x) does not support negative n)")
    return Polygamma(Integer(n), input)


@custom(P(Param("n", "dim"), "input"), build=_polygamma, grad_fn="PolygammaBackward0", saved=("self",),
        reason="d psi^(n)(x) = psi^(n+1)(x) dx")
class Polygamma(ElementwiseFn):
    """polygamma(n, x), the n-th derivative of digamma (PyTorch's order: n first)."""
    nargs = 2
    spec_name = "polygamma"
    torch_name = "torch.polygamma"

    def value(self, n, x):
        return sympy.polygamma(n, x)

    def fdiff(self, argindex=2):
        n, x = self.args
        return Polygamma(n + 1, x) if argindex == 2 else S.Zero

    def latex(self, p):
        n, x = self.args
        return r"\psi^{(%s)}\left(%s\right)" % (p._print(n), p._print(x))


def _is_tensor(v):
    return v.has(Tensor) or v.has(TensorOp)


def _xlogy(input, other):
    if not (_is_tensor(input) or _is_tensor(other)):
        raise SpecError("needs a tensor argument, not two plain numbers (PyTorch raises a TypeError)")
    return Xlogy(input, other)


XLOGY_SAVED = {"XlogyBackward0": ("self", "other"), "XlogyBackward1": ("other",), "XlogyBackward2": ("self",)}


def record_xlogy(w, n, fn, vals, nodes):
    """The overload, hence the node, depends on which argument is a Python number."""
    a, b = vals["input"], vals["other"]
    name = "XlogyBackward0" if w.is_tensor(a) and w.is_tensor(b) else (
        "XlogyBackward1" if w.is_tensor(b) else "XlogyBackward2")
    return w.record(n, name, [a, b], name, w.saved(XLOGY_SAVED[name], [a, b], [nodes["input"], nodes["other"]], n),
                    contiguous=w.contiguous_elementwise([a, b], w.shape(n)))


@custom(P("input", "other"), build=_xlogy, grad_fn="XlogyBackward0", saved=XLOGY_SAVED["XlogyBackward0"],
        record=record_xlogy,
        reason="d (x log y) = log(y) dx + x/y dy (PyTorch: 0 for x where x == 0 and y <= 0)")
class Xlogy(ElementwiseFn):
    nargs = 2
    spec_name = "xlogy"
    torch_name = "torch.xlogy"

    def value(self, x, y):
        return S.Zero if x == 0 else x * sympy.log(y)

    def fdiff(self, argindex=1):
        x, y = self.args
        if argindex == 2:
            return x / y
        if y.is_positive or x.is_nonzero:
            return sympy.log(y)
        return Where(Ge(x, S.Zero) * Le(x, S.Zero) * Le(y, S.Zero), S.Zero, sympy.log(y))
