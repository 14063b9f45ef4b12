"""LaTeX in matrix notation: juxtaposition for products, ``\\odot`` for elementwise ones."""
from sympy import Mul, Pow, S
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from ..tensor import shape_of


class MatrixLatexPrinter(LatexPrinter):
    def _print_TensorSymbol(self, e):
        if e.name.startswith("grad_"):
            return r"\overline{%s}" % self._name(e.name[5:])
        return self._name(e.name)

    def _name(self, name):
        from sympy import Symbol
        return LatexPrinter._print_Symbol(self, Symbol(name))

    def _print_TensorOp(self, e):
        return e.latex(self)

    def _print_ElementwiseFn(self, e):
        return e.latex(self)

    def transposed(self, x):
        return r"%s^{\top}" % self.parenthesize(x, PRECEDENCE["Atom"], strict=True)

    def _print_Mul(self, e):
        tensors = [f for f in e.args if shape_of(f) != () and not (isinstance(f, Pow) and f.exp.is_negative)]
        if len(tensors) < 2:
            return super()._print_Mul(e)
        others = [f for f in e.args if f not in tensors]
        head = super()._print_Mul(Mul(*others)) if others else ""
        if head == "1":
            head = ""
        elif head == "-1":
            head = "-"
        body = r" \odot ".join(self.parenthesize(t, PRECEDENCE["Mul"]) for t in tensors)
        if head and head not in ("-",) and "frac" in head:
            return r"%s \left(%s\right)" % (head, body)
        return (head + " " if head and head != "-" else head) + body


_P = MatrixLatexPrinter({"mul_symbol": None})


def to_latex(e):
    return _P.doprint(e)
