"""The spec language printer: closed forms that parse back and mean the same in PyTorch."""
import sympy
from sympy.printing.precedence import PRECEDENCE

from ..tensor import Tensor, shape_of
from sympy.printing.str import StrPrinter

from ..ops.elementwise import Mask
from ..ops.linalg import MatmulOp


class SpecPrinter(StrPrinter):
    def _print_TensorSymbol(self, e):
        return e.name

    def operand(self, e, level, strict=False):
        """An operand of @, outer or dot: a 0/1 mask is a bool tensor in PyTorch, and a sum
        of masks an integer one, which matmul refuses: it is given the dtype of what it compares."""
        if _intish(e):
            body = self._print(e)
            out = "%s*%s" % (self._ones_for(e), "(%s)" % body if isinstance(e, sympy.Add) else body)
            return out if level == 0 else "(%s)" % out
        if level and isinstance(e, (sympy.Mul, sympy.Pow)):
            return "(%s)" % self._print(e)        # (w @ (1/x)), never w @ 1/x
        return self._print(e) if level == 0 else self.parenthesize(e, level, strict=strict)

    def _ones_for(self, e):
        """ones_like(t) for a tensor t of e's shape, or ones(shape)."""
        from ..ops.base import TensorOp
        for t in sympy.preorder_traversal(e):
            if isinstance(t, (Tensor, TensorOp)) and not _boolish(t) and shape_of(t) == shape_of(e):
                return "ones_like(%s)" % self._print(t)
        return "ones(%s)" % ("(%s,)" % shape_of(e)[0] if len(shape_of(e)) == 1
                             else "(%s)" % ", ".join(str(d) for d in shape_of(e)))

    def _print_sign(self, e):
        return "sign(%s)" % self._print(e.args[0])

    def _print_Abs(self, e):
        return "abs(%s)" % self._print(e.args[0])

    def _print_Exp1(self, e):
        return "exp(1)"

    def _print_Pi(self, e):
        return "pi"

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"

    def _print_Add(self, e, order=None):
        return print_add(self, e)

    def _print_Mul(self, e):
        # c*(A @ B)/n reads better as c*A @ B/n, which Python evaluates as ((c*A) @ B)/n.
        mm = [f for f in e.args if isinstance(f, MatmulOp)]
        rest = [f for f in e.args if not isinstance(f, MatmulOp)]
        if len(mm) == 1 and all(shape_of(f) == () for f in rest):
            num, den = [], []
            for f in rest:
                b, x = f.as_base_exp()
                if f.is_Rational:
                    if f.p != 1:
                        num.append(sympy.Integer(f.p))
                    if f.q != 1:
                        den.append(sympy.Integer(f.q))
                elif x.is_Number and x < 0:
                    den.append(b ** -x)
                else:
                    num.append(f)
            out = self._print(mm[0])
            n = sympy.Mul(*num)
            if n == -1:
                out = "-" + out
            elif n != 1:
                out = "%s*%s" % (self.parenthesize(n, PRECEDENCE["Mul"]), out)
            if den:
                dd = sympy.Mul(*den)
                out += "/" + self.parenthesize(dd, PRECEDENCE["Mul"], strict=False)
            return out
        if any(isinstance(f, Mask) for f in e.args):
            return self._print_masked(e)
        args = sorted(e.args, key=lambda f: shape_of(f) != ())       # scalars first: D*inverse(X)
        if list(args) != list(e.args):
            e = sympy.Mul(*args, evaluate=False)
        return super()._print_Mul(e)

    def _print_masked(self, e):
        """Masks last, and never negated: ``-k*(x <= 0)``, ``-1*(x > 0)`` (PyTorch refuses
        ``-`` on a bool tensor)."""
        masks = [f for f in e.args if isinstance(f, Mask)]
        rest = sympy.Mul(*[f for f in e.args if not isinstance(f, Mask)])
        tail = "*".join(self._print(m) for m in masks)
        if rest == 1:
            return tail
        if rest == -1:
            return "-1*" + tail
        head = self._print(rest)
        return "%s*%s" % ("(%s)" % head if isinstance(rest, (sympy.Add, MatmulOp)) else head, tail)


def _boolish(e):
    """Whether PyTorch holds e as a bool tensor: a comparison, a product of them, or a view
    (transpose, reshape, unsqueeze, squeeze) of one."""
    from ..ops.linalg import TransposeOp
    from ..ops.shape import ReshapeOp, UnsqueezeOp, SqueezeOp
    if isinstance(e, Mask):
        return True
    if isinstance(e, sympy.Mul):
        return all(_boolish(f) for f in e.args)
    if isinstance(e, (TransposeOp, ReshapeOp, UnsqueezeOp, SqueezeOp)):
        return _boolish(e.args[0])
    return False


def _intish(e):
    """Whether PyTorch holds e as a bool or integer tensor: a bool one, or a sum or integer
    multiple of such (``1*(h > 0) + (h > 0).T``, as print_add writes it)."""
    from ..ops.linalg import TransposeOp
    from ..ops.shape import ReshapeOp, UnsqueezeOp, SqueezeOp
    if _boolish(e):
        return True
    if isinstance(e, (sympy.Add, sympy.Mul)):
        return all(f.is_Integer or _intish(f) for f in e.args) and not all(f.is_Number for f in e.args)
    if isinstance(e, (TransposeOp, ReshapeOp, UnsqueezeOp, SqueezeOp)):
        return _intish(e.args[0])
    return False


def common_factor(e):
    """(c, s) with ``e == c*s`` when every term of the sum ``e`` has a rational coefficient
    sharing a factor c != 1 (``s/4 - y/4`` is ``(s - y)/4``), else None.  SymPy spreads a
    number over a sum as soon as it multiplies one, so the printers pull it out again."""
    coeffs = [t.as_coeff_Mul()[0] for t in e.args]
    if len(e.args) < 2 or not all(c.is_Rational for c in coeffs) or any(t.is_Number for t in e.args):
        return None
    num = sympy.gcd([abs(c.p) for c in coeffs])
    den = sympy.lcm([c.q for c in coeffs])
    c = sympy.Rational(num, den)
    if c == 1:
        return None
    return c, sympy.Add(*[t / c for t in e.args])


def print_add(p, e):
    """Positive terms first: ``X @ w - y`` rather than ``-y + X @ w``; a common number
    pulled out: ``(s - y)/4``."""
    from sympy.printing.precedence import precedence
    cf = common_factor(e)
    if cf is not None:
        c, inner = cf
        body = "(%s)" % print_add(p, inner)
        out = body if c.p == 1 else "%s*%s" % (c.p, body)
        return out if c.q == 1 else "%s/%s" % (out, c.q)
    terms = sorted(e.args, key=lambda t: (t.could_extract_minus_sign(), t.is_Number))
    out = []
    for k, t in enumerate(terms):
        neg = t.could_extract_minus_sign()
        s = p.parenthesize(-t if neg else t, precedence(e), strict=False) if neg else \
            p.parenthesize(t, precedence(e), strict=False)
        body = -t if neg else t
        if _boolish(body):
            s = "1*" + s               # 1 - 1*(x > 0): PyTorch does no +/- on bool tensors
        if k == 0:
            out.append("-" + s if neg else s)
        else:
            out.append((" - " if neg else " + ") + s)
    return "".join(out)


_P = SpecPrinter({"order": "none"})


def to_text(e):
    return _P.doprint(e)
