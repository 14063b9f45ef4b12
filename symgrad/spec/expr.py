"""The expression language's meaning: a checked syntax tree -> a SymPy expression.

`Builder` walks a tree that `symgrad.spec.parse` has already checked, in an environment
of names (inputs, dims, earlier nodes), and builds SymPy: numbers are exact (``0.5`` is
1/2), calls are bound to PyTorch's signatures from the op table (``symgrad.ops``) and
built by the op's block (`Calls`: binding, ``symgrad.spec.calls``), a method call
``c.mean()`` is ``mean(c)``; subscripts, ``.T``/``.mT`` and fields are `Subscripts`'
(``symgrad.spec.subscripts``).  Exact numbers and
exponents are bounded before anything large is built, and constants must be real, finite
float64 values (PyTorch's meaning).  The kind of value PyTorch would hold at each node (a
plain number, a bool tensor from a comparison or a bool input, an integer tensor, a tuple
of tensors, or a float tensor) is tracked, so that what
PyTorch itself refuses -- ``-(x > 0)``, ``sum(2.0)``, ``(1).T`` -- is refused here, with
its place, instead of failing later.
"""
import ast

import sympy
from sympy import Rational, Integer

from ..errors import SpecError, ShapeError
from ..ops import FUNCTIONS
from ..ops import elementwise as ew
from ..ops.linalg import MatmulOp
from ..tensor import shape_of, Tensor, broadcast
from .calls import Calls, AS_NUMBER as _AS_NUMBER
from .parse import MAX_DEPTH, BINOPS as _BINOPS, err, suggest, parse_tree, short as _short, number_text, call_parts
from .subscripts import Subscripts, kind_of_value


MAX_EXPONENT = 1000        # |n| in x**n for a tensor x


MAX_EXPONENT_DIGITS = 12   # numerator and denominator of a rational exponent (derivatives stay in int64)


MAX_BITS = 4096            # exact number**number results


INT64 = 2 ** 63            # PyTorch cannot take Python ints beyond int64


FLOAT_MAX = 2 ** 1024      # float64 overflows at 2**1024




_CMPS = {ast.Gt: ew.Gt, ast.Lt: ew.Lt, ast.GtE: ew.Ge, ast.LtE: ew.Le}


# PyTorch's kinds of values, tracked per AST node: a comparison is a bool tensor, which
# PyTorch refuses to negate, subtract, matmul or feed to some functions (their block says
# ``on_bool="fail"``), and adds as a logical or; a plain number has no .T, and only the
# functions whose block says ``number_ok`` take one (exp(2) is exp of a 0-d tensor; sum(2.0)
# is a TypeError in PyTorch).  Refused here, with the place and a fix.
def _num(x):
    s = number_text(x)
    return "(%s)" % s if s.startswith("-") or "/" in s else s


class Builder(Calls, Subscripts):
    """Builds the SymPy expression of a checked tree in an environment of names."""

    def __init__(self, env):
        self.env = env          # name -> Tensor | dim Symbol
        self.kinds = {}         # id(AST node) -> 'number' | 'bool' | 'long' | 'tensor' | 'tuple'
        self.shapes = {}        # id(AST node) -> shape of what it built
        self.values = {}        # id(AST node) -> what it built

    def build(self, node, depth=0):
        try:
            out = self._build(node, depth)
        except ShapeError as e:
            if getattr(e, "rel_col", None) is None:
                raise err(node, e.message)
            raise
        if isinstance(out, sympy.Basic):
            _check_value(node, out)
            out = self._keep_shape(node, out)
            self.shapes[id(node)] = shape_of(out)
        self.values[id(node)] = out
        self.kinds[id(node)] = self._kind(node)
        return out

    def _keep_shape(self, node, out):
        """SymPy folds ``x - x`` to 0 and ``sign(a)`` (a positive) to 1; in PyTorch the result
        still has the broadcast shape of the operands, so put that shape back."""
        t = type(node)
        if t is ast.BinOp and not isinstance(node.op, ast.MatMult):
            kids = [node.left, node.right]
        elif t is ast.UnaryOp:
            kids = [node.operand]
        elif t is ast.Compare:
            kids = [node.left, node.comparators[0]]
        elif t is ast.Call and getattr(FUNCTIONS.get(_call_name(node)), "is_elementwise", False):
            kids = ([node.func.value] if isinstance(node.func, ast.Attribute) else []) + list(node.args) \
                + [k.value for k in node.keywords]
        else:
            return out
        shapes = [self.shapes[id(k)] for k in kids if id(k) in self.shapes]
        if not shapes:
            return out
        try:
            want = broadcast(*shapes)
        except ShapeError:
            return out
        tensor_in = any(self.kind(k) != "number" for k in kids)
        if shape_of(out) == want and not (out.is_Number and tensor_in):
            return out                     # (a number from tensors is still a 0-d tensor)
        if not tensor_in:
            return out
        from ..ops.shape import OnesOp, ZerosOp
        return ZerosOp(sympy.Tuple(*want)) if out == 0 else out * OnesOp(sympy.Tuple(*want))

    def kind(self, node):
        """What PyTorch holds for a built node: 'number' (Python), 'bool' (tensor) or 'tensor'."""
        return self.kinds.get(id(node), "tensor")

    def _kind(self, node):
        t = type(node)
        if t is ast.Constant:
            return "number"
        if t is ast.Name:
            v = self.env.get(node.id)
            return kind_of_value(v) if isinstance(v, Tensor) else "number"
        if t is ast.Compare:
            sides = (self.kind(node.left), self.kind(node.comparators[0]))
            return "number" if sides == ("number", "number") else "bool"
        if t is ast.UnaryOp:
            return self.kind(node.operand)
        if t in (ast.Attribute, ast.Subscript):
            return self.access_kind(node, self.values.get(id(node)))
        if t is ast.BinOp:
            return self._binop_kind(node)
        if t is ast.Call:
            name, args = _callee(node)
            fn = FUNCTIONS.get(name)
            if fn is not None and fn.on_bool == "keep" and args and self.kind(args[0]) in ("bool", "long"):
                return self.kind(args[0])
            if fn is not None and fn.is_elementwise and \
                    all(self.kind(a) == "number" for a in args + [k.value for k in node.keywords]):
                return "number"          # sqrt(d): a function of numbers is a number
            out = self.values.get(id(node))
            return "tensor" if out is None else kind_of_value(out)
        return "tensor"

    def _binop_kind(self, node):
        """PyTorch's promotion: bool * bool is bool, integers stay long, a float makes a float."""
        sides = (self.kind(node.left), self.kind(node.right))
        if sides == ("number", "number"):
            return "number"
        if sides == ("bool", "bool") and isinstance(node.op, ast.Mult):
            return "bool"
        if "tensor" in sides or isinstance(node.op, ast.Div):
            return "tensor"
        for side, k in zip((node.left, node.right), sides):
            if k == "number" and _float_number(side):
                return "tensor"
        if isinstance(node.op, ast.Pow) and sides[1] != "number":
            return "tensor"
        return "long"

    def bool_rules(self, node):
        """Refuse what PyTorch refuses for bool tensors and plain numbers (blocks with on_bool="fail")."""
        t = type(node)
        if t is ast.UnaryOp and self.kind(node.operand) == "bool":
            raise err(node, "PyTorch cannot apply unary %s to a comparison (a bool tensor): %s"
                      % ("-" if isinstance(node.op, ast.USub) else "+", _AS_NUMBER))
        if t is ast.BinOp:
            sides = (self.kind(node.left), self.kind(node.right))
            if "bool" in sides and isinstance(node.op, (ast.Sub, ast.MatMult)):
                raise err(node, "PyTorch cannot %s with a comparison (a bool tensor): %s"
                          % ("subtract" if isinstance(node.op, ast.Sub) else "matrix-multiply", _AS_NUMBER))
            if sides == ("bool", "bool") and isinstance(node.op, ast.Add):
                raise err(node, "adding two comparisons is a logical or in PyTorch (a bool tensor), "
                                "not a sum: %s" % _AS_NUMBER)
            if "long" in sides and "tensor" in sides and isinstance(node.op, ast.MatMult):
                raise err(node, "PyTorch cannot matrix-multiply an integer tensor with a float one")

        if t is ast.Attribute and self.kind(node.value) == "number":
            raise err(node, "a plain number has no .T (PyTorch: 'float' object has no attribute 'T')")

    def _build(self, node, depth):
        t = type(node)
        if t is ast.Constant:
            return self.number(node)
        if t is ast.Name:
            return self.name(node)
        if t is ast.UnaryOp:
            x = self.tensor(node.operand, depth)
            self.bool_rules(node)
            return -x if isinstance(node.op, ast.USub) else x
        if t is ast.BinOp:
            return self.binop(node, depth)
        if t is ast.Compare:
            a = self.tensor(node.left, depth)
            b = self.tensor(node.comparators[0], depth)
            return _CMPS[type(node.ops[0])](a, b)
        if t is ast.Attribute:            # .T, .mT, a field
            return self.attribute(node, depth)
        if t is ast.Subscript:
            return self.subscript(node, depth)
        if t is ast.Call:
            return self.call(node, depth)
        if t in (ast.Tuple, ast.List):
            raise err(node, "a tuple is only allowed as a shape or dim argument")
        raise err(node, "%s is not allowed here" % t.__name__)

    def tensor(self, node, depth):
        x = self.build(node, depth + 1)
        if isinstance(x, tuple):
            _named_tuple(node)
            raise err(node, "%s() gives a tuple of tensors: pick one, as %s(...)[0]"
                      % ((_callee(node)[0],) * 2) if isinstance(node, ast.Call) else
                      "a tuple is not a tensor: pick one piece, as [0]")
        if not isinstance(x, sympy.Basic):
            raise err(node, "expected a tensor or number, got %r" % (x,))
        return x

    def number(self, node):
        v = node.value
        if isinstance(v, bool) or v is None:
            raise err(node, "%s is not a number or tensor" % v)
        if isinstance(v, str):
            raise err(node, "the string %s is not a number or tensor" % _short(repr(v)))
        if isinstance(v, int):
            if abs(v) >= INT64:
                raise err(node, "integer %s is too large for PyTorch (int64); write it as a float, e.g. %.3g"
                          % (number_text(v), float(v) if v < FLOAT_MAX else float("inf")))
            return Integer(v)
        src = repr(v)
        if "inf" in src or "nan" in src:
            raise err(node, "number %s is not finite (it overflows float64)" % _short(src))
        return Rational(src)

    def name(self, node):
        n = node.id
        if n in self.env:
            return self.env[n]
        if n == "pi":
            return sympy.pi
        if n in ("True", "False", "None"):
            raise err(node, "%s is not a tensor" % n)
        if n in FUNCTIONS:
            raise err(node, "'%s' is a function: call it, as %s(...)" % (n, n))
        raise err(node, "undefined name '%s'%s; defined here: %s"
                  % (n, suggest(n, self.env), ", ".join(self.env) or "nothing"))

    def binop(self, node, depth):
        a = self.tensor(node.left, depth)
        b = self.tensor(node.right, depth)
        self.bool_rules(node)
        op = _BINOPS[type(node.op)]
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                raise err(node, "division by zero")
            return a / b
        if op == "@":
            return MatmulOp(a, b)
        return self.power(node, a, b)

    def power(self, node, a, b, base=None, exponent=None):
        """``a**b``, refusing what would be huge: exact powers, and exponents beyond bounds."""
        base = base if base is not None else getattr(node, "left", node)
        exponent = exponent if exponent is not None else getattr(node, "right", node)
        if not b.is_Number:
            return a ** b
        if a.is_Number:
            if a == 0 and b < 0:
                raise err(node, "division by zero (0 raised to a negative power)")
            if a.is_Rational and b.is_Integer:
                bits = abs(int(b)) * max(1, int(abs(a.p)).bit_length(), int(a.q).bit_length())
                if bits > MAX_BITS:
                    raise err(node, "number %s**%s is too large" % (_num(a), _num(b)))
                out = a ** b
                if out.is_Integer and abs(out) >= INT64 and isinstance(base, ast.Constant) \
                        and type(base.value) is int:
                    raise err(node, "integer %s**%s is too large for PyTorch (int64); write %s.0**%s"
                              % (_num(a), _num(b), _num(a), _num(b)))
                return out
        if abs(b) > MAX_EXPONENT:
            raise err(exponent, "exponent %s is too large (at most %d in absolute value)"
                      % (number_text(b), MAX_EXPONENT))
        if b.is_Rational and (abs(b.p) >= 10 ** MAX_EXPONENT_DIGITS or b.q >= 10 ** MAX_EXPONENT_DIGITS):
            raise err(exponent, "exponent %s has too many digits (at most %d)"
                      % (number_text(b), MAX_EXPONENT_DIGITS))
        return a ** b

def _named_tuple(node):
    """A call of a function that answers with a named tuple (eigh) used as a tensor: its fields."""
    if isinstance(node, ast.Call):
        name, spec, _ = call_parts(node)
        if spec is not None and spec.fields:
            raise err(node, "%s() returns a named tuple (%s): take one of its fields, as %s(...).%s"
                      % (name, ", ".join(spec.fields), name, spec.fields[-1]))


def _callee(node):
    """(function name, positional argument nodes) of a call; a method's object comes first."""
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr, [f.value] + list(node.args)
    return getattr(f, "id", None), list(node.args)


def _float_number(node):
    """Whether a number written in the text is a float in Python (``2.0``, ``1/2``)."""
    return any(isinstance(n, ast.Div) or (isinstance(n, ast.Constant) and isinstance(n.value, float))
               for n in ast.walk(node))


def _check_value(node, out):
    """Constants must mean what PyTorch computes: real and finite in float64."""
    if out.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise err(node, "division by zero or an infinite constant")
    if out.has(sympy.I):
        raise err(node, "the constant is not a real number (PyTorch would compute nan)")
    for x in (out,) + out.args:
        if x.is_Rational:
            if abs(x.p) >= FLOAT_MAX or x.q >= FLOAT_MAX:
                raise err(node, "number %s is outside the float64 range" % number_text(x))
        elif x.is_Pow and x.base.is_number and x.base.is_negative and not x.exp.is_integer:
            raise err(node, "%s is not a real number (PyTorch would compute nan)" % number_text(x))
    if out.is_number and not out.is_Rational:
        try:
            v = abs(complex(sympy.N(out, 15)))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            v = None
        if v is not None and not v < 1.7e308:
            raise err(node, "constant %s overflows float64" % number_text(out))
    try:
        shape_of(out)
    except ShapeError as e:
        raise err(node, e.message)


def _call_name(node):
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)


def parse_expr_text(text, env):
    """Parse an expression of the spec language into SymPy, in an environment of names."""
    return parse_expr_kind(text, env)[0]


def parse_expr_kind(text, env):
    """(SymPy expression, kind): the kind is what PyTorch holds -- 'tensor' (floating point),
    'long', 'bool' or 'number' (a plain Python number)."""
    tree = parse_tree(text)
    b = Builder(env)
    try:
        out = b.build(tree.body)
    except RecursionError:
        raise SpecError("expression is too deeply nested (at most %d levels)" % MAX_DEPTH)
    if isinstance(out, tuple):
        _named_tuple(tree.body)
        raise err(tree.body, "%s gives a tuple of tensors: pick one, as [0]"
                  % ("%s()" % _callee(tree.body)[0] if isinstance(tree.body, ast.Call) else "this"))
    if isinstance(out, sympy.Basic):
        for x in out.atoms(sympy.Rational):
            if abs(x.p) >= FLOAT_MAX or x.q >= FLOAT_MAX:
                raise SpecError("number %s is outside the float64 range" % number_text(x))
    return out, b.kind(tree.body)
