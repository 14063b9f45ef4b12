"""Casts of integer and bool tensors to floating point: ``x.float()``, ``x.double()``.

Pasted PyTorch code writes ``F.one_hot(y, C).float()`` and ``(x > 0).float()``: an int64 or
bool tensor made a float one, so that it can enter a matmul or a mean.  Such a value never
requires grad, so the cast passes no gradient.  The cast is PyTorch's own (``.float()`` is
float32, ``.double()`` float64; the check runs the text as written).  On a tensor that is
already floating point it would only change its precision, which symgrad's one working
dtype cannot express: that is refused with a fix.
"""
from sympy.printing.precedence import PRECEDENCE

from ..errors import SpecError
from ..tensor import shape_of
from .base import TensorOp
from .kinds import value_dtype
from .registry import register, P


class FloatOp(TensorOp):
    """An integer or bool tensor as a float one (no gradient flows through it)."""
    spec_name = "float"
    differentiable = False
    method = "float"
    index_args = (0,)            # the lowering leaves its argument as it is (it casts it itself)

    def out_shape(self):
        return shape_of(self.args[0])

    def text(self, p):
        return "%s.%s()" % (p.parenthesize(self.args[0], PRECEDENCE["Func"], strict=True), self.method)

    def torch(self, p):
        return "%s.to(_dt)" % p.parenthesize(self.args[0], PRECEDENCE["Func"], strict=True)

    def latex(self, p):
        return p._print(self.args[0])

    def index(self, p, idx):
        return p.index_of(self.args[0], idx)


class DoubleOp(FloatOp):
    spec_name = "double"
    method = "double"


def _cast(cls):
    def build(input):
        if value_dtype(input) == "float":
            raise SpecError("%s() of a floating point tensor only changes its precision, and symgrad works "
                            "in one dtype: drop .%s()" % (cls.method, cls.method))
        return cls(input)
    return build


register("float", P("input"), _cast(FloatOp), kind="constant", method_only=True, torch="torch.Tensor.float",
         ref=lambda ctx, input: input.float())
register("double", P("input"), _cast(DoubleOp), kind="constant", method_only=True, torch="torch.Tensor.double",
         ref=lambda ctx, input: input.double())
