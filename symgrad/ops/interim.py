"""Interim block: ``tril``, which the cholesky rule needs, until the shapes group's lands.

The shapes group adds ``tril``/``triu``/``diag``/``diagonal`` as blocks of their own; when
theirs is merged this module goes, and `tril` below becomes a call of their build (the
rules of ``decomp`` only call `tril`, never the class).  ``tril`` keeps the entries on and
below a diagonal of the last two dims and zeroes the rest, so its adjoint is ``tril`` of
the adjoint (a mask is its own transpose).
"""
from sympy import Integer

from ..errors import ShapeError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp, rank
from .registry import register, P, Param


class TrilOp(TensorOp):
    spec_name = "tril"

    def out_shape(self):
        s = shape_of(self.args[0])
        if len(s) < 2:
            raise ShapeError("tril: needs a tensor of at least 2 dimensions, got %s" % fmt_shape(s))
        return s

    def vjp(self, i, g):
        from .shape import materialize
        return TrilOp(materialize(g, self.out_shape()), self.args[1])

    def text_kwargs(self, p):
        return [str(self.args[1])] if self.args[1] != 0 else []

    def latex(self, p):
        k = int(self.args[1])
        sub = "" if k == 0 else "_{%d}" % k
        return r"\operatorname{tril}%s\left(%s\right)" % (sub, p._print(self.args[0]))

    def index(self, p, idx):
        i, j = idx[-2], idx[-1]
        k = int(self.args[1])
        cond = "%s \\le %s" % (j, i) if k == 0 else "%s - %s \\le %d" % (j, i, k)
        return r"\left[%s\right] %s" % (cond, p.index_of(self.args[0], idx, "Mul"))


@register("tril", P("input", Param("diagonal", "dim", 0)), torch="torch.tril", grad_fn="TrilBackward0",
          reason="tril keeps the lower triangle: its adjoint is the lower triangle of the adjoint")
def _tril(input, diagonal):
    return TrilOp(input, Integer(diagonal))


def tril(x, diagonal=0):
    """``tril(x, diagonal)`` as the rules of other blocks build it."""
    if rank(x) < 2:
        raise ShapeError("tril: needs a tensor of at least 2 dimensions")
    return TrilOp(x, Integer(diagonal))
