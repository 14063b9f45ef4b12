"""What a Hessian's closed form says about f, in one line -- only what is proven.

* *zero*: f is affine in x; *constant*: no tensor of the Hessian depends on x (f is
  quadratic in x);
* *positive semidefinite* (f is convex in x) for ``d2f/dx2`` when the closed form is a
  nonnegative combination of Gram products ``c*M.T @ (D*M)`` (D a nonnegative scaling of the
  contracted dim), nonnegative diagonals ``d*eye(n)``, the covariance of a probability vector
  ``s*eye(n) - outer(s, s)``, or, for a matrix x, a Hessian-vector product ``c*v @ G`` or
  ``c*G @ v`` with G a Gram matrix or spd; *negative semidefinite* for the negative of one.

Signs come from the forward graph: sigmoid and softmax values lie in [0, 1], exp, relu,
softplus and masks are nonnegative, inputs have their declared domains.  Each check is a
walk over the expression, so the cost is its size.
"""
import sympy
from sympy import Add, Mul, Pow

from ..ops.constants import EyeOp, ZerosOp
from ..ops.elementwise import Mask, Sigmoid, Relu, Softplus
from ..ops.linalg import MatmulOp, OuterOp, InverseOp, T
from ..ops.reduce import SoftmaxOp
from ..tensor import Tensor, shape_of

UNIT_DOMAINS = ("unit", "simplex")
NONNEG_DOMAINS = ("positive", "nonnegative", "unit", "simplex")


class Signs:
    """Which expressions are provably nonnegative, or in [0, 1], given the graph."""

    def __init__(self, defs):
        self.defs = defs

    def unit(self, e):
        if e.is_Number:
            return 0 <= e <= 1
        if isinstance(e, Tensor):
            d = self.defs.get(e)
            return e.domain in UNIT_DOMAINS if d is None else self.unit(d)
        if isinstance(e, (Sigmoid, SoftmaxOp, Mask)):
            return True
        if isinstance(e, Mul):
            return all(self.unit(f) for f in e.args)
        return False

    def nonneg(self, e):
        if e.is_Number:
            return e >= 0
        if not e.atoms(Tensor) and shape_of(e) == () and e.is_nonnegative:
            return True               # a function of dims (1/n)
        if isinstance(e, Tensor):
            d = self.defs.get(e)
            return e.domain in NONNEG_DOMAINS if d is None else self.nonneg(d)
        if self.unit(e) or isinstance(e, (Relu, Softplus, sympy.exp, sympy.Abs)):
            return True
        if isinstance(e, Add):
            if len(e.args) == 2 and 1 in e.args:          # 1 - u for u in [0, 1]
                other = e.args[0] if e.args[1] == 1 else e.args[1]
                if self.unit(-other):
                    return True
            return all(self.nonneg(t) for t in e.args)
        if isinstance(e, Mul):
            return all(self.nonneg(f) for f in e.args)
        if isinstance(e, Pow):
            return (e.exp.is_Integer and e.exp % 2 == 0) or self.nonneg(e.base)
        return False


def _psd_matrix(G, signs):
    """Whether a matrix (2-D) expression is provably positive semidefinite."""
    if isinstance(G, Tensor) and G.domain == "spd":
        return True
    if isinstance(G, EyeOp):
        return True
    if isinstance(G, InverseOp):
        return _psd_matrix(G.args[0], signs)
    if isinstance(G, Add):
        return all(_psd_matrix(t, signs) for t in G.args) or _covariance(G, signs)
    if isinstance(G, Mul):
        c = [f for f in G.args if shape_of(f) == ()]
        rest = [f for f in G.args if shape_of(f) != ()]
        if all(signs.nonneg(f) for f in c):
            if len(rest) == 1:
                return _psd_matrix(rest[0], signs)
            eye = [f for f in rest if isinstance(f, EyeOp)]
            if len(eye) == 1 and all(signs.nonneg(f) for f in rest if f is not eye[0]):
                return True                     # a nonnegative diagonal
        return False
    if isinstance(G, MatmulOp) and all(len(shape_of(a)) == 2 for a in G.args):
        (L, dl), (R, dr) = _scaled(G.args[0], -1, signs), _scaled(G.args[1], -2, signs)
        if L is not None and R is not None and dl and dr and L == T(R):
            return True
    return False


def _scaled(M, dim, signs):
    """(M without nonnegative factors that scale only its ``dim`` axis, ok) of a product."""
    if not isinstance(M, Mul):
        return M, True
    r = len(shape_of(M))
    core = [f for f in M.args if len(shape_of(f)) == r and not _only_along(f, dim, r)]
    scale = [f for f in M.args if f not in core]
    if len(core) != 1 or not all(_only_along(f, dim, r) for f in scale):
        return None, False
    return core[0], all(signs.nonneg(f) for f in scale)


def _only_along(f, dim, r):
    s = shape_of(f)
    s = (1,) * (r - len(s)) + tuple(s)
    return all(d == 1 for k, d in enumerate(s) if k != dim % r)


def _covariance(G, signs):
    """s*eye(n) - outer(s, s) for s in [0, 1] summing to at most one (a softmax)."""
    if len(G.args) != 2:
        return False
    for a, b in (G.args, G.args[::-1]):
        if isinstance(-b, OuterOp) and (-b).args[0] == (-b).args[1]:
            s = (-b).args[0]
            if a == s * EyeOp(shape_of(s)[0]) and (isinstance(s, SoftmaxOp) or _is_softmax(s, signs)):
                return True
    return False


def _is_softmax(s, signs):
    d = signs.defs.get(s)
    return isinstance(d, SoftmaxOp) or (isinstance(s, Tensor) and d is None and s.domain == "simplex")


def _psd_hvp(hvp, v, signs):
    """c*v @ G or c*G @ v with G positive semidefinite: the Hessian is G (x) I or I (x) G."""
    c, rest = [], []
    for f in Mul.make_args(hvp):
        (c if shape_of(f) == () else rest).append(f)
    if len(rest) != 1 or not all(signs.nonneg(f) for f in c) or not isinstance(rest[0], MatmulOp):
        return False
    chain = rest[0].chain()
    if len(chain) < 2:
        return False
    if chain[0] == v:
        G = chain[1] if len(chain) == 2 else MatmulOp(*chain[1:3]) if len(chain) == 3 else None
    elif chain[-1] == v:
        G = chain[0] if len(chain) == 2 else MatmulOp(*chain[:2]) if len(chain) == 3 else None
    else:
        return False
    return G is not None and _psd_matrix(G, signs)


def depends(e, x, defs):
    """Whether ``e`` mentions x or a node or adjoint that depends on it."""
    memo = {}

    def dep(s):
        if s == x:
            return True
        if s in memo:
            return memo[s]
        memo[s] = False
        d = defs.get(s)
        memo[s] = d is not None and any(dep(t) for t in d.atoms(Tensor))
        return memo[s]
    return any(dep(t) for t in e.atoms(Tensor))


def describe(H, so, d):
    """One line about the Hessian ``H`` of a `SecondOrder` ``so``, or None."""
    defs = dict(d.graph.defs)
    defs.update({a.symbol: a.value for a in so.first.adjoints})
    names = d.problem.tensors
    x, same = names[so.x], so.x == so.y
    if H == 0 or isinstance(H, ZerosOp):
        return "zero: f is affine in %s" % so.x if same else "zero: f has no %s-%s interaction" % (so.x, so.y)
    out = []
    if not depends(H, x, defs) and not depends(H, names[so.y], defs):
        out.append("constant: f is quadratic in %s" % so.x if same else "constant")
    if same:
        signs = Signs(defs)
        if _psd(H, x, so, signs):
            out.append("positive semidefinite: f is convex in %s" % so.x)
        elif _psd(-H, x, so, signs, negate=True):
            out.append("negative semidefinite: f is concave in %s" % so.x)
    return "; ".join(out) or None


def _psd(H, x, so, signs, negate=False):
    r = len(x.tshape)
    if r == 0:
        return signs.nonneg(H)
    if r == 1:
        return _psd_matrix(H, signs)
    hvp = -so.hvp_expr if negate else so.hvp_expr
    return _psd_hvp(hvp, so.direction, signs)
