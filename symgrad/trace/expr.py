"""The text of one value in the spec language, with its operator precedence.

Emitting text rather than building an AST keeps the spec readable (it is what a person
would write), and the precedence kept beside the text is all that is needed to put
parentheses exactly where Python's grammar -- the spec language's grammar -- needs them.
Literals are printed as Python prints them, so that a number means what it meant in the
traced code (``1e-05``, ``0.0001``); non-finite numbers have no spelling and are refused.
"""
import math
from dataclasses import dataclass

ATOM, POW, UNARY, MUL, ADD, CMP = 100, 14, 13, 12, 11, 9


@dataclass(frozen=True)
class Expr:
    text: str
    prec: int = ATOM

    def __str__(self):
        return self.text


def name(text):
    return Expr(text, ATOM)


def wrap(e, least):
    """``e``'s text, in parentheses when it binds less tightly than ``least``."""
    return e.text if e.prec >= least else "(%s)" % e.text


def literal(value):
    """A Python value (number, bool, None, string, tuple of ints) as an `Expr`."""
    if isinstance(value, Expr):
        return value
    if value is None or isinstance(value, bool):
        return Expr(repr(value))
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("the number %r has no spelling in the spec language" % value)
        return Expr(repr(value), UNARY if value < 0 else ATOM)
    if isinstance(value, str):
        return Expr(repr(value))
    if isinstance(value, (list, tuple)):
        items = [literal(v).text for v in value]
        return Expr("(%s,)" % items[0] if len(items) == 1 else "(%s)" % ", ".join(items))
    raise ValueError("a value of type %s has no spelling in the spec language" % type(value).__name__)


def call(fn, *args, **kwargs):
    """``fn(a, b, k=v)``; keyword arguments whose value is `OMIT` are left out."""
    parts = [literal(a).text for a in args]
    parts += ["%s=%s" % (k, literal(v).text) for k, v in kwargs.items() if v is not OMIT]
    return Expr("%s(%s)" % (fn, ", ".join(parts)))


OMIT = object()


def keep(value, default):
    """``value``, or `OMIT` when it equals PyTorch's default (so the call stays short);
    numbers compare by value (``beta=1.0`` is the default ``1``), never bools with numbers."""
    if value is default:
        return OMIT
    if _number(value) and _number(default) or type(value) is type(default):
        if value == default:
            return OMIT
    return value


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_LEFT = {"+": ADD, "-": ADD, "*": MUL, "/": MUL, "@": MUL, "**": POW + 1, ">": CMP + 1, "<": CMP + 1,
         ">=": CMP + 1, "<=": CMP + 1}
_RIGHT = {"+": ADD + 1, "-": ADD + 1, "*": MUL + 1, "/": MUL + 1, "@": MUL + 1, "**": UNARY, ">": CMP + 1,
          "<": CMP + 1, ">=": CMP + 1, "<=": CMP + 1}
_PREC = {"+": ADD, "-": ADD, "*": MUL, "/": MUL, "@": MUL, "**": POW, ">": CMP, "<": CMP, ">=": CMP, "<=": CMP}


def binop(a, op, b):
    a, b = literal(a), literal(b)
    if op == "**":
        left = "%s**%s" % (wrap(a, _LEFT[op]), wrap(b, _RIGHT[op]))
        return Expr(left, POW)
    space = " " if _PREC[op] <= ADD or op == "@" else ""
    return Expr("%s%s%s%s%s" % (wrap(a, _LEFT[op]), space, op, space, wrap(b, _RIGHT[op])), _PREC[op])


def neg(a):
    return Expr("-%s" % wrap(literal(a), UNARY), UNARY)


def method(a, fn, *args):
    """``a.fn(args)``: a method call, for the functions PyTorch has only as methods (``expand``)."""
    parts = [literal(v).text for v in args]
    return attr(a, ".%s(%s)" % (fn, ", ".join(parts)))


def attr(a, suffix):
    """``a.T``, ``a[:, 0]``, ``f(...)[1]``: a postfix on an atom."""
    return Expr("%s%s" % (wrap(literal(a), ATOM), suffix))
