"""Lowering a planned statement to torch code: fused kernels, masks, constants.

`CodePrinter` extends the torch printer with ``torch.addmm``, the one-kernel backward of
relu-like masks, ``torch.full_like`` for constants, and casts of 0/1 masks only where
PyTorch would not promote them.  Used by ``symgrad.codegen.module``.
"""

import math

import sympy
from sympy import Add, Basic, Mul, Pow
from sympy.printing.precedence import PRECEDENCE

from ..ops.base import TensorOp
from ..ops.elementwise import Mask, Gt, Le, Where
from ..ops.kinds import value_dtype, passes_dtype
from ..ops.linalg import MatmulOp, TransposeOp
from ..ops.shape import OnesLikeOp
from ..printing.torchcode import TorchPrinter
from ..tensor import Tensor, shape_of
from .forms import CoeffSplit, children, is_coeff, rebuild, split_coeff


# --- 4. lowering ---------------------------------------------------------------------------
class AsFloat(sympy.Function):
    """A 0/1 mask used as a number: cast to the working dtype."""
    nargs = 1
    is_commutative = True

    def _torchcode(self, p):
        a = self.args[0]
        code = p._print(a)
        return "%s.to(_dt)" % (code if isinstance(a, (Mask, Tensor)) else "(%s)" % code)

    def _sympystr(self, p):
        return p._print(self.args[0])


def _is_bool(e, bools):
    return isinstance(e, Mask) or (isinstance(e, Tensor) and (e.name in bools or e.dtype == "bool"))


def _is_long(e):
    """An integer tensor (a long input, one_hot, y + 1): PyTorch promotes it in arithmetic with
    a float, but an op that needs floating point values (mean, matmul, a result) gets a cast."""
    return value_dtype(e) == "long"


def _as_float(e):
    return AsFloat(e) if _is_long(e) else e


def fix_bools(e, bools, top_bool_ok=False, top_long_ok=False):
    """Wrap masks where PyTorch would keep them bool (sums, reductions, matmul, a result), and
    integer tensors where an op needs floats; an index (``W[y]``) stays an integer tensor."""
    out = _fix_bools(e, bools, top_bool_ok)
    return out if top_long_ok else _as_float(out)


def _fix_bools(e, bools, top_bool_ok):
    def fix(e, ctx):
        # ctx: "value" (must be a number tensor), "factor" (a factor of a float product),
        # "cond" (where's condition)
        if _is_bool(e, bools):
            if isinstance(e, Mask):
                e = e.func(*[fix(a, "value") for a in e.args])
            return e if ctx in ("factor", "cond") else AsFloat(e)
        if not e.args or is_coeff(e) or isinstance(e, Tensor):
            return e
        if isinstance(e, Mul):
            if ctx == "cond" and all(_is_bool(a, bools) for a in e.args):
                return Mul(*[fix(a, "cond") for a in e.args])      # a logical and stays bool
            floats = [a for a in e.args if not _is_bool(a, bools) and not is_coeff(a)]
            new, first = [], not floats
            for a in e.args:
                if _is_bool(a, bools) and first:
                    new.append(fix(a, "value"))
                    first = False
                else:
                    new.append(fix(a, "factor" if _is_bool(a, bools) else "value"))
            return Mul(*_in_working_dtype(e, new))
        if isinstance(e, Where):
            c, x, y = e.args
            return Where(fix(c, "cond"), fix(x, "value"), fix(y, "value"))
        kids = children(e)
        if isinstance(e, TensorOp):
            index = getattr(e, "index_args", ())
            new = [a if k in index else fix(a, "value") if passes_dtype(e) else _as_float(fix(a, "value"))
                   for k, a in enumerate(kids)]
            return e if all(a is b for a, b in zip(kids, new)) else rebuild(e, new)
        new = _in_working_dtype(e, [fix(a, "value") for a in kids])
        return e if all(a is b for a, b in zip(kids, new)) else rebuild(e, new)
    return fix(e, "cond" if top_bool_ok else "value")


def _in_working_dtype(e, args):
    """The arguments of arithmetic (``*``, ``+``, ``**``, ``exp``) whose value is a float: PyTorch
    computes an integer tensor with only Python numbers (``one_hot(y, 3)/3``, ``exp(y)``) in
    its default dtype, float32, not the working one -- so where no float tensor is among them,
    the first integer tensor is cast (a float tensor then promotes the rest)."""
    if value_dtype(e) != "float" or any(not is_coeff(a) and value_dtype(a) == "float" for a in args):
        return args
    out = list(args)
    for k, a in enumerate(out):
        if not is_coeff(a) and value_dtype(a) != "float":
            out[k] = AsFloat(a)
            break
    return out


def nesting(code):
    """The deepest parenthesis nesting of a line of code (Python's parser stops at 200)."""
    depth = top = 0
    for ch in code:
        if ch in "([{":
            depth += 1
            top = max(top, depth)
        elif ch in ")]}":
            depth -= 1
    return top


class CodePrinter(TorchPrinter):
    """The torch printer, plus the fusions that make generated code fast.

    ``renamed`` maps spec names to the names the generated code gives them (when the module
    uses the spec's name itself, e.g. ``torch``); ``dims`` maps those dims' symbols to
    symbols of the new names, for the shapes that ops print as text.
    """

    def __init__(self, bools=(), fuse=True, renamed=None, dims=None):
        super().__init__({"order": "none"})
        self.bools = set(bools)
        self.split = CoeffSplit()
        self.fuse = fuse
        self.renamed = renamed or {}
        self.dims = dims or {}

    def _print_TensorSymbol(self, e):
        return self.renamed.get(e.name, e.name)

    def _print_Symbol(self, e):
        return self.renamed.get(e.name, e.name)

    def _renamed_attrs(self, e):
        """A tensor op whose static attributes (shapes) name a renamed dim, with the new
        name: the same op, built without re-evaluation (only its printing changes)."""
        attrs = [a.xreplace(self.dims) if isinstance(a, Basic) else a for a in e.attrs]
        if all(a is b for a, b in zip(attrs, e.attrs)):
            return e
        return Basic.__new__(type(e), *(list(e.tensors) + attrs))

    def _as_ordered_terms(self, expr, order=None):
        """Positive terms first: ``p - y`` (one kernel), not ``-y + p`` (two)."""
        terms = list(expr.args)
        neg = [t.could_extract_minus_sign() for t in terms]
        return [t for t, n in zip(terms, neg) if not n] + [t for t, n in zip(terms, neg) if n]

    def _number(self, e):
        try:
            return super()._number(e)
        except TypeError:                  # relu(2), sigmoid(1/2): functions SymPy cannot evalf
            return repr(_value(e))

    def _print(self, e, **kw):
        if self.dims and isinstance(e, TensorOp) and e.attrs:
            e = self._renamed_attrs(e)
        if is_coeff(e) and not e.is_Number and not e.free_symbols:
            return self._number(e)
        if isinstance(e, Add):
            consts = [t for t in e.args if is_coeff(t) and not t.free_symbols]
            if len(consts) > 1 or (consts and not consts[0].is_Number):
                # relu(2) + 1/2: one number, computed here
                c = sympy.Float(_value(Add(*consts)), 17)
                rest = [t for t in e.args if not (is_coeff(t) and not t.free_symbols)]
                return self._print(Add(c, *rest, evaluate=False) if c != 0 else Add(*rest))
            r = self._addmm(e)
            if r is None:
                r = self._factor(e)
            if r is not None:
                return r
        elif isinstance(e, Mul):
            r = self._mul(e)
            if r is not None:
                return r
        elif isinstance(e, TransposeOp) and len(shape_of(e)) == 2:
            return "%s.T" % self.parenthesize(e.args[0], PRECEDENCE["Atom"], strict=True)
        elif isinstance(e, Where) and is_coeff(e.args[1]) and is_coeff(e.args[2]):
            return "torch.where(%s, torch.tensor(%s, dtype=_dt, device=_dev), %s)" % (
                self._print(e.args[0]), self._print(e.args[1]), self._print(e.args[2]))
        return super()._print(e, **kw)

    def _factor(self, e):
        """x/4 - y/4 -> (x - y)/4: one scaling instead of one per term."""
        if is_coeff(e):
            return None
        k, a = self.split._split_add(e)
        if k == 1 or k == -1 or not isinstance(a, Add) or \
                any(split_coeff(t)[0] not in (1, -1) for t in a.args):
            return None
        if k.could_extract_minus_sign():
            k, a = -k, -a
        return self._print(Mul(k, a, evaluate=False))

    def _addmm(self, e):
        """bias + A @ B (2-D) -> torch.addmm(bias, A, B)."""
        out = shape_of(e)
        if len(out) != 2:
            return None
        for t in e.args:
            c, m = split_coeff(t)
            if not isinstance(m, MatmulOp) or not c.is_Number:
                continue
            a, b = m.args
            if len(shape_of(a)) != 2 or len(shape_of(b)) != 2 or shape_of(m) != out:
                continue
            rest = Add(*[u for u in e.args if u is not t])
            if is_coeff(rest) or _is_bool(rest, self.bools):
                continue
            alpha = "" if c == 1 else ", alpha=%s" % self._print(c)
            return "torch.addmm(%s, %s, %s%s)" % (self._print(rest), self._print(a),
                                                 self._print(b), alpha)
        return None

    def _mul(self, e):
        args = list(e.args)
        ones = next((a for a in args if isinstance(a, OnesLikeOp)), None)
        if ones is not None and shape_of(e) == shape_of(ones.args[0]):
            rest = Mul(*[a for a in args if a is not ones])
            like = self._print(ones.args[0])
            if is_coeff(rest):
                return "torch.full_like(%s, %s)" % (like, self._print(rest))
            if _is_bool(rest, self.bools) or _is_long(rest):    # a number of the working dtype
                return "torch.broadcast_to(%s, %s.shape).to(%s.dtype)" % (self._print(rest), like, like)
            if isinstance(rest, Mul):       # ones_like carried the dtype: 2*mask is long, mask/2 float32
                args = list(rest.args)
                ints = [k for k, a in enumerate(args) if not is_coeff(a)]
                if all(_is_bool(args[k], self.bools) or _is_long(args[k]) for k in ints):
                    args[ints[0]] = AsFloat(args[ints[0]])
                    rest = Mul(*args)
            return "torch.broadcast_to(%s, %s.shape).contiguous()" % (self._print(rest), like)
        masks = [a for a in args if _is_bool(a, self.bools)]
        others = [a for a in args if not _is_bool(a, self.bools)]
        if masks and not all(is_coeff(a) for a in others):
            code = self._print(Mul(*others))
            for m in masks:
                if isinstance(m, Gt) and is_coeff(m.args[1]) and not is_coeff(m.args[0]) \
                        and not _is_bool(m.args[0], self.bools):
                    code = "_fused_relu_mask(%s, %s, %s)" % (code, self._print(m.args[0]),
                                                              self._print(m.args[1]))
                else:
                    code = "torch.where(%s, %s, 0.0)" % (self._print(m), code)
            return code
        if masks:
            return None
        fused = self._fused(args)
        if fused is not None:
            return fused
        c, rest = split_coeff(e)
        if c == 1 or c == -1 or rest == 1:
            return None
        # one scalar (computed by Python) times the tensor part: one kernel
        x = self.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
        num, den = c.as_numer_denom()
        if num == 1:
            return "%s/%s" % (x, self.parenthesize(den, PRECEDENCE["Mul"], strict=False))
        sign = ""
        if c.could_extract_minus_sign():
            sign, c = "-", -c
        code = self._print(c)
        if not (c.is_number or c.is_Symbol or code.startswith("(")):
            code = "(%s)" % code
        return "%s%s*%s" % (sign, code, x)       # -(1/4)*x: Python negates the scalar

    def _print_Rational(self, e):
        return "-(%d/%d)" % (-e.p, e.q) if e.p < 0 else "(%d/%d)" % (e.p, e.q)

    def _fused(self, args):
        """Autograd's one-kernel backward formulas, recognised in a product g*f'."""
        if not self.fuse:
            return None
        for k, a in enumerate(args):
            if not isinstance(a, Add) or len(a.args) != 2:
                continue
            rest = args[:k] + args[k + 1:]
            one, other = (a.args if a.args[0] == 1 else a.args[::-1])
            if one == 1:
                # g*(1 - h**2): tanh's backward
                t = -other
                if isinstance(t, Pow) and t.exp == 2 and isinstance(t.base, Tensor) \
                        and not all(is_coeff(r) for r in rest):
                    return "_fused_tanh_grad(%s, %s)" % (self._print(Mul(*rest)), self._print(t.base))
                # g*s*(1 - s): sigmoid's backward
                if isinstance(t, Tensor) and t in rest:
                    rest2 = list(rest)
                    rest2.remove(t)
                    if not all(is_coeff(r) for r in rest2):
                        return "_fused_sigmoid_grad(%s, %s)" % (self._print(Mul(*rest2)), self._print(t))
            # g*((x > 0) + c*(x <= 0)): leaky_relu's backward
            leaky = _leaky_slope(a)
            if leaky is not None and not all(is_coeff(r) for r in rest):
                x, slope = leaky
                return "_fused_leaky_mask(%s, %s, %s)" % (self._print(Mul(*rest)), self._print(x),
                                                           self._print(slope))
        return None


def _value(e):
    """The float value of a constant expression, for functions SymPy cannot evaluate: an
    op's own ``value`` (its SymPy meaning on numbers), evaluated at the arguments' values."""
    try:
        return float(e.evalf(17))
    except TypeError:
        pass
    a = [_value(x) for x in e.args]
    if isinstance(e, Add):
        return math.fsum(a)
    if isinstance(e, Mul):
        return math.prod(a)
    if isinstance(e, Pow):
        return a[0] ** a[1]
    value = getattr(e, "value", None)
    if value is not None:
        v = value(*[sympy.Float(x, 17) for x in a])
        if v is not None:
            return float(sympy.sympify(v).evalf(17))
    raise TypeError("cannot evaluate the constant %s" % e)


def _leaky_slope(a):
    """(x, slope) when a == (x > 0) + slope*(x <= 0), else None."""
    gt = le = None
    slope = None
    for t in a.args:
        c, m = split_coeff(t)
        if isinstance(m, AsFloat):
            m = m.args[0]
        if isinstance(m, Gt) and m.args[1] == 0 and c == 1:
            gt = m.args[0]
        elif isinstance(m, Le) and m.args[1] == 0 and c.is_Number:
            le, slope = m.args[0], c
    if gt is not None and gt == le and not is_coeff(gt):
        return gt, slope
    return None
