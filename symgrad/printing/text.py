"""The spec language printer: closed forms that parse back and mean the same in PyTorch."""
from sympy import Mul, Number
from sympy.printing.str import StrPrinter

from ..ops.linalg import MatmulOp


class SpecPrinter(StrPrinter):
    def _print_TensorSymbol(self, e):
        return e.name

    def _print_TensorOp(self, e):
        return e.text(self)

    def _print_ElementwiseFn(self, e):
        return e.text(self)

    def _print_sign(self, e):
        return "sign(%s)" % self._print(e.args[0])

    def _print_Abs(self, e):
        return "abs(%s)" % self._print(e.args[0])

    def _print_Exp1(self, e):
        return "exp(1)"

    def _print_Pi(self, e):
        return "pi"

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Add(self, e, order=None):
        return print_add(self, e)

    def _print_Mul(self, e):
        # c*(A @ B) reads better as c*A @ B, which Python also evaluates as (c*A) @ B.
        c, rest = e.as_coeff_Mul()
        if isinstance(rest, MatmulOp) and c.is_Rational and c != 1:
            m = self._print(rest)
            if c.q == 1:
                return "-%s" % m if c == -1 else "%s*%s" % (c.p, m)
            num = {1: "", -1: "-"}.get(c.p, "%s*" % c.p)
            return "%s%s/%s" % (num, m, c.q)
        return super()._print_Mul(e)


def print_add(p, e):
    """Positive terms first: ``X @ w - y`` rather than ``-y + X @ w``."""
    from sympy.printing.precedence import precedence
    terms = sorted(e.args, key=lambda t: (t.could_extract_minus_sign(), t.is_Number))
    out = []
    for k, t in enumerate(terms):
        neg = t.could_extract_minus_sign()
        s = p.parenthesize(-t if neg else t, precedence(e), strict=False) if neg else \
            p.parenthesize(t, precedence(e), strict=False)
        if k == 0:
            out.append("-" + s if neg else s)
        else:
            out.append((" - " if neg else " + ") + s)
    return "".join(out)


_P = SpecPrinter({"order": "none"})


def to_text(e):
    return _P.doprint(e)
