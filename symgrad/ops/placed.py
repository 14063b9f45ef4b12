"""Placed factors: how a batch of matrix directions stays a product of matrices.

The basis directions of a matrix x (m, n) are ``eye(m)`` placed at dims (0, 2) times
``eye(n)`` placed at dims (1, 3) of a 4-tensor (``reshape(eye(m), (m, 1, m, 1))*...``).
A *placed* factor is a vector or matrix M whose dims sit at given dims of a product of rank
R, every other dim 1: ``reshape(M, ...)`` that only inserts unit dims, or M itself at the
trailing dims (broadcasting).  Linear ops keep such a product a product of placed matrices,
so a Hessian of a matrix argument comes out as the Kronecker-like product a textbook
writes -- ``-X^{-T}`` (x) ``X^{-T}`` for logdet, ``2 I`` (x) ``V^T V`` for a factorisation --
instead of a batched product with an identity:

* `matmul_placed`: ``G @ (P * Q)`` where only the placed P varies along the contracted dim
  is ``(G applied to P) * Q`` -- one matrix product of the small matrices;
* `sum_placed`: a sum over a dim along which two placed factors vary is their matrix
  product, placed at their other dims (one factor: its sum along that axis);
* `transpose_placed`: a transpose moves the factors;
* `distributed` and `merged`: ``(eye(n) - u[:, None])*s`` is ``s*eye(n) - outer(u, s)``.

Each returns None (or its argument) when the product is not of that form, and the batched
op stays as the batching rule made it (the same numbers, less readable).  `restructure`
applies them to each batched result (``symgrad.diff.batch``); `kronecker` lets LaTeX print
``A (x) B`` for A at dims (0, 2) times B at (1, 3).
"""
from sympy import Add, Mul, Tuple, S, Integer, false

from ..tensor import shape_of
from .constants import EyeOp, OnesOp, OnesLikeOp
from .linalg import MatmulOp, OuterOp
from .reduce import SumOp, MeanOp
from .shape import ReshapeOp, TransposeOp, UnsqueezeOp, T


def placement(e, R):
    """(M, dims) when ``e`` is a placed vector or matrix in a product of rank ``R``, else None."""
    if isinstance(e, (ReshapeOp, UnsqueezeOp)):
        s = shape_of(e)
        M = e.args[0]
        while isinstance(M, UnsqueezeOp):
            M = M.args[0]
        if isinstance(e, UnsqueezeOp) and isinstance(M, ReshapeOp):
            return None
        ms = shape_of(M)
        dims = tuple(k for k, d in enumerate(s) if d != 1)
        if len(ms) in (1, 2) and len(s) <= R and all(d != 1 for d in ms) and \
                tuple(s[k] for k in dims) == ms:
            off = R - len(s)
            return M, tuple(k + off for k in dims)
        return None
    s = shape_of(e)
    if len(s) in (1, 2) and all(d != 1 for d in s) and not isinstance(e, Mul):
        return e, tuple(range(R - len(s), R))
    return None


def place(M, dims, R):
    """``M`` (a vector or matrix) placed at ``dims`` of rank ``R``: a reshape that inserts
    unit dims, or M itself where it already sits at the trailing dims."""
    dims = tuple(dims)
    if len(dims) == 2 and dims[0] > dims[1]:
        M, dims = T(M), dims[::-1]
    s = [S.One] * R
    for k, d in zip(dims, shape_of(M)):
        s[k] = d
    if dims == tuple(range(R - len(dims), R)):
        return M
    return ReshapeOp(M, Tuple(*s))


def _split(e, R, dim):
    """(scalars, factors constant along ``dim``, placed factors varying along it) of a
    product of rank R, or None when a varying factor is not placed."""
    scal, rest, vary = [], [], []
    for f in Mul.make_args(e):
        s = shape_of(f)
        if s == ():
            scal.append(f)
            continue
        k = dim - (R - len(s))
        if k < 0 or s[k] == 1:
            rest.append(f)
            continue
        p = placement(f, R)
        if p is None:
            return None
        vary.append(p)
    merged_vary = {}                # factors placed at the same dims are one placed factor
    fold = len(set(ds for _, ds in vary)) > 2
    for M, ds in sorted(vary, key=lambda p: -len(p[1])):
        if fold and len(ds) == 1:    # more than two: a vector along an axis of a matrix scales it
            into = next((d2 for d2 in merged_vary if len(d2) == 2 and ds[0] in d2), None)
            if into is not None:
                v = M if ds[0] == into[1] else UnsqueezeOp(M, Integer(1))
                merged_vary[into] = merged_vary[into] * v
                continue
        merged_vary[ds] = merged_vary[ds] * M if ds in merged_vary else M
    return scal, rest, [(without_ones(M) if isinstance(M, Mul) else M, ds) for ds, M in merged_vary.items()]


def matmul_placed(G, b, left):
    """``G @ b`` (``left``) or ``b @ G`` for a 2-D G and a product ``b`` of rank R >= 2 in
    which one placed factor varies along the contracted dim; None otherwise."""
    R = len(shape_of(b))
    G = _matrix_of(G, R)
    if G is None or R < 2:
        return None
    dim = R - 2 if left else R - 1
    parts = _split(b, R, dim)
    if parts is None or len(parts[2]) != 1:
        return None
    scal, rest, ((M, dims),) = parts
    if len(shape_of(G)) == 1:           # a vector: the contracted dim goes away
        rest = [_drop(f, R, dim) for f in rest]
        if any(f is None for f in rest):
            return None
        other = tuple(d if d < dim else d - 1 for d in dims if d != dim)
        N = MatmulOp(M, G) if len(dims) == 1 or dims.index(dim) == 1 else MatmulOp(G, M)
        return Mul(*scal) * Mul(*rest) * (place(N, other, R - 1) if other else N)
    if len(dims) == 1:
        new = place(MatmulOp(G, M) if left else MatmulOp(M, G), dims, R)
    else:
        other = dims[1 - dims.index(dim)]
        if dims.index(dim) == 0:        # M's rows are contracted: G's rows (columns) take their place
            new = place(MatmulOp(G, M) if left else MatmulOp(T(G), M), (dim, other), R)
        else:                            # M's columns are contracted
            new = place(MatmulOp(M, T(G)) if left else MatmulOp(M, G), (other, dim), R)
    return Mul(*scal) * Mul(*rest) * new


def _matrix_of(G, R):
    """G as a vector or matrix, its leading unit dims dropped (a batch of one broadcasts in a
    product of rank R >= its own); None when G has a batch of its own."""
    s = shape_of(G)
    if len(s) in (1, 2):
        return G
    if len(s) > R or any(d != 1 for d in s[:-2]):
        return None
    return ReshapeOp(G, Tuple(*s[-2:]))


def sum_placed(e, dims, keepdim, sumop):
    """``sumop(e, dims, keepdim)`` over one dim of a product along which one or two placed
    factors vary: their sum or matrix product, placed; None otherwise."""
    R = len(shape_of(e))
    if len(dims) > 1:                  # one dim at a time, the last first (the others stay put)
        count = Mul(*[shape_of(e)[d] for d in dims])
        for d in sorted(dims, reverse=True):
            e = sum_placed(e, [d], keepdim, SumOp)
            if e is None:
                return None
        return e if sumop is SumOp else e / count
    if R == 0:
        return None
    dim = dims[0]
    parts = _split(e, R, dim)
    if parts is None or len(parts[2]) not in (1, 2):
        return None
    scal, rest, vary = parts
    Rn = R if keepdim else R - 1

    def moved(ds):               # positions after the reduced dim is dropped
        return tuple(d if keepdim or d < dim else d - 1 for d in ds if d != dim)
    vecs = []                    # (M with the summed axis last, where its other axis goes)
    for M, ds in vary:
        if len(ds) == 2:
            vecs.append((M if ds.index(dim) == 1 else T(M), moved(ds)))
        else:
            vecs.append((M, ()))
    if len(vecs) == 1:
        (M, ds), = vecs
        whole = (OnesOp(Tuple(shape_of(M)[0])) if isinstance(M, EyeOp) else
                 SumOp(M, Tuple(Integer(len(shape_of(M)) - 1)), false))
        new = place(whole, ds, Rn) if ds else whole
    else:
        (A, da), (B, db) = vecs
        if da and db and da == db:
            return None
        N = MatmulOp(A, T(B)) if da and db else MatmulOp(A, B) if da else MatmulOp(B, A)
        new = place(N, da + db, Rn) if da + db else N
    if sumop is not SumOp:                       # a mean: the sum over the count
        new = new / shape_of(e)[dim]
    if not keepdim:
        rest = [_drop(f, R, dim) for f in rest]
        if any(f is None for f in rest):
            return None
    return Mul(*scal) * Mul(*rest) * new


def _drop(f, R, dim):
    """A factor constant along ``dim`` without that dim (keepdim=False)."""
    s = shape_of(f)
    k = dim - (R - len(s))
    if k < 0:
        return f
    p = placement(f, R)
    if p is None:
        return None
    M, ds = p
    return place(M, tuple(d if d < dim else d - 1 for d in ds), R - 1)




def transpose_placed(e, d0, d1):
    """``transpose(e, d0, d1)`` of a product of placed factors: the factors moved; None
    when e is not such a product."""
    R = len(shape_of(e))
    out = []
    for f in Mul.make_args(e):
        if shape_of(f) == ():
            out.append(f)
            continue
        p = placement(f, R)
        if p is None:
            return None
        M, ds = p
        swap = {d0: d1, d1: d0}
        out.append(place(M, tuple(swap.get(d, d) for d in ds), R))
    return Mul(*out)


def merged(e):
    """A product of placed factors in a matrix (R = 2) the way it is written: u at (0,) times
    w at (1,) is ``outer(u, w)``; u at (0,) times ``eye(n)`` is ``u*eye(n)`` (a diagonal)."""
    if len(shape_of(e)) != 2 or not isinstance(e, Mul):
        return e
    scal, rows, cols, other = [], [], [], []
    for f in e.args:
        p = placement(f, 2) if shape_of(f) != () else None
        if shape_of(f) == ():
            scal.append(f)
        elif p is not None and len(p[1]) == 1:
            (rows if p[1] == (0,) else cols).append(p[0])
        else:
            other.append(f)
    eye = [f for f in other if isinstance(f, EyeOp)]
    if rows and eye:                     # a diagonal: the row factor may as well scale columns
        cols, rows = cols + rows, []
    if len(rows) == 1 and len(cols) == 1 and not other:
        return Mul(*scal) * OuterOp(rows[0], cols[0])
    return Mul(*(scal + [place(r, (0,), 2) for r in rows] + cols + other))


def distributed(e):
    """(a - b)*c -> a*c - b*c for a product of placed factors over a sum of them (a Hessian
    reads as a sum of structured terms: ``s*eye(n) - outer(s, s)``), else e."""
    if not isinstance(e, Mul):
        return e
    R = len(shape_of(e))
    sums = [f for f in e.args if isinstance(f, Add) and structured(f)]
    if len(sums) != 1 or R == 0:
        return e
    others = [f for f in e.args if f is not sums[0]]
    ok = lambda f: shape_of(f) == () or placement(f, R) is not None     # noqa: E731
    if not all(ok(f) for f in others) or not all(all(ok(g) for g in Mul.make_args(t)) for t in sums[0].args):
        return e
    return Add(*[merged(t * Mul(*others)) for t in sums[0].args])


def structured(e):
    """Whether every term of ``e`` has a factor that places something off the trailing dims or
    an identity: what a batch of directions is made of (``A + A.T`` is not)."""
    def term(t):
        return any(isinstance(f, (EyeOp, ReshapeOp, UnsqueezeOp)) for f in Mul.make_args(t))
    return all(term(t) for t in Add.make_args(e))


def restructure(e):
    """One level of `matmul_placed`, `sum_placed`, `transpose_placed`, `distributed` and
    `merged` on a batched result (its arguments are restructured already)."""
    if isinstance(e, Mul):
        args = [restructure(f) if isinstance(f, (MatmulOp, SumOp, MeanOp, TransposeOp)) else f
                for f in e.args]
        e = Mul(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        return merged(distributed(without_ones(e)))
    r = _rule(e) if isinstance(e, (MatmulOp, SumOp, MeanOp, TransposeOp)) else None
    return e if r is None else merged(distributed(r))


def without_ones(e):
    """A product without its ones factors (``ones_like(M)*M`` is M) where the others have its
    shape already."""
    ones = [f for f in e.args if isinstance(f, (OnesOp, OnesLikeOp))]
    if not ones:
        return e
    rest = Mul(*[f for f in e.args if not isinstance(f, (OnesOp, OnesLikeOp))])
    return rest if shape_of(rest) == shape_of(e) else e


def _rule(e):
    """The structural rewrite of one linear op application, term by term over a sum; None
    when some term is not a product of placed factors."""
    dist = [distributed(a) if isinstance(a, Mul) else a for a in e.tensors]
    if any(a is not b for a, b in zip(dist, e.tensors)):     # (u - w)*s*I -> u*s*I - w*s*I
        e = e.func(*(dist + list(e.args[len(dist):])), evaluate=False)
    k = next((i for i, a in enumerate(e.tensors) if isinstance(a, Add) and structured(a)), None)
    if k is not None:
        out = []
        for t in e.args[k].args:
            args = list(e.args)
            args[k] = t
            r = _rule(e.func(*args, evaluate=False))
            if r is None:
                return None
            out.append(merged(distributed(r)))
        return Add(*out)
    if isinstance(e, MatmulOp):
        a, b = e.args
        r = matmul_placed(a, b, True)
        return r if r is not None else matmul_placed(b, a, False)
    if isinstance(e, (SumOp, MeanOp)):
        return sum_placed(e.args[0], e.dims, e.keepdim, type(e))
    return transpose_placed(e.args[0], int(e.args[1]), int(e.args[2]))


def kronecker(e):
    """(A, B) when the 4-tensor ``e`` is A placed at dims (0, 2) times B at (1, 3) -- entry
    [i, j, k, l] = A[i, k] B[j, l], the Kronecker product A (x) B laid out as torch lays out
    the Hessian of a matrix -- else None (``e`` may carry scalar factors, returned apart)."""
    if len(shape_of(e)) != 4 or not isinstance(e, Mul):
        return None
    scal = [f for f in e.args if shape_of(f) == ()]
    parts = [placement(f, 4) for f in e.args if shape_of(f) != ()]
    if len(parts) != 2 or None in parts:
        return None
    by = {ds: M for M, ds in parts}
    if set(by) != {(0, 2), (1, 3)}:
        return None
    return Mul(*scal), by[(0, 2)], by[(1, 3)]
