"""The expression language's meaning: a checked syntax tree -> a SymPy expression.

`Builder` walks a tree that `symgrad.spec.parse` has already checked, in an environment
of names (inputs, dims, earlier nodes), and builds SymPy: numbers are exact (``0.5`` is
1/2), calls are bound to PyTorch's signatures from the op table (``symgrad.ops``) and
built by the op's block, a method call ``c.mean()`` is ``mean(c)``.  Exact numbers and
exponents are bounded before anything large is built, and constants must be real, finite
float64 values (PyTorch's meaning).  The kind of value PyTorch would hold at each node (a
plain number, a bool tensor from a comparison, or a tensor) is tracked, so that what
PyTorch itself refuses -- ``-(x > 0)``, ``sum(2.0)``, ``(1).T`` -- is refused here, with
its place, instead of failing later.
"""
import ast

import sympy
from sympy import Rational, Integer

from ..errors import SpecError, ShapeError
from ..ops import FUNCTIONS, OPERATORS, REQUIRED
from ..ops import elementwise as ew
from ..ops.linalg import MatmulOp, T
from ..tensor import shape_of, Tensor, broadcast
from .parse import MAX_DEPTH, BINOPS as _BINOPS, err, suggest, parse_tree, call_parts, short as _short


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
_AS_NUMBER = "multiply it by 1.0 first, as in 1.0*(x > 0)"


def _num(x):
    s = _short(str(x))
    return "(%s)" % s if s.startswith("-") or "/" in s else s


class Builder:
    """Builds the SymPy expression of a checked tree in an environment of names."""

    def __init__(self, env):
        self.env = env          # name -> Tensor | dim Symbol
        self.kinds = {}         # id(AST node) -> 'number' | 'bool' | 'tensor'
        self.shapes = {}        # id(AST node) -> shape of what it built

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
            return "tensor" if isinstance(self.env.get(node.id), Tensor) else "number"
        if t is ast.Compare:
            sides = (self.kind(node.left), self.kind(node.comparators[0]))
            return "number" if sides == ("number", "number") else "bool"
        if t is ast.UnaryOp:
            return self.kind(node.operand)
        if t is ast.Attribute:
            return self.kind(node.value)
        if t is ast.BinOp:
            sides = (self.kind(node.left), self.kind(node.right))
            if sides == ("number", "number"):
                return "number"
            return "bool" if sides == ("bool", "bool") and isinstance(node.op, ast.Mult) else "tensor"
        if t is ast.Call:
            name, args = _callee(node)
            fn = FUNCTIONS.get(name)
            if fn is not None and fn.on_bool == "keep" and args and self.kind(args[0]) == "bool":
                return "bool"
        return "tensor"

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
        if t is ast.Attribute and node.attr != "T":      # a field: eigh(A).eigenvectors
            name, spec, _ = call_parts(node.value)
            return self.call(node.value, depth + 1)[spec.fields.index(node.attr)]
        if t is ast.Attribute:            # .T
            x = self.tensor(node.value, depth)
            self.bool_rules(node)
            r = len(shape_of(x))
            if r > 2:
                raise err(node, ".T needs a tensor of at most 2 dimensions, got %d" % r)
            return T(x)
        if t is ast.Call:
            out = self.call(node, depth)
            if isinstance(out, tuple):
                name, spec, _ = call_parts(node)
                raise err(node, "%s() returns a named tuple (%s): take one of its fields, as %s(...).%s"
                          % (name, ", ".join(spec.fields), name, spec.fields[-1]))
            return out
        if t in (ast.Tuple, ast.List):
            raise err(node, "a tuple is only allowed as a shape or dim argument")
        raise err(node, "%s is not allowed here" % t.__name__)

    def tensor(self, node, depth):
        x = self.build(node, depth + 1)
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
                          % (_short(str(v)), float(v) if v < FLOAT_MAX else float("inf")))
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
                      % (_short(str(b)), MAX_EXPONENT))
        if b.is_Rational and (abs(b.p) >= 10 ** MAX_EXPONENT_DIGITS or b.q >= 10 ** MAX_EXPONENT_DIGITS):
            raise err(exponent, "exponent %s has too many digits (at most %d)"
                      % (_short(str(b)), MAX_EXPONENT_DIGITS))
        return a ** b

    def call(self, node, depth):
        name, spec, args = call_parts(node)
        if spec is None:
            raise err(node, "unknown function '%s'%s" % (_short(name), suggest(name, FUNCTIONS)))
        params = spec.params
        if len(args) > len(params):
            raise err(node, "%s() takes at most %d argument%s (%d given)"
                      % (name, len(params), "" if len(params) == 1 else "s", len(args)))
        bound = {}
        for p, a in zip(params, args):
            bound[p.name] = (p, a)
        names = {p.name: p for p in params}
        for k in node.keywords:
            if k.arg not in names:
                raise err(k, "%s() got an unexpected keyword argument '%s'%s; it takes %s"
                          % (name, _short(k.arg), suggest(k.arg, names), ", ".join(names)))
            if k.arg in bound:
                raise err(k, "%s() got multiple values for argument '%s'" % (name, k.arg))
            bound[k.arg] = (names[k.arg], k.value)
        values = {}
        for p in params:
            if p.name in bound:
                values[p.name] = self.static(bound[p.name][1], p, name, depth)
            elif p.default is REQUIRED:
                raise err(node, "%s() missing required argument '%s'" % (name, p.name))
            else:
                values[p.name] = p.default
        tensor_args = [bound[q.name][1] for q in params if q.kind == "tensor" and q.name in bound]
        for k, a in enumerate(tensor_args[:None if spec.strict else 1]):
            if not (k == 0 and spec.number_ok) and self.kind(a) == "number" \
                    and not (isinstance(a, ast.Constant) and a.value is None):
                raise err(a, "%s() needs a tensor, not a plain number (PyTorch raises a TypeError)" % name)
        if tensor_args and spec.on_bool == "fail" and self.kind(tensor_args[0]) == "bool":
            raise err(node, "%s() is not defined for a comparison (a bool tensor) in PyTorch: %s" % (name, _AS_NUMBER))
        for q in params:
            if q.kind == "mask" and q.name in bound and self.kind(bound[q.name][1]) != "bool":
                raise err(bound[q.name][1], "%s(): the %s must be a comparison such as x > 0 "
                                            "(PyTorch needs a bool tensor)" % (name, q.name))
        if spec is FUNCTIONS.get(OPERATORS["**"].function) and values["input"] is not None \
                and values["exponent"] is not None:
            return self.power(node, values["input"], values["exponent"],       # x**y, with its bounds
                              bound["input"][1], bound["exponent"][1])
        try:
            return spec.build(**values)
        except ShapeError as e:
            raise err(node, "%s: %s" % (name, e.message) if not e.message.startswith(name) else e.message)
        except SpecError as e:
            raise err(node, "%s(): %s" % (name, e.message))

    def static(self, node, p, fname, depth):
        kind = p.kind
        if kind in ("tensor", "mask"):
            if isinstance(node, ast.Constant) and node.value is None and p.default is None:
                return None
            return self.tensor(node, depth)
        if kind == "dim":
            return self.int_literal(node, fname, p.name)
        if kind == "dims":
            if isinstance(node, ast.Constant) and node.value is None:
                return None
            if isinstance(node, (ast.Tuple, ast.List)):
                if not node.elts:
                    raise err(node, "%s(): %s must not be empty" % (fname, p.name))
                return tuple(self.int_literal(e, fname, p.name) for e in node.elts)
            return self.int_literal(node, fname, p.name)
        if kind == "bool":
            if isinstance(node, ast.Constant) and isinstance(node.value, bool):
                return node.value
            raise err(node, "%s(): %s must be True or False" % (fname, p.name))
        if kind == "str":
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            raise err(node, "%s(): %s must be a string" % (fname, p.name))
        if kind == "number":
            x = self.tensor(node, depth)
            if x.has(Tensor):
                raise err(node, "%s(): %s must be a number" % (fname, p.name))
            return x
        if kind == "size":
            return self.size(node, fname, p.name, allow_minus=False)
        if kind == "ints":
            elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
            return tuple(self.signed_int(e, fname, p.name) for e in elts)
        if kind == "shape":
            elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
            if len(elts) > 8:
                raise err(node, "%s(): at most 8 dimensions, got %d" % (fname, len(elts)))
            return tuple(self.size(e, fname, p.name, allow_minus=True) for e in elts)
        raise AssertionError(kind)

    def int_literal(self, node, fname, pname):
        v = node
        sign = 1
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            sign, v = -1, v.operand
        if isinstance(v, ast.Constant) and isinstance(v.value, int) and not isinstance(v.value, bool):
            return sign * v.value
        raise err(node, "%s(): %s must be an integer literal" % (fname, pname))

    def signed_int(self, node, fname, pname):
        """An int literal or a dim name, either possibly negated (pad amounts)."""
        v, sign = node, 1
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            v, sign = v.operand, -1
        if isinstance(v, ast.Name) and v.id in self.env and not isinstance(self.env[v.id], Tensor):
            return sign * self.env[v.id]
        n = sign * self.int_literal(v, fname, pname)
        if abs(n) > 10 ** 9:
            raise err(node, "%s(): %s must be at most 10**9 in absolute value" % (fname, pname))
        return n

    def size(self, node, fname, pname, allow_minus):
        if isinstance(node, ast.Name) and node.id in self.env and not isinstance(self.env[node.id], Tensor):
            return self.env[node.id]
        if not (isinstance(node, ast.Constant) or isinstance(node, ast.UnaryOp)):
            raise err(node, "%s(): %s must be a positive integer literal or a dim name" % (fname, pname))
        v = self.int_literal(node, fname, pname)
        if v == -1 and allow_minus:
            return Integer(-1)
        if v <= 0:
            raise err(node, "%s(): sizes must be positive, got %d" % (fname, v))
        if v > 10 ** 9:
            raise err(node, "%s(): size %s is too large (at most 10**9)" % (fname, _short(str(v))))
        return Integer(v)


def _callee(node):
    """(function name, positional argument nodes) of a call; a method's object comes first."""
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr, [f.value] + list(node.args)
    return getattr(f, "id", None), list(node.args)


def _check_value(node, out):
    """Constants must mean what PyTorch computes: real and finite in float64."""
    if out.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise err(node, "division by zero or an infinite constant")
    if out.has(sympy.I):
        raise err(node, "the constant is not a real number (PyTorch would compute nan)")
    for x in (out,) + out.args:
        if x.is_Rational:
            if abs(x.p) >= FLOAT_MAX or x.q >= FLOAT_MAX:
                raise err(node, "number %s is outside the float64 range" % _short(str(x)))
        elif x.is_Pow and x.base.is_number and x.base.is_negative and not x.exp.is_integer:
            raise err(node, "%s is not a real number (PyTorch would compute nan)" % _short(str(x)))
    if out.is_number and not out.is_Rational:
        try:
            v = abs(complex(sympy.N(out, 15)))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            v = None
        if v is not None and not v < 1.7e308:
            raise err(node, "constant %s overflows float64" % _short(str(out)))
    try:
        shape_of(out)
    except ShapeError as e:
        raise err(node, e.message)


def _call_name(node):
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)


def parse_expr_text(text, env):
    """Parse an expression of the spec language into SymPy, in an environment of names."""
    tree = parse_tree(text)
    try:
        out = Builder(env).build(tree.body)
    except RecursionError:
        raise SpecError("expression is too deeply nested (at most %d levels)" % MAX_DEPTH)
    if isinstance(out, sympy.Basic):
        for x in out.atoms(sympy.Rational):
            if abs(x.p) >= FLOAT_MAX or x.q >= FLOAT_MAX:
                raise SpecError("number %s is outside the float64 range" % _short(str(x)))
    return out
