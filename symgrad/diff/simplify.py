"""Local simplification of adjoints: cheap, exact and bounded in cost.

Each adjoint contribution is simplified once, where it is made, so the cost never grows
with the depth of the graph: SymPy's automatic canonical forms do most of the work,
`factor_terms`/`cancel` give textbook shapes (``(p - y)/N`` instead of
``-(y/p - (1 - y)/(1 - p))*p*(1 - p)/N``), `collect_matmul` turns
``B @ x + B.T @ x`` into ``(B + B.T) @ x``, and the pieces of a split put back into zeros
read as one ``cat``.  Nothing here expands a tensor.
"""
import sympy
from sympy import Add, Mul, S, factor_terms, cancel

from ..ops.linalg import MatmulOp, TransposeOp, T
from ..ops.reduce import SumOp, MeanOp
from ..tensor import shape_of, identity_cache
from ..ops.base import TensorOp, split_scalar, symmetric
from ..ops.join import cat_of_pieces, without_zeros
from ..ops.normlayers import normalized
from .canon import up_to_renaming

MAX_CANCEL_OPS = 60


def size(e):
    """Number of non-numeric nodes of an expression (shared subtrees counted once)."""
    seen = set()
    stack = [e]
    n = 0
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if not x.is_Number:
            n += 1
        stack.extend(x.args)
    return n


def tidy(e):
    e = forward_values(use_symmetry(e))
    if isinstance(e, Add):
        e = without_zeros(e)
        e = cat_of_pieces(e) or e         # pieces of a split put back: one cat, not a sum of scatters
    if isinstance(e, TensorOp) and e.n_tensors and any(isinstance(a, Add) for a in e.tensors):
        args = [tidy(a) if isinstance(a, Add) else a for a in e.tensors] + list(e.attrs)
        return sign_normal(e.func(*args))
    if not isinstance(e, (Add, Mul, sympy.Pow)):
        return e
    flat, back = opaque(e)         # work on this level only: cost independent of depth
    best = _simplest(flat)
    if back:
        best = best.xreplace(back)
    return as_means(sign_normal(collect_matmul(combine_chains(best))))


@up_to_renaming
def _simplest(flat):
    """The smallest of flat, its factored form and (when small) its cancelled form."""
    best = flat
    best_size = size(flat)
    cands = []
    try:
        if isinstance(flat, Mul):        # factor by factor: each sum is tidied once, ever
            cands.append(Mul(*[_factor_sum(f) for f in flat.args]))
        else:
            cands.append(factor_terms(flat))
    except Exception:
        pass
    if best_size <= MAX_CANCEL_OPS and not _has_big_power(flat) and _worth_cancel(flat):
        try:
            cands.append(factor_terms(cancel(flat)))
        except Exception:
            pass
    roots = _radicands(flat)
    for c in cands:
        if not _radicands(c) <= roots:
            continue
        s = size(c)
        factored = isinstance(c, Mul) and not isinstance(best, Mul)
        if s < best_size or (factored and s <= best_size + 2 and _tree(c) <= _tree(best)):
            best, best_size = c, s
    return best


def _tree(e):
    """Nodes of a (flat, small) expression as printed: a repeated factor counts each time, so
    a common factor pulled out (``(a*M + b*M*F)/c``) never passes for a simplification."""
    return 1 + sum(_tree(a) for a in e.args)


class unconstrained:
    """``with unconstrained():`` closed forms made meanwhile use no symmetry: a gradient that
    is differentiated again (second order) must hold for every direction, symmetric or not,
    as PyTorch's double backward does."""
    active = 0

    def __enter__(self):
        unconstrained.active += 1

    def __exit__(self, *exc):
        unconstrained.active -= 1


def use_symmetry(e):
    """In a closed form (never a forward definition, whose unconstrained gradient it would
    change): S.T is S and v @ S is S @ v for a matrix known to be symmetric (spd inputs,
    their inverses, A @ A.T), so that P @ r + r @ P is 2*P @ r."""
    if unconstrained.active:
        return e
    def sym_rewrite(x):
        if isinstance(x, TransposeOp) and x.is_T() and symmetric(x.args[0]):
            return x.args[0]
        if isinstance(x, MatmulOp):
            a, b = x.args
            if len(shape_of(a)) == 1 and len(shape_of(b)) == 2 and symmetric(b):
                return MatmulOp(b, a)
        return x
    return _bottom_up(e, sym_rewrite, SYMMETRY_DEPTH)


SYMMETRY_DEPTH = 4     # the levels a rule's new closed form spans: tidy's cost stays independent of depth


def _bottom_up(e, f, depth):
    if e.is_Atom or depth == 0:
        return e
    args = [_bottom_up(a, f, depth - 1) for a in e.args]
    if any(a is not b for a, b in zip(args, e.args)):
        e = e.func(*args)
    return f(e)


def matmul_chain(e):
    """The factors of a product of matrices, flattened: (A @ B) @ C and A @ (B @ C) alike."""
    if isinstance(e, MatmulOp) and all(len(shape_of(a)) == 2 for a in e.args):
        return matmul_chain(e.args[0]) + matmul_chain(e.args[1])
    return (e,)


def combine_chains(e):
    """Terms equal up to reassociation combine: 2*A @ B @ C + 2*A @ (B @ C) is 4*A @ B @ C."""
    if not isinstance(e, Add):
        return e
    groups, order = {}, []
    for t in e.args:
        c, r = split_scalar(t)
        key = matmul_chain(r) if isinstance(r, MatmulOp) else (t,)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(c if len(key) > 1 or key[0] is not t else S.One)
    if len(order) == len(e.args):
        return e
    out = []
    for key in order:
        if len(key) == 1:
            out.append(key[0] * Add(*groups[key]))
            continue
        prod = key[0]
        for f in key[1:]:
            prod = MatmulOp(prod, f)
        out.append(Add(*groups[key]) * prod)
    return Add(*out)


def as_means(e):
    """sum(x, dims)/N -> mean(x, dims) where N, the number of entries summed, divides the
    denominator: the textbook's mean(dxh), not sum(dxh)/d."""
    if isinstance(e, Add):
        args = [as_means(t) for t in e.args]
        return e if all(a is b for a, b in zip(args, e.args)) else Add(*args)
    if not isinstance(e, Mul):
        return e
    sums = [f for f in e.args if isinstance(f, SumOp)]
    if len(sums) != 1:
        args = [as_means(f) if isinstance(f, Add) else f for f in e.args]
        return e if all(a is b for a, b in zip(args, e.args)) else Mul(*args)
    s = sums[0]
    n = s.n_reduced()
    rest = Mul(*[f for f in e.args if f is not s])
    den = sympy.fraction(rest)[1]
    if n == 1 or den == 1 or sympy.fraction(sympy.cancel(den / n))[1] != 1:
        return e
    return rest * n * MeanOp(*s.args)


@identity_cache
def _factor_sum(f):
    return _factor_terms(f) if isinstance(f, Add) else f


@up_to_renaming
def _factor_terms(f):
    return factor_terms(f)


def opaque(e):
    """Replace every subexpression below the arithmetic of e by a symbol (and the way back)."""
    back = {}
    fwd = {}

    def walk(x):
        if x.is_Atom:
            return x
        if isinstance(x, (Add, Mul, sympy.Pow)):
            args = [walk(a) for a in x.args]
            return x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)
        d = fwd.get(x)
        if d is None:
            d = sympy.Dummy(real=True)
            fwd[x] = d
            back[d] = x
        return d
    return walk(e), back


def sign_normal(e):
    """-c*(a - b)*M -> c*(b - a)*M: keep a positive coefficient where a sum can absorb it."""
    if not isinstance(e, Mul):
        return e
    c, rest = e.as_coeff_Mul()
    if not (c.is_Number and c < 0):
        return e
    if isinstance(rest, (SumOp, MeanOp, MatmulOp)):
        flipped = absorb_neg(rest)
        return e if flipped is None else -c * flipped
    flipped = absorb_neg(rest)
    return e if flipped is None else -c * flipped


def absorb_neg(f):
    """-f written without a leading minus, when some sum inside f can take the sign."""
    if isinstance(f, Add):
        return -f
    if isinstance(f, Mul):
        factors = list(f.args)
        for k, x in enumerate(factors):
            n = absorb_neg(x)
            if n is not None:
                factors[k] = n
                return Mul(*factors)
        return None
    if isinstance(f, (SumOp, MeanOp)):
        n = absorb_neg(f.args[0])
        return None if n is None else f.func(n, *f.args[1:])
    if isinstance(f, MatmulOp):
        a, b = f.args
        nb = absorb_neg(b)
        if nb is not None:
            return MatmulOp(a, nb)
        na = absorb_neg(a)
        if na is not None:
            return MatmulOp(na, b)
    return None


def _worth_cancel(e):
    """cancel() only pays off on a rational expression with a symbolic denominator, and it
    expands products: a product of many sums (a chain's (1 - h1**2)*(1 - h2**2)*...)
    would grow exponentially."""
    dens = [p for p in e.atoms(sympy.Pow) if p.exp.is_negative and not p.base.is_Number]
    if not dens:
        return False
    sums = [f for m in [e] + list(e.atoms(Mul)) for f in Mul.make_args(m) if isinstance(f, Add)]
    return len(set(sums)) <= 4


def forward_values(e):
    """num*base**p (p <= -1/2) -> op*base**(p + 1/2) where an op's forward value is num/sqrt(base)
    (`normlayers.normalized`): (x - mean(x))/(var(x) + eps) is layer_norm(x)/sqrt(var(x) + eps)."""
    if not isinstance(e, Mul):
        return e
    factors = list(e.args)
    for k, f in enumerate(factors):
        if not (isinstance(f, sympy.Pow) and f.exp.is_Rational and f.exp <= -S.Half):
            continue
        for j, g in enumerate(factors):
            op, sign = normalized(g, f.base), 1
            if op is None and isinstance(g, Add):
                op, sign = normalized(-g, f.base), -1
            if op is not None:
                factors[j], factors[k] = sign * op, f.base ** (f.exp + S.Half)
                return forward_values(Mul(*factors))
    return e


def _radicands(e):
    """The bases of e's roots and denominators: cancel() may not make new ones, as it does when
    it clears a small rational inside one (1/sqrt(v + 1/100000) -> 100*sqrt(10)/sqrt(100000*v + 1))."""
    return {p.base for p in e.atoms(sympy.Pow) if not (p.exp.is_Integer and p.exp > 0)}


def _has_big_power(e):
    for p in e.atoms(sympy.Pow):
        if p.exp.is_Number and abs(p.exp) > 8:
            return True
    return False


def collect_matmul(e):
    """Sum of products sharing a right (or left) factor -> one product of a sum."""
    if not isinstance(e, Add):
        return e
    for side in (1, 0):
        groups = {}
        rest = []
        for t in e.args:
            c, r = split_scalar(t)
            if isinstance(r, MatmulOp):
                a, b = r.args
                if len(shape_of(a)) == 1 and len(shape_of(b)) == 2:
                    a, b = T(b), a          # v @ M is M.T @ v
                key = (a, b)[side]
                groups.setdefault(key, []).append(c * (a, b)[1 - side])
            else:
                rest.append(t)
        if any(len(v) > 1 for v in groups.values()):
            terms = list(rest)
            for key, others in groups.items():
                inner = Add(*others)
                terms.append(MatmulOp(inner, key) if side == 1 else MatmulOp(key, inner))
            return Add(*terms)
    return e
