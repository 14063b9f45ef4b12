"""Solves and factorisations: solve, cholesky, slogdet, eigvalsh, eigh, pinv.

Each rule is the textbook differential written as a vector-Jacobian product, with the
factorisation's own output reused by name (``X = solve(A, B)``, ``L = cholesky(A)``):

* ``A X = B``: ``dX = A^{-1}(dB - dA X)``, so B receives ``solve(A.T, G)`` and A ``-G_B X^T``;
* ``A = L L^T``: ``dL = L Phi(L^{-1} dA L^{-T})`` (Phi: the lower triangle, diagonal
  halved), so A receives ``L^{-T} sym(Phi(L^T G)) L^{-1}`` -- symmetric, although the
  factorisation reads only A's lower triangle (as PyTorch);
* ``d log|det A| = tr(A^{-1} dA)``; ``d lambda_k = v_k^T dA v_k``; the eigenvectors' rule
  divides by eigenvalue gaps; the pseudo-inverse's is Golub and Pereyra's (constant rank).

Every op takes a batch of matrices (leading dims) where PyTorch does, and so a batch of
directions (second order, ``batch``) is one more batch of matrices (`lift_core`).  A closed
form is differentiated again, so it transposes an spd matrix too (`transposed`).  ``eigh``
is the name the eigenvalue rule needs for the eigenvectors: PyTorch returns the named tuple
(eigenvalues, eigenvectors), spelled ``eigh(A).eigenvectors`` (the ``fields`` fact).
"""
from sympy import S, Integer, Tuple
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, broadcast, fmt_shape
from .base import TensorOp, split_scalar, rank, flag
from .diag import TrilOp, _triangle
from .linalg import MatmulOp, OuterOp, InverseOp
from .registry import register, P, Param
from .batching import align, full_along
from .shape import EyeOp, UnsqueezeOp, SqueezeOp, TransposeOp, T, materialize


def tril(x, diagonal=0):
    """``tril(x, diagonal)`` as the cholesky rule builds it."""
    return _triangle(TrilOp, "tril")(x, diagonal)


def square(name, x):
    """The shape of a (batch of) square matrices, or a ShapeError naming the function."""
    s = shape_of(x)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ShapeError("%s: needs a square matrix or a batch of them, got %s" % (name, fmt_shape(s)))
    return s


def transposed(x):
    """x^T, also for an x known to be symmetric (an spd input): a gradient that is
    differentiated again must hold in every direction, as PyTorch's double backward, and
    d(S^T) = dS^T is not dS.  First order drops the transpose where it may (``tidy``), so
    the closed form still names a forward value (``solve(S, r)`` is the node ``a``)."""
    return T(x)


# --- batches of matrices (second order) ----------------------------------------------------
def lift_core(x, shape, core, nbatch):
    """Lifted ``x`` (logical ``shape``) as a batch for an op on its last ``core`` dims: full
    along them (no op broadcasts inside one matrix) and with ``nbatch`` logical batch dims,
    unit dims put in, so that the directions' batch dims stay in front of the op's own."""
    r = len(shape)
    x = full_along(x, shape, list(range(r - core, r)))
    return align(x, r, nbatch + core)


def same_rank(*xs):
    """The tensors with unit dims in front up to the same rank: a batched op then reads each
    as the batch it is (a column is never taken for a batch of vectors)."""
    n = max(rank(x) for x in xs)
    out = []
    for x in xs:
        for _ in range(n - rank(x)):
            x = UnsqueezeOp(x, Integer(0))
        out.append(x)
    return out


class MatrixBatch:
    """``batch`` of an op of one (batch of) matrices and attributes, which PyTorch
    applies matrix by matrix: the op over the batch, made full along the matrix dims."""

    def batch(self, args, lifted, bshape):
        s = shape_of(self.args[0])
        return self.func(lift_core(args[0], s, 2, len(s) - 2), *self.args[1:])


def unsqueeze_last(g, times):
    """g with ``times`` trailing dims of size 1 (a scalar stays a scalar)."""
    for _ in range(times if rank(g) else 0):
        g = UnsqueezeOp(g, Integer(rank(g)))
    return g


# --- solve ---------------------------------------------------------------------------------
class SolveOp(TensorOp):
    """X with A X = B; B is a (batch of) vector(s) by PyTorch's rule (`vector_rhs`)."""
    spec_name = "solve"
    n_tensors = 2

    @classmethod
    def eval(cls, a, b):
        c, rest = split_scalar(b)
        if c != 1 and rest != 1:
            return c * cls(a, rest)
        if isinstance(b, EyeOp) and rank(a) == 2:
            return InverseOp(a)

    def vector_rhs(self):
        a, b = shape_of(self.args[0]), shape_of(self.args[1])
        return len(b) == 1 or (len(b) == len(a) - 1 and b == a[:-1])

    def out_shape(self):
        a = square("solve", self.args[0])
        b = shape_of(self.args[1])
        n = a[-1]
        if self.vector_rhs():
            if b[-1] != n:
                raise ShapeError("solve: A is %s but B is %s" % (fmt_shape(a), fmt_shape(b)))
            return broadcast(a[:-2], b[:-1]) + (n,)
        if len(b) < 2 or b[-2] != n:
            raise ShapeError("solve: shapes %s and %s do not fit A X = B" % (fmt_shape(a), fmt_shape(b)))
        return broadcast(a[:-2], b[:-2]) + b[-2:]

    def vjp(self, i, g):
        a = self.args[0]
        gb = SolveOp(transposed(a), materialize(g, self.out_shape()))
        if i == 1:
            return gb
        x = self
        if not self.vector_rhs():
            return -MatmulOp(gb, T(x))
        if rank(x) == 1:
            return -OuterOp(gb, x)
        return -UnsqueezeOp(gb, Integer(rank(gb))) * UnsqueezeOp(x, Integer(rank(x) - 1))

    def batch(self, args, lifted, bshape):
        """A batch of solves (PyTorch broadcasts their batch dims); a vector right-hand side
        as a column, so that no batch of vectors is read as one matrix."""
        vec = self.vector_rhs()
        nb = len(self.out_shape()) - (1 if vec else 2)
        a, b = args
        if lifted[0]:
            a = lift_core(a, shape_of(self.args[0]), 2, nb)
        if lifted[1]:
            b = lift_core(b, shape_of(self.args[1]), 1 if vec else 2, nb)
        if vec and nb == 0 and not lifted[0] and rank(a) == 2 and rank(b) >= 2:
            x = SolveOp(a, T(b))     # the batch's last dim as columns: solve(A, I) is inverse(A)
            if isinstance(x, InverseOp) and isinstance(a, TransposeOp) and a.is_T():
                return InverseOp(a.args[0])          # inverse(A.T).T
            return T(x)
        if vec:
            b = UnsqueezeOp(b, Integer(rank(b)))
        x = SolveOp(*same_rank(a, b))
        return SqueezeOp(x, Tuple(Integer(rank(x) - 1))) if vec else x

    def torch(self, p):
        return "torch.linalg.solve(%s, %s)" % (p._print(self.args[0]), p._print(self.args[1]))

    def latex(self, p):
        return r"%s^{-1} %s" % (p.superscriptable(self.args[0]), p.parenthesize(self.args[1], PRECEDENCE["Mul"]))


@register("solve", P("A", "B", Param("left", "bool", True)), torch="torch.linalg.solve",
          ref=lambda ctx, A, B, left: ctx.torch.linalg.solve(A, B, left=left),
          grad_fn="LinalgSolveExBackward0", saved=("A", "LU", "pivots", "result"), on_bool="fail", strict=True,
          reason="A X = B gives dX = A^{-1}(dB - dA X): B receives G_B = solve(A^T, G), A receives -G_B X^T")
def _solve(A, B, left):
    if left:
        return SolveOp(A, B)
    if rank(B) < 2:
        raise ShapeError("solve: left=False needs a matrix B (X A = B)")
    return T(SolveOp(T(A), T(B)))          # X A = B is A^T X^T = B^T


# --- cholesky --------------------------------------------------------------------------------
class CholeskyOp(MatrixBatch, TensorOp):
    """The lower Cholesky factor L (A = L L^T), from A's lower triangle."""
    spec_name = "cholesky"

    def out_shape(self):
        return square("cholesky", self.args[0])

    def vjp(self, i, g):
        n = self.out_shape()[-1]
        m = MatmulOp(T(self), materialize(g, self.out_shape()))
        low = tril(m)                       # sym(Phi(M)) = (tril(M) + tril(M)^T - I o M)/2
        inv = InverseOp(self)
        return MatmulOp(MatmulOp(T(inv), low + T(low) - EyeOp(n) * m), inv) / 2

    def torch(self, p):
        return "torch.linalg.cholesky(%s)" % p._print(self.args[0])

    def latex(self, p):
        return r"\operatorname{chol}\left(%s\right)" % p._print(self.args[0])


@register("cholesky", P("A", Param("upper", "bool", False)), torch="torch.linalg.cholesky",
          ref=lambda ctx, A, upper: ctx.torch.linalg.cholesky(A, upper=upper),
          grad_fn="LinalgCholeskyExBackward0", saved=("L",), on_bool="fail",
          reason="A = L L^T gives L^{-1} dA L^{-T} = Phi^{-1}(L^{-1} dL) (Phi: lower triangle, halved "
                 "diagonal), so A receives L^{-T} sym(Phi(L^T G)) L^{-1}, symmetric as in PyTorch")
def _cholesky(A, upper):
    if upper:                              # reads the upper triangle: the lower one of A^T
        return T(CholeskyOp(T(A)))
    return CholeskyOp(A)


# --- slogdet -------------------------------------------------------------------------------
class SlogdetOp(MatrixBatch, TensorOp):
    """log|det A| (PyTorch's ``slogdet(A).logabsdet``)."""
    spec_name = "slogdet"

    def out_shape(self):
        return square("slogdet", self.args[0])[:-2]

    def vjp(self, i, g):
        return unsqueeze_last(g, 2) * transposed(InverseOp(self.args[0]))

    def torch(self, p):
        return "torch.linalg.slogdet(%s).logabsdet" % p._print(self.args[0])

    def latex(self, p):
        return r"\log\left|\det %s\right|" % p.parenthesize(self.args[0], PRECEDENCE["Mul"])

    def index(self, p, idx):
        return self.latex(p)


@register("slogdet", P("A"), torch="torch.linalg.slogdet", picks="logabsdet",
          grad_fn="LinalgSlogdetBackward0", saved=("A", "LU", "pivots", "sign"), on_bool="fail",
          reason="d log|det A| = tr(A^{-1} dA) for either sign of det A, so A receives G A^{-T}")
def _slogdet(A):
    return SlogdetOp(A)


# --- eigvalsh, eigh --------------------------------------------------------------------------
class EigvalshOp(MatrixBatch, TensorOp):
    """The eigenvalues of a symmetric matrix, ascending, from its lower (with ``upper``, its
    upper) triangle."""
    spec_name = "eigvalsh"

    def out_shape(self):
        return square("eigvalsh", self.args[0])[:-1]

    def vjp(self, i, g):
        n = self.out_shape()[-1]
        if rank(g) == 0:
            return g * EyeOp(n)            # V g V^T with V orthogonal
        v = EighVectorsOp(*self.args)
        gv = g if rank(g) == 1 else UnsqueezeOp(g, Integer(rank(g) - 1))
        return MatmulOp(v * gv, T(v))

    def text(self, p):
        return "eigvalsh(%s%s)" % (p._print(self.args[0]), _uplo(self))

    def torch(self, p):
        return "torch.linalg.eigvalsh(%s%s)" % (p._print(self.args[0]), _uplo(self))

    def latex(self, p):
        return r"\lambda\left(%s\right)" % p._print(self.args[0])


class EighVectorsOp(MatrixBatch, TensorOp):
    """The orthonormal eigenvectors (columns) of a symmetric matrix, in eigvalsh's order, from
    its lower (or, with ``upper``, upper) triangle -- which LAPACK's signs depend on."""
    spec_name = "eigh"

    def out_shape(self):
        return square("eigh", self.args[0])

    def vjp(self, i, g):
        v, lam = self, EigvalshOp(*self.args)
        q = rank(lam)
        gap = UnsqueezeOp(lam, Integer(q - 1)) - UnsqueezeOp(lam, Integer(q))     # lambda_j - lambda_i
        m = MatmulOp(T(v), materialize(g, self.out_shape()))
        n = self.out_shape()[-1]
        skew = m - T(m)
        if skew == 0:                       # V^T G symmetric (G = 2V: sum(V*V) is constant)
            return S.Zero
        return MatmulOp(MatmulOp(v, skew / (2 * (gap + EyeOp(n)))), T(v))

    def text(self, p):
        return "eigh(%s%s).eigenvectors" % (p._print(self.args[0]), _uplo(self))

    def torch(self, p):
        return "torch.linalg.eigh(%s%s).eigenvectors" % (p._print(self.args[0]), _uplo(self))

    def latex(self, p):
        return r"\operatorname{eigvecs}\left(%s\right)" % p._print(self.args[0])


@register("eigvalsh", P("A", Param("UPLO", "str", "L")), torch="torch.linalg.eigvalsh",
          ref=lambda ctx, A, UPLO: ctx.torch.linalg.eigvalsh(A, UPLO=UPLO),
          grad_fn="LinalgEighBackward0", saved=("eigenvalues", "eigenvectors"), on_bool="fail",
          reason="d lambda_k = v_k^T dA v_k, so A receives V diag(G) V^T, symmetric although only "
                 "one triangle is read")
def _eigvalsh(A, UPLO):
    return EigvalshOp(A, _upper(UPLO))


@register("eigh", P("A", Param("UPLO", "str", "L")), torch="torch.linalg.eigh",
          ref=lambda ctx, A, UPLO: ctx.torch.linalg.eigh(A, UPLO=UPLO),
          grad_fn="LinalgEighBackward0", saved=("eigenvalues", "eigenvectors"), on_bool="fail",
          fields=("eigenvalues", "eigenvectors"),
          reason="dV = V (F o (V^T dA V)) with F_ij = 1/(lambda_j - lambda_i) off the diagonal, so A "
                 "receives V (skew(V^T G)/gaps) V^T; the eigenvalues as for eigvalsh")
def _eigh(A, UPLO):
    return EigvalshOp(A, _upper(UPLO)), EighVectorsOp(A, _upper(UPLO))


def _upper(UPLO):
    """Which triangle is read (LAPACK's eigenvector signs depend on it)."""
    if UPLO not in ("L", "U"):
        raise SpecError("UPLO must be 'L' or 'U', got %r" % UPLO)
    return flag(UPLO == "U")


def _uplo(op):
    return ", UPLO='U'" if op.args[1] else ""


# --- pinv ----------------------------------------------------------------------------------
class PinvOp(MatrixBatch, TensorOp):
    """The Moore-Penrose pseudo-inverse of a (batch of) m x n matrices: n x m."""
    spec_name = "pinv"

    def out_shape(self):
        s = shape_of(self.args[0])
        if len(s) < 2:
            raise ShapeError("pinv: needs a matrix or a batch of them, got %s" % fmt_shape(s))
        return s[:-2] + (s[-1], s[-2])

    def vjp(self, i, g):
        a, pa = self.args[0], self
        m, n = shape_of(a)[-2:]
        g = materialize(g, self.out_shape())
        gt, pt = T(g), T(pa)
        return (-MatmulOp(MatmulOp(pt, g), pt)
                + MatmulOp(MatmulOp(MatmulOp(EyeOp(m) - MatmulOp(a, pa), gt), pa), pt)
                + MatmulOp(MatmulOp(MatmulOp(pt, pa), gt), EyeOp(n) - MatmulOp(pa, a)))

    def torch(self, p):
        return "torch.linalg.pinv(%s)" % p._print(self.args[0])

    def latex(self, p):
        return r"%s^{+}" % p.superscriptable(self.args[0])


@register("pinv", P("A", Param("hermitian", "bool", False)), torch="torch.linalg.pinv",
          ref=lambda ctx, A, hermitian: ctx.torch.linalg.pinv(A, hermitian=hermitian),
          grad_fn="LinalgPinvBackward0", saved=("self", "result"), on_bool="fail",
          reason="for constant rank, dA^+ = -A^+ dA A^+ + (I - A^+ A) dA^T A^{+T} A^+ + A^+ A^{+T} dA^T (I - A A^+)")
def _pinv(A, hermitian):
    if hermitian:
        raise SpecError("hermitian=True is not supported (it reads one triangle); use pinv(A)")
    return PinvOp(A)

