"""LaTeX in matrix notation: juxtaposition for products, ``\\odot`` for elementwise ones."""
from sympy import Add, Mul, Pow
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from ..tensor import shape_of


class MatrixLatexPrinter(LatexPrinter):
    def _print_TensorSymbol(self, e):
        if e.name.startswith("grad_"):
            stem = e.name[5:]
            if stem.endswith("_pre"):        # the adjoint of a node's pre-activation
                return r"\overline{%s}^{\mathrm{pre}}" % self._name(stem[:-4])
            return r"\overline{%s}" % self._name(stem)
        return self._name(e.name)

    def _print_Symbol(self, e, style="plain"):
        return self._name(e.name)

    def _name(self, name):
        from sympy import Symbol
        out = LatexPrinter._print_Symbol(self, Symbol(name))
        cut = min([k for k in (out.find("_"), out.find("^")) if k >= 0], default=len(out))
        base = out[:cut]
        if len(base) > 1 and base.isalpha():       # a word, not a product of letters
            out = r"\mathit{%s}%s" % (base, out[cut:])
        return out

    def subscripted(self, name_latex, idx):
        """name_{idx}, grouping a name that already has a subscript ({W_{1}}_{ij})."""
        if "_" in name_latex:
            name_latex = "{%s}" % name_latex
        return "%s_{%s}" % (name_latex, idx)

    def transposed(self, x):
        return r"%s^{\top}" % self.superscriptable(x)

    def superscriptable(self, x):
        """x printed so that a superscript can follow it (no double superscripts)."""
        s = self.parenthesize(x, PRECEDENCE["Atom"], strict=True)
        if "^" in s and (not s.startswith(r"\left(") or not s.endswith(r"\right)")):
            return r"\left(%s\right)" % s
        return s

    def _print_Add(self, e, order=None):
        from .text import common_factor
        cf = common_factor(e)
        if cf is not None:
            c, inner = cf
            body = self._print_Add(inner)
            if c.p != 1:
                body = r"%s \left(%s\right)" % (c.p, body)
            return body if c.q == 1 else r"\frac{%s}{%s}" % (body, c.q)
        terms = sorted(e.args, key=lambda t: (t.could_extract_minus_sign(), t.is_Number))
        out = ""
        for k, t in enumerate(terms):
            neg = t.could_extract_minus_sign()
            body = self._print(-t if neg else t)
            if isinstance(-t if neg else t, Add):
                body = r"\left(%s\right)" % body
            if k == 0:
                out = ("- " if neg else "") + body
            else:
                out += (" - " if neg else " + ") + body
        return out

    def _print_Mul(self, e):
        from ..ops.linalg import MatmulOp
        from ..ops.placed import kronecker
        kron = kronecker(e)
        if kron is not None:             # a Hessian of a matrix: c A (x) B
            c, A, B = kron
            head = "" if c == 1 else "-" if c == -1 else self.parenthesize(c, PRECEDENCE["Mul"]) + " "
            return r"%s%s \otimes %s" % (head, self.parenthesize(A, PRECEDENCE["Mul"]),
                                         self.parenthesize(B, PRECEDENCE["Mul"]))
        tensors = [f for f in e.args if shape_of(f) != () and not (isinstance(f, Pow) and f.exp.is_negative)]
        if len(tensors) == 1 and isinstance(tensors[0], MatmulOp):
            scal = Mul(*[f for f in e.args if f is not tensors[0]])
            num, den = scal.as_numer_denom()
            body = self._print(tensors[0])
            head = "" if num == 1 else "- " if num == -1 else self.parenthesize(num, PRECEDENCE["Mul"]) + " "
            if den != 1:
                return r"\frac{%s%s}{%s}" % (head, body, self._print(den))
            return head + body
        if len(tensors) < 2:
            return super()._print_Mul(e)
        ids = {id(t) for t in tensors}
        others = [f for f in e.args if id(f) not in ids]
        head = super()._print_Mul(Mul(*others)) if others else ""
        if head == "1":
            head = ""
        elif head.replace(" ", "") == "-1":
            head = "-"
        body = r" \odot ".join(self.parenthesize(t, PRECEDENCE["Mul"]) for t in tensors)
        if head and head not in ("-",) and "frac" in head:
            return r"%s \left(%s\right)" % (head, body)
        return (head + " " if head and head != "-" else head) + body


_P = MatrixLatexPrinter({"mul_symbol": None})


def to_latex(e):
    return _P.doprint(e)
