"""The forms the code plan works with: forward reuse, coefficients and primitive parts.

`Prepare` rewrites a closed form to reuse the forward pass (a node's definition becomes
the node); `CoeffSplit` splits an expression into a scalar coefficient and the part that carries
tensors, so that ``(p - y)/4`` and ``y - p`` are computed once.  The tree helpers
(`children`, `rebuild`, `is_coeff`) treat a tensor op's static attributes as fixed.
"""
import sympy
from sympy import S, Add, Mul, Pow

from ..ops.base import TensorOp
from ..ops.elementwise import Gt, Le, Relu, LeakyRelu
from ..ops.linalg import MatmulOp, TransposeOp, OuterOp, DotOp, TraceOp
from ..ops.reduce import SumOp, MeanOp
from ..ops.shape import ReshapeOp, UnsqueezeOp, SqueezeOp, DetachOp
from ..tensor import identity_cache, Tensor


# ops through which a scalar factor moves unchanged: c*f(x) == f(c*x)
LINEAR = (MatmulOp, TransposeOp, SumOp, MeanOp, ReshapeOp, UnsqueezeOp, SqueezeOp, TraceOp,
          OuterOp, DotOp)


VIEWS = (TransposeOp, UnsqueezeOp, SqueezeOp, ReshapeOp, DetachOp)


# --- 1. forward reuse ------------------------------------------------------------------
class Transposed(TransposeOp):
    """A transpose kept outside a sum (TransposeOp pushes itself into sums): ``(a - b).T``
    computes the sum once -- and shares it with other uses of ``a - b``."""

    @classmethod
    def eval(cls, x, d0, d1):
        c, rest = split_coeff(x)
        if c != 1 and rest != 1:
            return c * cls(rest, d0, d1)
        if isinstance(x, TransposeOp) and (x.args[1], x.args[2]) == (d0, d1):
            return x.args[0]
        return None


@identity_cache
def is_coeff(e):
    """True for a scalar with no tensor in it (a number, a dim, ``1/B``, ``sqrt(2)``)."""
    if isinstance(e, (Tensor, TensorOp)):
        return False
    return all(is_coeff(a) for a in e.args)


def split_coeff(e):
    """(scalar coefficient, the rest) of a product."""
    if isinstance(e, Mul):
        c = [a for a in e.args if is_coeff(a)]
        if c:
            return Mul(*c), Mul(*[a for a in e.args if not is_coeff(a)])
    if is_coeff(e):
        return e, S.One
    return S.One, e


def _atoms(e, cls):
    """The atoms of class cls in e (each shared subexpression visited once)."""
    out, seen, stack = set(), set(), [e]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if isinstance(x, cls):
            out.add(x)
        else:
            stack.extend(x.args)
    return out


def tensor_atoms(e):
    """The Tensor symbols in e."""
    return _atoms(e, Tensor)


def free_names(e):
    """Names of the free symbols (tensors and dims) in e."""
    return {x.name for x in _atoms(e, sympy.Symbol)}


def children(e):
    return e.tensors if isinstance(e, TensorOp) else e.args


def rebuild(e, new_children):
    if isinstance(e, TensorOp):
        return e.func(*(list(new_children) + list(e.attrs)))
    return e.func(*new_children)


class Prepare:
    """Rewrites closed forms to reuse the forward pass: node definitions -> node names."""

    def __init__(self, prob, upto=None):
        self.named = {}
        for n in prob.nodes[:upto]:        # a node's own definition may reuse earlier nodes only
            e = n.expr
            if e.args and not isinstance(e, Tensor) and not is_coeff(e) and e not in self.named:
                self.named[e] = n.symbol
        self.memo = {}
        self.relu = {}                 # prepared pre-activation -> node h = relu(...)
        for n in prob.nodes:
            e = n.expr
            if isinstance(e, Relu) or (isinstance(e, LeakyRelu) and e.args[1].is_nonnegative):
                self.relu.setdefault(self(e.args[0]), n.symbol)
        self.memo = {}

    def __call__(self, e, top=False):
        if not e.args or isinstance(e, Tensor) or is_coeff(e):
            return e
        key = (e, top)
        r = self.memo.get(key)
        if r is not None:
            return r
        if not top and e in self.named:
            r = self.named[e]
        else:
            kids = children(e)
            new = [self(a) for a in kids]
            r = e if all(a is b for a, b in zip(kids, new)) else rebuild(e, new)
            if not top and r in self.named:
                r = self.named[r]
            elif isinstance(r, (Gt, Le)) and r.args[1] == 0 and r.args[0] in self.relu:
                r = type(r)(self.relu[r.args[0]], S.Zero)
            elif isinstance(r, Add):
                r = hoist_transpose(r)
        self.memo[key] = r
        return r


def hoist_transpose(e):
    """c1*a.T + c2*b.T (+ scalars) -> Transposed(c1*a + c2*b)."""
    inner, dims, n = [], None, 0
    for t in e.args:
        c, rest = split_coeff(t)
        if rest == 1:
            inner.append(t)
            continue
        if not isinstance(rest, TransposeOp):
            return e
        d = (rest.args[1], rest.args[2])
        if dims is not None and d != dims:
            return e
        dims = d
        inner.append(c * rest.args[0])
        n += 1
    if n < 2:
        return e
    return Transposed(Add(*inner), *dims)


# --- 2. coefficients and primitive parts ---------------------------------------------------
class CoeffSplit:
    """e -> (c, P) with e == c*P: c a scalar coefficient, P the part that carries tensors.

    Two subexpressions with the same P are computed once.  Sums are made primitive and given
    a canonical sign (``y - p`` and ``p - y`` share one P); scalars move out of linear ops.
    """

    def __init__(self):
        self.memo = {}

    def __call__(self, e):
        r = self.memo.get(e)
        if r is None:
            r = self._split(e)
            self.memo[e] = r
        return r

    def _split(self, e):
        if is_coeff(e):
            return e, S.One
        if isinstance(e, Tensor):
            return S.One, e
        if isinstance(e, Mul):
            c, ps = S.One, []
            for a in e.args:
                ca, pa = self(a)
                c *= ca
                if pa != 1:
                    ps.append(pa)
            p = Mul(*ps)
            c2, p = split_coeff(p)
            return c * c2, p
        if isinstance(e, Add):
            return self._split_add(e)
        if isinstance(e, Pow) and e.exp.is_Integer:
            cb, pb = self(e.base)
            if pb != 1:
                return cb ** e.exp, pb ** e.exp
        if isinstance(e, LINEAR):
            parts = [self(a) for a in e.tensors]
            if all(p != 1 for _, p in parts):
                c = Mul(*[c for c, _ in parts])
                p = rebuild(e, [p for _, p in parts])
                c2, p = split_coeff(p)
                return c * c2, p
        return S.One, e

    def _split_add(self, e):
        terms = [self(a) for a in e.args]
        k = next((c for c, p in terms if p != 1), S.One)
        ratios = [c / k for c, _ in terms]
        if all(r.is_Rational for r in ratios):
            a = Add(*[r * p for r, (_, p) in zip(ratios, terms)])
        else:
            k, a = S.One, e
        if isinstance(a, Add):
            content, a = a.primitive()
            k = k * content
            if a.could_extract_minus_sign():
                a, k = -a, -k
        c2, a = split_coeff(a)
        return k * c2, a


def transparent(e):
    """The single tensor factor of ``c*x`` (whose primitive part is x's)."""
    if isinstance(e, Mul):
        t = [a for a in e.args if not is_coeff(a)]
        if len(t) == 1:
            return t[0]
    return None
