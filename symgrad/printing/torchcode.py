"""The torch printer: closed forms as Python code over ``torch`` tensors.

Names are the spec's own (inputs, nodes, dims, ``grad_<o>``); constants are floats at
full precision; ``_dt``/``_dev`` (dtype and device) must be bound where the code runs.
A function of dims alone (``sqrt(d)``, ``1/d``, ``log(n)``) is a Python number, as in
PyTorch code (``torch.sqrt(4)`` is a TypeError): Python arithmetic and ``math``, so
``math`` must be bound too where such code runs.
"""
import sympy
from sympy import S
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter
from sympy.printing.precedence import PRECEDENCE

from ..ops.base import TensorOp, ElementwiseFn
from ..ops.elementwise import NATIVE
from ..tensor import Tensor


def _const(e):
    """A plain number (no tensor, no dim, no tensor op): printed as a float literal."""
    return not e.free_symbols and not e.has(TensorOp)


class AsTensor(sympy.Function):
    """A number as a float64 0-d tensor, for a function of dims that only torch computes."""
    nargs = 1

    def _torchcode(self, p):
        return "torch.tensor(float(%s), dtype=torch.float64)" % p._print(self.args[0])


def dim_number(e):
    """A function of dims alone (``sqrt(d)``, ``1/d``): a Python number in PyTorch code."""
    return isinstance(e, sympy.Basic) and not e.is_Symbol and bool(e.free_symbols) and \
        not e.has(Tensor, TensorOp, AsTensor)


class PyNumberPrinter(PythonCodePrinter):
    """A function of dims as Python arithmetic and ``math``; the dims named as ``outer``
    names them.  An elementwise function of the op table is its ``math`` function where it
    has one (``math_name``), else its meaning on numbers (``value``), else torch on a
    float64 0-d tensor, converted to a Python float."""

    def __init__(self, outer):
        super().__init__({"standard": "python3"})
        self.outer = outer

    def _print_Symbol(self, e):
        return self.outer._print(e)

    # no builtins (a spec may name a tensor abs or max): math and conditional expressions
    def _print_Abs(self, e):
        return "math.fabs(%s)" % self._print(e.args[0])

    def _print_Max(self, e, op=">="):
        a, b = self._print(e.args[0]), (self._print(e.func(*e.args[1:])) if len(e.args) > 2 else
                                         self._print(e.args[1]))
        return "(%s if %s %s %s else %s)" % (a, a, op, b, b)

    def _print_Min(self, e):
        return self._print_Max(e, "<=")

    def _print_Function(self, e):
        if not isinstance(e, ElementwiseFn):
            return super()._print_Function(e)
        if getattr(e, "math_name", None):
            return "%s(%s)" % (e.math_name, ", ".join(self._print(a) for a in e.args))
        try:
            v = e.value(*e.args)
            if v is not None:
                return self._print(sympy.sympify(v))
        except (TypeError, ValueError, NotImplementedError):
            pass
        return "float(%s)" % self.outer._print(e.xreplace({d: AsTensor(d) for d in e.free_symbols}))


class TorchPrinter(StrPrinter):
    printmethod = "_torchcode"

    def _print(self, e, **kw):
        if dim_number(e):
            return PyNumberPrinter(self).doprint(e)
        return super()._print(e, **kw)

    def _print_TensorSymbol(self, e):
        return e.name

    def _print_Symbol(self, e):
        return e.name

    def as_tensor(self, e, code):
        return code

    def _number(self, e):
        return repr(float(e.evalf(17)))

    def _print_Rational(self, e):
        return "(%d/%d)" % (e.p, e.q)

    def _print_Integer(self, e):
        return str(e.p) if abs(e.p) < 2 ** 63 else repr(float(e.p))    # torch has no bigger ints

    def _print_Exp1(self, e):
        return self._number(e)

    def _print_Pi(self, e):
        return self._number(e)

    def _print_Float(self, e):
        return repr(float(e))

    def _print_Function(self, e):
        f = NATIVE.get(type(e))
        if f is not None:
            if _const(e):
                return self._number(e)
            return "%s(%s)" % (f.torch_name, ", ".join(self._print(a) for a in e.args))
        return super()._print_Function(e)

    def parenthesize(self, item, level, strict=False):
        """x**-1 prints as ``1/x``, a division: parenthesised as a product (SymPy ranks it a
        power), so ``v @ (1/x)`` never prints as ``v @ 1/x``, which Python reads ``(v @ 1)/x``."""
        if isinstance(item, sympy.Pow) and item.exp == -1 and not _const(item) and not _const(item.base):
            if PRECEDENCE["Mul"] < level or (not strict and PRECEDENCE["Mul"] <= level):
                return "(%s)" % self._print(item)
            return self._print(item)
        return super().parenthesize(item, level, strict)

    def _print_Pow(self, e, rational=False):
        b, x = e.args
        if _const(e):
            return self._number(e)
        if _const(b):
            return "torch.pow(%s, %s)" % (self._number(b), self._print(x))
        if x == S.Half:
            return "torch.sqrt(%s)" % self._print(b)
        if x == -S.Half:
            return "torch.rsqrt(%s)" % self._print(b)
        if x == -1:
            return "1/%s" % self.parenthesize(b, PRECEDENCE["Pow"])
        if x.is_Integer:
            return "%s**%d" % (self.parenthesize(b, PRECEDENCE["Pow"], strict=False), int(x))
        return "%s**%s" % (self.parenthesize(b, PRECEDENCE["Pow"], strict=False),
                           self.parenthesize(x, PRECEDENCE["Pow"], strict=False))

    def _print_Mul(self, e):
        if _const(e):
            return self._number(e)
        return super()._print_Mul(e)


for _cls in NATIVE:
    setattr(TorchPrinter, "_print_" + _cls.__name__, TorchPrinter._print_Function)

_P = TorchPrinter({"order": "none"})


def to_torch(e):
    return _P.doprint(e)
