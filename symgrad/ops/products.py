"""Matrix functions and products: matrix_power, matrix_exp, kron, and pad (cross and cdist:
`symgrad.ops.pairwise`).

* ``d A^n = sum_k A^k dA A^{n-1-k}``: A receives ``sum_k (A^T)^k G (A^T)^{n-1-k}``, written
  out up to n = 3 and beyond as the upper-right block of ``[[A^T, G], [0, A^T]]^n``; a
  negative power is a power of the inverse (PyTorch inverts first).
* ``d e^A`` is the Frechet derivative; its adjoint at G is the upper-right block of
  ``exp([[A^T, G], [0, A^T]])`` (Mathias 1996), written with `pad` (``F.pad``: zeros
  around a tensor, or a crop with negative amounts), which is exact and batches.
* ``kron``: the adjoint reshaped to (p, r, q, s) and contracted with the other factor.

A batch of directions (second order, ``batch``) is one more batch of matrices for the
matrix functions; pad pads the last dims, whatever comes before them; kron is a reshaped
outer product, batch by batch.
"""
from sympy import S, Tuple, Integer
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape
from .base import TensorOp, rank, flag
from .batching import full_along
from .decomp import square, transposed, MatrixBatch
from .linalg import MatmulOp, InverseOp
from .nodes import cross_saved
from .reduce import SumOp
from .registry import register, P, Param, Cross
from .shape import OnesOp, ReshapeOp, T, materialize


def sum_over(x, dims, keepdim=False):
    """sum(x, dims) for dims counted from the end (negative) or the start."""
    r = rank(x)
    if r == 0:
        return x
    ds = sorted({d % r for d in dims})
    return SumOp(x, Tuple(*map(Integer, ds)), flag(keepdim))


# --- matrix_power ------------------------------------------------------------------------------
class MatrixPowerOp(MatrixBatch, TensorOp):
    """A^k for an int k >= 0 (a negative power is built on `InverseOp`)."""
    spec_name = "matrix_power"

    @classmethod
    def eval(cls, a, k):
        if k == 1:
            return a

    def out_shape(self):
        return square("matrix_power", self.args[0])

    def vjp(self, i, g):
        a, k = self.args[0], int(self.args[1])
        if k == 0:
            return S.Zero
        g = materialize(g, self.out_shape())
        if k > SPELLED_OUT:               # the same sum, as a block of [[A^T, G], [0, A^T]]^k
            return upper_right(lambda b: MatrixPowerOp(b, Integer(k)), transposed(a), g)

        def power_t(j):
            return None if j == 0 else T(MatrixPowerOp(a, Integer(j)))
        out = S.Zero
        for j in range(k):
            left, right = power_t(j), power_t(k - 1 - j)
            term = g if left is None else MatmulOp(left, g)
            out += term if right is None else MatmulOp(term, right)
        return out

    def _spelling(self, p):
        a, k = self.args[0], int(self.args[1])
        return (a.args[0], -k) if isinstance(a, InverseOp) else (a, k)

    def text(self, p):
        a, k = self._spelling(p)
        return "matrix_power(%s, %d)" % (p._print(a), k)

    def torch(self, p):
        a, k = self._spelling(p)
        return "torch.linalg.matrix_power(%s, %d)" % (p._print(a), k)

    def latex(self, p):
        a, k = self._spelling(p)
        return r"%s^{%d}" % (p.superscriptable(a), k)


SPELLED_OUT = 3      # A^n's rule is written as its n terms up to this n


def upper_right(f, at, g):
    """The upper-right block of f([[A^T, G], [0, A^T]]): for f = exp, the Frechet derivative
    of exp at A^T applied to G; for f = (.)^k, sum_j (A^T)^j G (A^T)^{k-1-j}."""
    n, z = shape_of(at)[-1], S.Zero
    block = PadOp(at, Tuple(z, n, z, n)) + PadOp(at, Tuple(n, z, n, z)) + PadOp(g, Tuple(n, z, z, n))
    return PadOp(f(block), Tuple(-n, z, z, -n))


def _record_matrix_power(w, n, fn, vals, nodes):
    """n = 0: a copy of I into a clone; n = 1: a clone; n = -1: the inverse; otherwise
    binary powering by matmuls (mm, or bmm under views for a batch)."""
    a, k = vals["A"], vals["n"]
    if not w.is_tensor(a):
        return a
    if k == 0:
        return w.record(n, "torch::autograd::CopyBackwards", [a], chain=("torch::autograd::CopyBackwards", "CloneBackward0"))
    if k == 1:
        return w.record(n, "CloneBackward0", [a])
    if k == -1:
        return w.record(n, "LinalgInvExBackward0", [a], "LinalgInvExBackward0", (("inverse", "its output"),))
    what = "%s or a power of it" % w.text(nodes["A"])
    saved = (("mat2", what), ("self", what))
    if len(a.shape) == 2:               # binary powering: floor(log2 n) squarings, popcount(n) - 1 products
        mms = abs(k).bit_length() - 1 + bin(abs(k)).count("1") - 1
        return w.record(n, "MmBackward0", [a], "MmBackward0", saved, ("MmBackward0",) * mms)
    return w.record(n, "UnsafeViewBackward0", [a], "BmmBackward0", saved, ("UnsafeViewBackward0", "BmmBackward0"))


@register("matrix_power", P("A", Param("n", "dim")), torch="torch.linalg.matrix_power", grad_fn="MmBackward0",
          saved=("mat2", "self"), record=_record_matrix_power, on_bool="fail",
          reason="d A^n = sum_k A^k dA A^{n-1-k}, so A receives sum_k (A^T)^k G (A^T)^{n-1-k}; "
                 "a negative power goes through the inverse")
def _matrix_power(A, n):
    square("matrix_power", A)
    if n >= 0:
        return MatrixPowerOp(A, Integer(n))
    return MatrixPowerOp(InverseOp(A), Integer(-n))


# --- pad (zeros around the last dims, or a crop) ------------------------------------------------
def _nonneg(v):
    return bool(S(v).is_nonnegative)


class PadOp(TensorOp):
    """F.pad(x, pads) in constant mode with zeros: pads[2k], pads[2k+1] before and after the
    k-th dim counted from the last; a negative amount crops."""
    spec_name = "pad"

    @classmethod
    def eval(cls, x, pads):
        if all(v == 0 for v in pads):
            return x
        if isinstance(x, OnesOp) and not any(_nonneg(v) and v != 0 for v in pads):
            return OnesOp(Tuple(*cls(x, pads, evaluate=False).out_shape()))    # a crop of ones
        if isinstance(x, PadOp) and len(x.args[1]) == len(pads) and all(
                _nonneg(u) or not _nonneg(v) for u, v in zip(x.args[1], pads)):
            return cls(x.args[0], Tuple(*[u + v for u, v in zip(x.args[1], pads)]))

    def out_shape(self):
        s = list(shape_of(self.args[0]))
        pads = list(self.args[1])
        if len(pads) % 2 or len(pads) > 2 * len(s):
            raise ShapeError("pad: %d amounts do not fit a tensor of %d dimensions" % (len(pads), len(s)))
        for k in range(len(pads) // 2):
            d = len(s) - 1 - k
            s[d] = s[d] + pads[2 * k] + pads[2 * k + 1]
            if s[d].is_number and s[d] <= 0:
                raise ShapeError("pad: the amounts leave dim %d of %s empty" % (d, fmt_shape(shape_of(self.args[0]))))
        return tuple(s)

    def vjp(self, i, g):
        return PadOp(materialize(g, self.out_shape()), Tuple(*[-v for v in self.args[1]]))

    def batch(self, args, lifted, bshape):
        """The same amounts on the last dims of the batch, made full where they pad or crop."""
        s, pads = shape_of(self.args[0]), list(self.args[1])
        r = len(s)
        touched = [r - 1 - k for k in range(len(pads) // 2) if pads[2 * k] != 0 or pads[2 * k + 1] != 0]
        return PadOp(full_along(args[0], s, touched), self.args[1])

    def text_kwargs(self, p):
        return ["(%s)" % ", ".join(p._print(v) for v in self.args[1])]

    def torch(self, p):
        return "torch.nn.functional.pad(%s, (%s))" % (p._print(self.args[0]), ", ".join(p._print(v) for v in self.args[1]))

    def latex(self, p):
        return r"\operatorname{pad}_{(%s)}\left(%s\right)" % (", ".join(p._print(v) for v in self.args[1]),
                                                              p._print(self.args[0]))


@register("pad", P("input", Param("pad", "ints"), Param("mode", "str", "constant"), Param("value", "number", None)),
          torch="torch.nn.functional.pad", grad_fn="ConstantPadNdBackward0",
          ref=lambda ctx, input, pad, mode, value: ctx.F.pad(input, pad, mode=mode, value=value),
          reason="padding adds constants around x: its adjoint is the adjoint cropped back (and a crop's "
                 "is the adjoint padded with zeros)")
def _pad(input, pad, mode, value):
    if mode != "constant":
        raise SpecError("only mode='constant' is supported, got %r" % mode)
    pads = Tuple(*[S(v) for v in pad])
    out = PadOp(input, pads)
    if value is not None and value != 0:
        out = out + value * (OnesOp(Tuple(*shape_of(out))) - PadOp(OnesOp(Tuple(*shape_of(input))), pads))
    return out


# --- matrix_exp --------------------------------------------------------------------------------
class MatrixExpOp(MatrixBatch, TensorOp):
    spec_name = "matrix_exp"

    def out_shape(self):
        return square("matrix_exp", self.args[0])

    def vjp(self, i, g):
        return upper_right(MatrixExpOp, transposed(self.args[0]), materialize(g, self.out_shape()))

    def torch(self, p):
        return "torch.linalg.matrix_exp(%s)" % p._print(self.args[0])

    def latex(self, p):
        return r"e^{%s}" % p._print(self.args[0])


@register("matrix_exp", P("A"), torch="torch.linalg.matrix_exp", grad_fn="LinalgMatrixExpBackward0",
          saved=("self",), on_bool="fail",
          reason="d e^A = int_0^1 e^{sA} dA e^{(1-s)A} ds: A receives the upper-right block of "
                 "exp([[A^T, G], [0, A^T]])")
def _matrix_exp(A):
    return MatrixExpOp(A)


# --- kron --------------------------------------------------------------------------------------
def _kron_shapes(a, b):
    sa, sb = shape_of(a), shape_of(b)
    r = max(len(sa), len(sb))
    return (S.One,) * (r - len(sa)) + sa, (S.One,) * (r - len(sb)) + sb


class KronOp(TensorOp):
    spec_name = "kron"
    n_tensors = 2

    def out_shape(self):
        pa, pb = _kron_shapes(*self.args)
        return tuple(x * y for x, y in zip(pa, pb))

    def vjp(self, i, g):
        a, b = self.args
        other = self.args[1 - i]
        if rank(g) == 0:
            return g * sum_over(other, range(rank(other)))
        pa, pb = _kron_shapes(a, b)
        r = len(pa)
        inter = [d for pair in zip(pa, pb) for d in pair]          # (p0, r0, p1, r1, ...)
        gg = ReshapeOp(materialize(g, self.out_shape()), Tuple(*inter))
        if i == 0:
            spread = ReshapeOp(b, Tuple(*[d for y in pb for d in (S.One, y)]))
            out = sum_over(gg * spread, range(1, 2 * r, 2))
        else:
            spread = ReshapeOp(a, Tuple(*[d for x in pa for d in (x, S.One)]))
            out = sum_over(gg * spread, range(0, 2 * r, 2))
        return ReshapeOp(out, Tuple(*shape_of(self.args[i])))

    def batch(self, args, lifted, bshape):
        """kron(a, b) = reshape(a[p0, 1, p1, 1, ...] * b[1, r0, 1, r1, ...]), batch by batch
        (kron itself would multiply the batch dims too)."""
        pa, pb = _kron_shapes(*self.args)
        bs = tuple(bshape)

        def spread(x, up, own, padded, first):
            inter = tuple(d for y in padded for d in ((y, S.One) if first else (S.One, y)))
            if not up:
                return ReshapeOp(x, Tuple(*inter))
            return ReshapeOp(materialize(x, bs + own), Tuple(*(bs + inter)))
        prod = spread(args[0], lifted[0], shape_of(self.args[0]), pa, True) * \
            spread(args[1], lifted[1], shape_of(self.args[1]), pb, False)
        return ReshapeOp(prod, Tuple(*(bs + self.out_shape())))

    def torch(self, p):
        # torch.kron views its operands and fails on a non-contiguous one (torch 2.13)
        parts = [p._print(t) if t.is_Symbol else "(%s).contiguous()" % p._print(t) for t in self.args]
        return "torch.kron(%s, %s)" % tuple(parts)

    def latex(self, p):
        return r"%s \otimes %s" % tuple(p.parenthesize(t, PRECEDENCE["Mul"]) for t in self.args)


def _record_kron(w, n, fn, vals, nodes):
    """kron views both operands, multiplies them broadcast (MulBackward0) and views back."""
    a, b = vals["input"], vals["other"]
    rg = [w.is_tensor(x) and x.requires_grad for x in (a, b)]
    what = {"other": "%s, reshaped" % w.text(nodes["other"]), "self": "%s, reshaped" % w.text(nodes["input"])}
    saved = tuple((f, what[f]) for f in cross_saved("MulBackward0", *rg))
    return w.record(n, "UnsafeViewBackward0", [a, b], "MulBackward0", saved,
                    ("UnsafeViewBackward0", "MulBackward0", "UnsafeViewBackward0"))


@register("kron", P("input", "other"), torch="torch.kron", grad_fn="UnsafeViewBackward0",
          saved=Cross(("other",), ("self",)), record=_record_kron, on_bool="fail", strict=True,
          ref=lambda ctx, input, other: ctx.torch.kron(input.contiguous(), other.contiguous()),
          reason="kron(a, b) is a reshaped outer product: each factor receives the adjoint, reshaped "
                 "block by block, contracted with the other factor")
def _kron(input, other):
    return KronOp(input, other)
