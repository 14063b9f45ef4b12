"""Linear algebra: matmul, transpose, outer, dot, trace, det, logdet, inverse.

The rules are the Matrix Cookbook's, written as vector-Jacobian products:
``d tr(X) = I``, ``d det X = det(X) X^{-T}``, ``d log det X = X^{-T}``,
``d X^{-1} = -X^{-T} G X^{-T}``.  `MatmulOp.eval` keeps products canonical: scalar
factors move out, identities vanish, transposes of products are pushed inside.
"""
from sympy import S, Tuple, Integer, Add
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError
from ..tensor import shape_of, broadcast, fmt_shape
from .base import TensorOp, split_scalar, split_content, rank, flag, symmetric
from .nodes import cross_saved, CROSS
from .reduce import SumOp
from .registry import register, P
from .shape import EyeOp, OnesOp, UnsqueezeOp, TransposeOp, T, materialize  # noqa: F401 (re-exported)
from .batching import align, pdim, reduce_lifted, matmul_batch, full_along


def _sum_leading(x, keep):
    """Sum x over all but its last ``keep`` dims."""
    r = len(shape_of(x))
    if r <= keep:
        return x
    return SumOp(x, Tuple(*[Integer(k) for k in range(r - keep)]), flag(False))


class MatmulOp(TensorOp):
    spec_name = "matmul"
    n_tensors = 2
    prec = PRECEDENCE["Mul"] - 1    # printed in parentheses inside a product

    @classmethod
    def eval(cls, a, b):
        if a == 0 or b == 0:            # a closed form whose factor vanished (V^T G symmetric)
            return S.Zero
        if shape_of(a) == () or shape_of(b) == ():
            return None
        ca, ra = split_content(a)
        cb, rb = split_content(b)
        if ca != 1 or cb != 1:
            return ca * cb * cls(ra, rb)
        if isinstance(a, EyeOp):
            return b
        if isinstance(b, EyeOp):
            return a
        if isinstance(a, OnesOp) and all(d == 1 for d in shape_of(a)) and len(shape_of(b)) == 2 \
                and len(shape_of(a)) == 2:
            return b
        if isinstance(b, OnesOp) and all(d == 1 for d in shape_of(b)) and len(shape_of(a)) == 2 \
                and len(shape_of(b)) == 2:
            return a

    @property
    def symmetric(self):
        """A @ A.T and A.T @ A are symmetric."""
        a, b = self.args
        return len(shape_of(a)) == 2 and len(shape_of(b)) == 2 and b == T(a)

    def _eval_transpose_last2(self):
        """(A B)^T = B^T A^T, for a transpose of the last two dims (see `TransposeOp.eval`)."""
        if all(len(shape_of(t)) >= 2 for t in self.args):
            return MatmulOp(T(self.args[1]), T(self.args[0]))

    def out_shape(self):
        a, b = (shape_of(t) for t in self.args)
        if len(a) == 0 or len(b) == 0:
            raise ShapeError("matmul: both arguments must be at least 1-D, got %s and %s"
                             % (fmt_shape(a), fmt_shape(b)))
        a2 = (S.One,) + a if len(a) == 1 else a
        b2 = b + (S.One,) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise ShapeError("matmul: shapes %s and %s do not fit (%s != %s)"
                             % (fmt_shape(a), fmt_shape(b), a2[-1], b2[-2]))
        batch = broadcast(a2[:-2], b2[:-2])
        out = batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
        return out

    def vjp(self, i, g):
        a, b = self.args
        ra, rb = len(shape_of(a)), len(shape_of(b))
        if ra == 1 and rb == 1:
            return g * (b if i == 0 else a)
        if shape_of(g) == () and max(ra, rb) <= 2 and any(d != 1 for d in self.out_shape()):
            return self.vjp_constant(i, g, ra, rb)
        g = materialize(g, self.out_shape())
        if ra == 1 and rb == 2:              # (n) @ (n, p)
            return MatmulOp(b, g) if i == 0 else OuterOp(a, g)
        if rb == 1 and ra == 2:              # (m, n) @ (n)
            return OuterOp(g, b) if i == 0 else MatmulOp(T(a), g)
        if ra == 1:                          # (n) @ (..., n, p): g is (..., p)
            gp = UnsqueezeOp(g, Integer(len(shape_of(g)) - 1))          # (..., 1, p)
            if i == 0:
                last = Tuple(Integer(len(shape_of(b)) - 1))
                return _sum_leading(SumOp(b * gp, last, flag(False)), 1)
            return UnsqueezeOp(a, Integer(1)) * gp          # the sweep sums it back to b's shape
        if rb == 1:                          # (..., m, n) @ (n): g is (..., m)
            gu = UnsqueezeOp(g, Integer(len(shape_of(g))))
            if i == 0:
                return gu * b                                    # (summed back by the sweep)
            return _sum_leading(gu * a, 1)
        # batched: the products carry the broadcast batch dims; the sweep sums them back
        return MatmulOp(g, T(b)) if i == 0 else MatmulOp(T(a), g)

    def batch(self, args, lifted, bshape):
        """Leading batch dims are matmul's own batch dims once the logical ranks agree; a
        batch of vectors is a batch of rows (``v @ A.T`` for ``A @ v``) or of columns."""
        return matmul_batch(MatmulOp, SumOp, args, lifted, [shape_of(t) for t in self.args])

    def vjp_constant(self, i, g, ra, rb):
        """A constant adjoint g: ones-matrix products are sums (no ones tensor is built)."""
        a, b = self.args

        def s(x, d):
            return SumOp(x, Tuple(Integer(d)), flag(False))
        if ra == 1:            # (n) @ (n, p)
            return g * s(b, 1) if i == 0 else g * UnsqueezeOp(a, Integer(1))
        if rb == 1:            # (m, n) @ (n)
            return g * b if i == 0 else g * s(a, 0)
        return g * s(b, 1) if i == 0 else g * UnsqueezeOp(s(a, 0), Integer(1))

    def chain(self):
        """The factors of a product of matrices, flattened: (A @ B) @ C and A @ (B @ C) alike."""
        out = []
        for a in self.args:
            ok = isinstance(a, MatmulOp) and all(len(shape_of(t)) == 2 for t in a.args)
            out += a.chain() if ok else [a]
        return out if all(len(shape_of(t)) == 2 for t in self.args) else list(self.args)

    def transposed_chain(self):
        """A.T @ B.T @ C.T as the product it transposes, C @ B @ A (None unless all are .T)."""
        ch = self.chain()
        if len(ch) < 2 or not all(isinstance(f, TransposeOp) and f.is_T() for f in ch):
            return None
        inner = ch[-1].args[0]
        for f in reversed(ch[:-1]):
            inner = MatmulOp(inner, f.args[0], evaluate=False)
        return inner

    def text(self, p):
        inner = self.transposed_chain()
        if inner is not None:                # 4*(X @ X @ X).T, not 4*X.T @ X.T @ X.T
            return "(%s).T" % p._print(inner)
        a, b = self.args
        op = getattr(p, "operand", p.parenthesize)
        left = op(a, PRECEDENCE["Mul"] - 1, strict=True)
        right = op(b, PRECEDENCE["Mul"] + 1)
        return "%s @ %s" % (left, right)

    def torch(self, p):
        a, b = self.args
        op = getattr(p, "operand", p.parenthesize)
        return "%s @ %s" % (op(a, PRECEDENCE["Mul"] - 1, strict=True), op(b, PRECEDENCE["Mul"] + 1))

    def latex(self, p):
        inner = self.transposed_chain()
        if inner is not None:
            return r"\left(%s\right)^{\top}" % p._print(inner)
        a, b = self.args

        def side(x):                         # matrix products are associative: A B C
            return p._print(x) if isinstance(x, MatmulOp) else p.parenthesize(x, PRECEDENCE["Mul"])
        left = p.transposed(a) if len(shape_of(a)) == 1 else side(a)
        return "%s %s" % (left, side(b))

    def index(self, p, idx):
        a, b = self.args
        ra, rb = len(shape_of(a)), len(shape_of(b))
        k = p.fresh()
        idx = list(idx)
        if ra == 1 and rb == 1:
            ia, ib = [k], [k]
        elif ra == 1:
            ia, ib = [k], idx[:-1] + [k] + idx[-1:]
        elif rb == 1:
            ia, ib = idx + [k], [k]
        else:
            batch = idx[:-2]
            nb_a, nb_b = ra - 2, rb - 2
            ia = batch[len(batch) - nb_a:] + [idx[-2], k]
            ib = batch[len(batch) - nb_b:] + [k, idx[-1]]
        return r"\sum_{%s} %s %s" % (k, p.index_of(a, ia, "Mul"), p.index_of(b, ib, "Mul"))


def matmul_chain(ra, rb, rga):
    """The backward nodes ``a @ b`` records for operand ranks ra, rb (root first)."""
    if ra == 1 and rb == 1:
        return ("DotBackward0",)
    if ra == 2 and rb == 1:
        return ("MvBackward0",)
    if ra == 1 and rb == 2:
        return ("SqueezeBackward4", "MmBackward0")
    if ra == 2 and rb == 2:
        return ("MmBackward0",)
    if rb == 1:
        return ("UnsafeViewBackward0", "MvBackward0")
    if rb == 2:
        return ("UnsafeViewBackward0", "MmBackward0")
    if ra == 1:
        return ("UnsafeViewBackward0", "MvBackward0") if rga else ("UnsafeViewBackward0", "BmmBackward0")
    if ra == 2:
        return ("CloneBackward0", "MmBackward0") if rga else ("UnsafeViewBackward0", "BmmBackward0")
    return ("UnsafeViewBackward0", "BmmBackward0")


def record_matmul(w, n, fn, vals, nodes):
    """``a @ b`` (the operator and the function): the chain depends on the ranks."""
    a, b, an, bn = vals["input"], vals["other"], nodes["input"], nodes["other"]
    if not (w.is_tensor(a) and w.is_tensor(b)):
        return w.record(n, "MulBackward0", [a, b])
    ra, rb = len(a.shape), len(b.shape)
    chain = matmul_chain(ra, rb, a.requires_grad)
    raiser = chain[-1]
    fields = cross_saved(raiser, a.requires_grad, b.requires_grad) if (ra <= 2 and rb <= 2) else ()
    return w.record(n, chain[0], [a, b], raiser, w.saved(fields, [a, b], [an, bn], n), chain)


@register("matmul", P("input", "other"), torch="torch.matmul", grad_fn="MmBackward0", saved=CROSS["MmBackward0"], record=record_matmul,
          on_bool="fail", reason="d(AB) = dA B + A dB, so A receives G B^T and B receives A^T G: "
                                 "the shapes match only this way")
def _matmul(input, other):
    return MatmulOp(input, other)


class OuterOp(TensorOp):
    spec_name = "outer"
    n_tensors = 2

    @classmethod
    def eval(cls, a, b):
        ca, ra = split_scalar(a)
        cb, rb = split_scalar(b)
        if (ca != 1 or cb != 1) and ra != 1 and rb != 1:
            return ca * cb * cls(ra, rb)

    def out_shape(self):
        a, b = (shape_of(t) for t in self.args)
        if len(a) != 1 or len(b) != 1:
            raise ShapeError("outer: both arguments must be 1-D, got %s and %s" % (fmt_shape(a), fmt_shape(b)))
        return (a[0], b[0])

    def vjp(self, i, g):
        a, b = self.args
        if shape_of(g) == ():
            other = b if i == 0 else a
            return g * SumOp(other, Tuple(Integer(0)), flag(False))
        g = materialize(g, self.out_shape())
        return MatmulOp(g, b) if i == 0 else MatmulOp(T(g), a)

    def batch(self, args, lifted, bshape):
        """outer(u, w) is u[:, None] * w, batch by batch."""
        (u, w), (lu, lw) = args, lifted
        col = UnsqueezeOp(u, Integer(pdim(u, 1, 1) if lu else 1))
        return col * (align(w, 1, 2) if lw else w)

    def latex(self, p):
        return r"%s %s" % (p.parenthesize(self.args[0], PRECEDENCE["Mul"]), p.transposed(self.args[1]))

    def index(self, p, idx):
        return "%s %s" % (p.index_of(self.args[0], idx[:1], "Mul"), p.index_of(self.args[1], idx[1:], "Mul"))


def _record_outer(w, n, fn, vals, nodes):
    """outer(u, v) is u[:, None] * v: MulBackward0 over a view."""
    args, argnodes = [vals["input"], vals["vec2"]], [nodes["input"], nodes["vec2"]]
    rg = [getattr(a, "requires_grad", False) for a in args]
    return w.record(n, "MulBackward0", args, "MulBackward0",
                    w.saved(cross_saved("MulBackward0", *rg), args, argnodes, n), ("MulBackward0", "ViewBackward0"))


@register("outer", P("input", "vec2"), torch="torch.outer", grad_fn="MulBackward0", saved=CROSS["MulBackward0"], record=_record_outer,
          on_bool="fail", reason="d(u v^T) = du v^T + u dv^T: u receives G v, v receives G^T u")
def _outer(input, vec2):
    return OuterOp(input, vec2)


class DotOp(TensorOp):
    spec_name = "dot"
    n_tensors = 2

    def out_shape(self):
        a, b = (shape_of(t) for t in self.args)
        if len(a) != 1 or len(b) != 1 or a != b:
            raise ShapeError("dot: needs two 1-D tensors of the same size, got %s and %s"
                             % (fmt_shape(a), fmt_shape(b)))
        return ()

    def vjp(self, i, g):
        return g * self.args[1 - i]

    def batch(self, args, lifted, bshape):
        return reduce_lifted(SumOp, args[0] * args[1], shape_of(self.args[0]), [0], False, lambda n: n)

    def latex(self, p):
        return r"%s %s" % (p.transposed(self.args[0]), p.parenthesize(self.args[1], PRECEDENCE["Mul"]))

    def index(self, p, idx):
        k = p.fresh()
        return r"\sum_{%s} %s %s" % (k, p.index_of(self.args[0], [k], "Mul"), p.index_of(self.args[1], [k], "Mul"))


@register("dot", P("input", "tensor"), torch="torch.dot", grad_fn="DotBackward0",
          saved=CROSS["DotBackward0"], on_bool="fail",
          reason="d(u . v) = du . v + u . dv: each vector receives the other, scaled by the adjoint")
def _dot(input, tensor):
    return DotOp(input, tensor)


class SquareMatrixOp(TensorOp):
    def square(self):
        s = shape_of(self.args[0])
        if len(s) != 2 or s[0] != s[1]:
            raise ShapeError("%s: needs a square matrix, got %s" % (self.spec_name, fmt_shape(s)))
        return s


class TraceOp(SquareMatrixOp):
    spec_name = "trace"

    def out_shape(self):
        self.square()
        return ()

    def vjp(self, i, g):
        return g * EyeOp(self.square()[0])

    def batch(self, args, lifted, bshape):
        """The sum of the diagonal of each matrix of the batch."""
        n = self.square()[0]
        return reduce_lifted(SumOp, args[0] * EyeOp(n), (n, n), [0, 1], False, lambda n: n)

    def latex(self, p):
        return r"\operatorname{tr}\left(%s\right)" % p._print(self.args[0])

    def index(self, p, idx):
        k = p.fresh()
        return r"\sum_{%s} %s" % (k, p.index_of(self.args[0], [k, k]))


@register("trace", P("input"), torch="torch.trace", grad_fn="TraceBackward0", on_bool="fail",
          reason="d tr(X) = tr(dX): the adjoint times the identity")
def _trace(input):
    return TraceOp(input)


class MatrixwiseOp(TensorOp):
    """An op of a square matrix or a batch of them (leading dims), as PyTorch's det, logdet
    and inverse: on a batch of directions it is the same op on one more batch of matrices."""

    def batched_square(self):
        s = shape_of(self.args[0])
        if len(s) < 2 or s[-1] != s[-2]:
            raise ShapeError("%s: needs a square matrix or a batch of them, got %s" % (self.spec_name, fmt_shape(s)))
        return s

    def batch(self, args, lifted, bshape):
        s = self.batched_square()
        r = len(s)                 # full along the matrix dims: no op broadcasts inside a matrix
        return self.func(align(full_along(args[0], s, [r - 2, r - 1]), r, r))


def _per_matrix(g):
    """g (one value per matrix of a batch) with two trailing unit dims; a scalar stays one."""
    for _ in range(2 if rank(g) else 0):
        g = UnsqueezeOp(g, Integer(rank(g)))
    return g


class DetOp(MatrixwiseOp):
    spec_name = "det"

    def out_shape(self):
        return self.batched_square()[:-2]

    def vjp(self, i, g):
        return _per_matrix(g) * _per_matrix(self) * T(InverseOp(self.args[0]))

    def latex(self, p):
        return r"\det\left(%s\right)" % p._print(self.args[0])

    def index(self, p, idx):
        return self.latex(p)


@register("det", P("input"), torch="torch.det", grad_fn="LinalgDetBackward0", saved=("A", "LU", "pivots", "result"),
          on_bool="fail", reason="Jacobi's formula: d det X = det(X) tr(X^{-1} dX), so X receives det(X) X^{-T}")
def _det(input):
    return DetOp(input)


class LogdetOp(DetOp):
    spec_name = "logdet"

    def vjp(self, i, g):
        return _per_matrix(g) * T(InverseOp(self.args[0]))

    def latex(self, p):
        return r"\log\det\left(%s\right)" % p._print(self.args[0])


def _record_logdet(w, n, fn, vals, nodes):
    """logdet is where(det > 0, logabsdet, nan) over slogdet."""
    return w.record(n, "WhereBackward0", [vals["input"]], "WhereBackward0", (("condition", "det > 0"),),
                    ("WhereBackward0", "LinalgSlogdetBackward0"))


@register("logdet", P("input"), torch="torch.logdet", grad_fn="WhereBackward0", saved=("condition",),
          record=_record_logdet, on_bool="fail",
          reason="d log det X = tr(X^{-1} dX), so X receives X^{-T}")
def _logdet(input):
    return LogdetOp(input)


class InverseOp(MatrixwiseOp):
    spec_name = "inverse"
    prec = PRECEDENCE["Atom"]

    @classmethod
    def eval(cls, x):
        if isinstance(x, InverseOp):
            return x.args[0]

    @property
    def symmetric(self):
        return symmetric(self.args[0])

    def out_shape(self):
        return self.batched_square()         # a batch of matrices too, as torch.inverse

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        yt = T(self)
        return -MatmulOp(MatmulOp(yt, g), yt)

    def latex(self, p):
        return r"%s^{-1}" % p.superscriptable(self.args[0])

    def latex_transposed(self, p):
        return r"%s^{-\top}" % p.parenthesize(self.args[0], PRECEDENCE["Atom"], strict=True)

    def index(self, p, idx):
        return r"\left(%s\right)_{%s}" % (self.latex(p), "".join(idx))


@register("inverse", P("input"), torch="torch.inverse", grad_fn="LinalgInvExBackward0", saved=("inverse",),
          on_bool="fail", reason="d(X^{-1}) = -X^{-1} dX X^{-1}, so X receives -X^{-T} G X^{-T}")
def _inverse(input):
    return InverseOp(input)
