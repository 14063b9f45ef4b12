"""The expression language: Python syntax, read by a whitelist over `ast`, built into SymPy.

Nothing here evaluates user text: `ast.parse` only builds a tree, and every node type,
operator, name, attribute and call is checked against a whitelist before anything is
built.  Numbers are exact (``0.5`` is 1/2).  Calls are bound to PyTorch's signatures
from the op table (`symgrad.ops.table`); a method call ``c.mean()`` is ``mean(c)``.

`parse_expr_text` returns a SymPy expression; `parse_tree` returns the checked AST
(used by the schedule, which needs PyTorch's own op structure).  Errors are
`SpecError`s whose ``col`` is relative to the text (1-based); callers add the offset
of the text inside the YAML file.
"""
import ast
import difflib

import sympy
from sympy import S, Rational, Integer

from .errors import SpecError, ShapeError
from .ops import FUNCTIONS, REQUIRED
from .ops import elementwise as ew
from .ops.linalg import MatmulOp, T
from .tensor import shape_of, Tensor

MAX_DEPTH = 150
MAX_LEN = 20000
MAX_EXPONENT = 1000
MAX_BITS = 4096

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_CMPS = {ast.Gt: ew.Gt, ast.Lt: ew.Lt, ast.GtE: ew.Ge, ast.LtE: ew.Le}
_FORBIDDEN = {
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "the walrus operator is not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.IfExp: "conditional expressions are not allowed (use where(c, x, y))",
    ast.BoolOp: "'and'/'or' are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
}


def err(node, msg):
    col = getattr(node, "col_offset", None)
    line = getattr(node, "lineno", 1)
    e = SpecError(msg)
    e.rel_line = line
    e.rel_col = None if col is None else col + 1
    return e


def suggest(name, options):
    close = difflib.get_close_matches(name, list(options), n=1)
    return " (did you mean '%s'?)" % close[0] if close else ""


def parse_tree(text):
    """Parse and whitelist-check an expression; return the `ast.Expression`."""
    if not isinstance(text, str):
        raise SpecError("an expression must be a string, got %s" % type(text).__name__)
    if len(text) > MAX_LEN:
        raise SpecError("expression is too long (%d characters; at most %d)" % (len(text), MAX_LEN))
    if not text.strip():
        raise SpecError("empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        x = SpecError("invalid expression: %s" % (e.msg or "syntax error"))
        x.rel_line, x.rel_col = e.lineno or 1, e.offset
        raise x
    except (RecursionError, MemoryError, ValueError):
        raise SpecError("expression is too deeply nested")
    _check(tree.body, 0)
    return tree


def _check(node, depth):
    if depth > MAX_DEPTH:
        raise err(node, "expression is too deeply nested (more than %d levels)" % MAX_DEPTH)
    t = type(node)
    if t in _FORBIDDEN:
        raise err(node, _FORBIDDEN[t])
    if t is ast.BinOp:
        if type(node.op) not in _BINOPS:
            raise err(node, "operator %s is not allowed" % type(node.op).__name__)
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
    elif t is ast.UnaryOp:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise err(node, "unary operator %s is not allowed" % type(node.op).__name__)
        _check(node.operand, depth + 1)
    elif t is ast.Compare:
        if len(node.ops) != 1 or type(node.ops[0]) not in _CMPS:
            raise err(node, "only single comparisons > < >= <= are allowed")
        _check(node.left, depth + 1)
        _check(node.comparators[0], depth + 1)
    elif t is ast.Call:
        f = node.func
        if isinstance(f, ast.Attribute):
            _check(f.value, depth + 1)
            name = f.attr
        elif isinstance(f, ast.Name):
            name = f.id
        else:
            raise err(node, "only named functions can be called")
        _check_name(f, name)
        for a in node.args:
            _check(a, depth + 1)
        for k in node.keywords:
            if k.arg is None:
                raise err(k.value, "**kwargs are not allowed")
            _check_name(k.value, k.arg)
            _check(k.value, depth + 1)
    elif t is ast.Attribute:
        if node.attr != "T":
            raise err(node, "attribute access '.%s' is not allowed (only .T and method calls)" % node.attr)
        _check(node.value, depth + 1)
    elif t is ast.Name:
        _check_name(node, node.id)
    elif t is ast.Constant:
        if not (node.value is None or isinstance(node.value, (bool, int, float, str))):
            raise err(node, "constant %r is not allowed" % (node.value,))
    elif t in (ast.Tuple, ast.List):
        for e in node.elts:
            _check(e, depth + 1)
    else:
        raise err(node, "%s is not allowed in an expression" % t.__name__)


def _check_name(node, name):
    if name.startswith("__"):
        raise err(node, "name '%s' is not allowed" % name)


class Builder:
    """Builds the SymPy expression of a checked tree in an environment of names."""

    def __init__(self, env):
        self.env = env          # name -> Tensor | dim Symbol

    def build(self, node, depth=0):
        try:
            out = self._build(node, depth)
        except ShapeError as e:
            if getattr(e, "rel_col", None) is None:
                x = err(node, e.message)
                raise x
            raise
        if isinstance(out, sympy.Basic):
            if out.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
                raise err(node, "division by zero or an infinite constant")
            try:
                shape_of(out)
            except ShapeError as e:
                raise err(node, e.message)
        return out

    def _build(self, node, depth):
        t = type(node)
        if t is ast.Constant:
            return self.number(node)
        if t is ast.Name:
            return self.name(node)
        if t is ast.UnaryOp:
            x = self.tensor(node.operand, depth)
            return -x if isinstance(node.op, ast.USub) else x
        if t is ast.BinOp:
            return self.binop(node, depth)
        if t is ast.Compare:
            a = self.tensor(node.left, depth)
            b = self.tensor(node.comparators[0], depth)
            return _CMPS[type(node.ops[0])](a, b)
        if t is ast.Attribute:            # .T
            x = self.tensor(node.value, depth)
            r = len(shape_of(x))
            if r > 2:
                raise err(node, ".T needs a tensor of at most 2 dimensions, got %d" % r)
            return T(x)
        if t is ast.Call:
            return self.call(node, depth)
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
        if isinstance(v, bool) or v is None or isinstance(v, str):
            raise err(node, "%r is not a number or tensor" % (v,))
        if isinstance(v, int):
            return Integer(v)
        src = repr(v)
        if "inf" in src or "nan" in src:
            raise err(node, "number %s is not finite" % src)
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
        # **
        if b.is_Number:
            if abs(b) > MAX_EXPONENT and not shape_of(a) == ():
                raise err(node, "exponent %s is too large (at most %d in absolute value)" % (b, MAX_EXPONENT))
            if a.is_Number:
                if a == 0 and b < 0:
                    raise err(node, "division by zero")
                bits = abs(b) * max(1, int(abs(a)).bit_length() if a.is_Integer else 64)
                if bits > MAX_BITS:
                    raise err(node, "number %s**%s is too large" % (a, b))
        elif a.is_Number and b.free_symbols and shape_of(b) == () and not b.has(Tensor):
            pass
        return a ** b

    def call(self, node, depth):
        f = node.func
        args = list(node.args)
        if isinstance(f, ast.Attribute):
            name = f.attr
            args = [f.value] + args
        else:
            name = f.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise err(node, "unknown function '%s'%s" % (name, suggest(name, FUNCTIONS)))
        params = spec.params
        if spec.varshape and len(args) > len(params):
            k = [i for i, p in enumerate(params) if p.kind == "shape"][0]
            packed = ast.Tuple(elts=args[k:], ctx=ast.Load())
            ast.copy_location(packed, args[k])
            args = args[:k] + [packed]
        if len(args) > len(params):
            raise err(node, "%s() takes at most %d argument%s (%d given)"
                      % (name, len(params), "" if len(params) == 1 else "s", len(args)))
        bound = {}
        for p, a in zip(params, args):
            bound[p.name] = (p, a)
        names = {p.name: p for p in params}
        for k in node.keywords:
            if k.arg not in names:
                raise err(k.value, "%s() got an unexpected keyword argument '%s'; it takes %s"
                          % (name, k.arg, ", ".join(names)))
            if k.arg in bound:
                raise err(k.value, "%s() got multiple values for argument '%s'" % (name, k.arg))
            bound[k.arg] = (names[k.arg], k.value)
        values = {}
        for p in params:
            if p.name in bound:
                values[p.name] = self.static(bound[p.name][1], p, name, depth)
            elif p.default is REQUIRED:
                raise err(node, "%s() missing required argument '%s'" % (name, p.name))
            else:
                values[p.name] = p.default
        try:
            return spec.build(**values)
        except ShapeError as e:
            raise err(node, "%s: %s" % (name, e.message) if not e.message.startswith(name) else e.message)
        except SpecError as e:
            raise err(node, e.message)

    def static(self, node, p, fname, depth):
        kind = p.kind
        if kind == "tensor":
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
        if kind == "shape":
            elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
            return tuple(self.size(e, fname, p.name, allow_minus=True) for e in elts)
        raise AssertionError(kind)

    def int_literal(self, node, fname, pname):
        v = node
        sign = 1
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            sign, v = -1, v.operand
        if isinstance(v, ast.Constant) and isinstance(v.value, int) and not isinstance(v.value, bool):
            return sign * v.value
        raise err(node, "%s(): %s must be an integer" % (fname, pname))

    def size(self, node, fname, pname, allow_minus):
        if isinstance(node, ast.Name) and node.id in self.env and not isinstance(self.env[node.id], Tensor):
            return self.env[node.id]
        v = self.int_literal(node, fname, pname)
        if v == -1 and allow_minus:
            return Integer(-1)
        if v <= 0:
            raise err(node, "%s(): sizes must be positive, got %d" % (fname, v))
        if v > 10 ** 9:
            raise err(node, "%s(): size %d is too large" % (fname, v))
        return Integer(v)


def parse_expr_text(text, env):
    """Parse an expression of the spec language into SymPy, in an environment of names."""
    tree = parse_tree(text)
    try:
        return Builder(env).build(tree.body)
    except RecursionError:
        raise SpecError("expression is too deeply nested")
