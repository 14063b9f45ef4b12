"""The torch printer: closed forms as Python code over ``torch`` tensors.

Names are the spec's own (inputs, nodes, dims, ``grad_<o>``); constants are floats at
full precision; ``_dt``/``_dev`` (dtype and device) must be bound where the code runs.
"""
from sympy import S
from sympy.printing.str import StrPrinter
from sympy.printing.precedence import PRECEDENCE

from ..ops.base import TensorOp
from ..ops.elementwise import NATIVE


def _const(e):
    """A plain number (no tensor, no dim, no tensor op): printed as a float literal."""
    return not e.free_symbols and not e.has(TensorOp)


class TorchPrinter(StrPrinter):
    printmethod = "_torchcode"
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
