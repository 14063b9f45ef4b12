"""Constants and the stop-gradient: ones, zeros, full, eye, ones_like, zeros_like, detach.

None of them passes a gradient (``differentiable = False``): PyTorch creates constants
that do not require grad, and ``detach`` cuts the graph.
"""
from sympy import Tuple

from ..tensor import shape_of
from .base import TensorOp, shape_text
from .registry import register, P, Param


def sizes(v):
    return tuple(int(s) for s in (v if isinstance(v, tuple) else (v,)))


class Constant(TensorOp):
    n_tensors = 0
    differentiable = False

    def out_shape(self):
        return tuple(self.args[0])


class OnesOp(Constant):
    spec_name = "ones"

    def text(self, p):
        return "ones(%s)" % shape_text(self.args[0])

    def torch(self, p):
        return "torch.ones(%s, dtype=_dt, device=_dev)" % shape_text(self.args[0])

    def latex(self, p):
        return r"\mathbf{1}"

    def index(self, p, idx):
        return "1"


@register("ones", P(Param("size", "shape")), kind="constant", torch="torch.ones", varshape=True,
          ref=lambda ctx, size: ctx.torch.ones(sizes(size), dtype=ctx.dtype, device=ctx.device))
def _ones(size):
    return OnesOp(Tuple(*size))


class ZerosOp(Constant):
    spec_name = "zeros"

    def text(self, p):
        return "zeros(%s)" % shape_text(self.args[0])

    def torch(self, p):
        return "torch.zeros(%s, dtype=_dt, device=_dev)" % shape_text(self.args[0])

    def latex(self, p):
        return r"\mathbf{0}"

    def index(self, p, idx):
        return "0"


@register("zeros", P(Param("size", "shape")), kind="constant", torch="torch.zeros", varshape=True,
          ref=lambda ctx, size: ctx.torch.zeros(sizes(size), dtype=ctx.dtype, device=ctx.device))
def _zeros(size):
    return ZerosOp(Tuple(*size))


@register("full", P(Param("size", "shape"), Param("fill_value", "number")), kind="constant", torch="torch.full",
          ref=lambda ctx, size, fill_value: ctx.torch.full(sizes(size), float(fill_value), dtype=ctx.dtype,
                                                           device=ctx.device))
def _full(size, fill_value):
    return fill_value * OnesOp(Tuple(*size))


class EyeOp(TensorOp):
    n_tensors = 0
    differentiable = False
    spec_name = "eye"
    symmetric = True

    def out_shape(self):
        return (self.args[0], self.args[0])

    def text(self, p):
        return "eye(%s)" % p._print(self.args[0])

    def torch(self, p):
        return "torch.eye(%s, dtype=_dt, device=_dev)" % p._print(self.args[0])

    def latex(self, p):
        return "I"

    def index(self, p, idx):
        return r"\delta_{%s}" % "".join(idx)


@register("eye", P(Param("n", "size")), kind="constant", torch="torch.eye",
          ref=lambda ctx, n: ctx.torch.eye(int(n), dtype=ctx.dtype, device=ctx.device))
def _eye(n):
    return EyeOp(n)


class LikeOp(TensorOp):
    """A constant of another tensor's shape.  ``ones_like`` and ``zeros_like`` are siblings,
    never one a kind of the other: a rule that recognises ``c*ones_like(x)`` (lowered to
    ``full_like``) must not read ``zeros_like(x)`` as ones."""
    differentiable = False
    filler = OnesOp

    def out_shape(self):
        return shape_of(self.args[0])

    def batch(self, args, lifted, bshape):
        """Only the shape of the argument counts: the same for every member of a batch."""
        return self.filler(Tuple(*self.out_shape()))


class OnesLikeOp(LikeOp):
    spec_name = "ones_like"

    def latex(self, p):
        return r"\mathbf{1}"

    def index(self, p, idx):
        return "1"


register("ones_like", P("input"), OnesLikeOp, kind="constant", torch="torch.ones_like")


class ZerosLikeOp(LikeOp):
    spec_name = "zeros_like"
    filler = ZerosOp

    def latex(self, p):
        return r"\mathbf{0}"

    def index(self, p, idx):
        return "0"


register("zeros_like", P("input"), ZerosLikeOp, kind="constant", torch="torch.zeros_like")


class DetachOp(TensorOp):
    spec_name = "detach"
    differentiable = False

    def out_shape(self):
        return shape_of(self.args[0])

    def batch(self, args, lifted, bshape):
        return DetachOp(args[0])

    def latex(self, p):
        return r"\operatorname{sg}\left(%s\right)" % p._print(self.args[0])

    def index(self, p, idx):
        return r"\operatorname{sg}\left(%s\right)" % p.index_of(self.args[0], idx)


register("detach", P("input"), DetachOp, kind="stop", torch="torch.detach", on_bool="keep")
