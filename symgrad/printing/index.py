"""LaTeX in index notation: each tensor with its indices, sums written out.

`index_of(expr, idx)` prints the entry of ``expr`` at the indices ``idx`` (one letter per
axis of ``expr``).  An elementwise region is printed by putting each leaf's indexed form
in place of the leaf; ops print themselves (``op.index``), asking for fresh summation
indices with `fresh`.  Broadcast axes of size 1 get the index 1.
"""
from sympy import Symbol

from ..ops import is_elementwise, region_leaves, TensorOp
from ..tensor import Tensor, shape_of
from .latex import MatrixLatexPrinter

LETTERS = "ijklmnpqrstuvw"


def index_letters(rank, start=0):
    return list(LETTERS[start:start + rank])


class Raw(Symbol):
    """A symbol that prints as a given LaTeX string."""

    def __new__(cls, latex):
        obj = Symbol.__new__(cls, "\u2063" + latex)     # named by its LaTeX: deterministic
        obj.raw = latex
        return obj

    def _latex(self, printer):
        return self.raw


class IndexPrinter(MatrixLatexPrinter):
    region_printer = MatrixLatexPrinter     # prints an elementwise region over indexed leaves
    def __init__(self, used=()):
        super().__init__({"mul_symbol": None})
        self.used = set(used)

    def fresh(self):
        for c in LETTERS:
            if c not in self.used:
                self.used.add(c)
                return c
        n = len(self.used)
        name = "k_{%d}" % n
        self.used.add(name)
        return name

    def tensor_entry(self, t, idx):
        name = self._print_TensorSymbol(t)
        if not idx:
            return name
        return self.subscripted(name, "".join(str(i) for i in idx))

    def index_of(self, e, idx, prec=None):
        idx = list(idx)
        if isinstance(e, Tensor):
            return self.tensor_entry(e, idx)
        if isinstance(e, TensorOp):
            s = e.index(self, idx) if hasattr(e, "index") else r"\left(%s\right)_{%s}" % (e.latex(self), "".join(idx))
            if prec and (s.startswith(r"\sum") or " - " in s or " + " in s or s.startswith(r"\frac{1}")):
                return r"\left(%s\right)" % s
            return s
        if is_elementwise(e):
            shape = shape_of(e)
            repl = {}
            for leaf in region_leaves(e):
                ls = shape_of(leaf)
                off = len(shape) - len(ls)
                li = [("1" if ls[k] == 1 and shape[k + off] != 1 else idx[k + off]) for k in range(len(ls))]
                repl[leaf] = Raw(self.index_of(leaf, li, "Mul"))
            out = self.region_printer({"mul_symbol": None}).doprint(e.xreplace(repl))
            return self._paren(out, e, prec) if prec else out
        return self._print(e)

    def _paren(self, s, e, prec):
        from sympy import Add
        if isinstance(e, Add):
            return r"\left(%s\right)" % s
        return s




def to_index_latex(e, idx):
    p = IndexPrinter(used=idx)
    return p.index_of(e, idx)
