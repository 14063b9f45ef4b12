"""The expression language's syntax: Python syntax, checked by a whitelist over `ast`.

Nothing here evaluates user text: `ast.parse` only builds a tree, and every node type,
operator, name, attribute and call is checked against a whitelist (and the text's length
and nesting against limits) before anything is built -- hostile text is answered quickly
and without recursion errors.  `parse_tree` returns the checked tree (used by the builder
``symgrad.spec.expr``, and by the schedule and the torch reference, which need PyTorch's
own op structure); `call_parts` reads a call as the op table binds it.  Errors are
`SpecError`s carrying ``rel_line``/``rel_col``, the place inside the text (as `ast`
counts it); `locate` turns that into a character index of the text, which the loader
maps to a line and column of the YAML file.
"""
import ast
import difflib
import re
import warnings

from ..errors import SpecError
from ..ops import FUNCTIONS

MAX_DEPTH = 100            # nesting levels of the expression tree (every stage recurses over it)
MAX_LEN = 20000            # characters of one expression

BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_CMP_OPS = (ast.Gt, ast.Lt, ast.GtE, ast.LtE)
_CHAINS = {ast.Add: (ast.Add, ast.Sub), ast.Sub: (ast.Add, ast.Sub),
           ast.Mult: (ast.Mult, ast.Div), ast.Div: (ast.Mult, ast.Div), ast.MatMult: (ast.MatMult,)}
_FORBIDDEN = {
    ast.Slice: "slices are only allowed in a subscript",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "the walrus operator ':=' is not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.IfExp: "conditional expressions are not allowed (use where(c, x, y))",
    ast.BoolOp: "'and'/'or' are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}
_OP_WORDS = {"Mod": "'%'", "FloorDiv": "'//'", "LShift": "'<<'", "RShift": "'>>'", "BitOr": "'|'",
             "BitXor": "'^'", "BitAnd": "'&'", "Not": "'not'", "Invert": "'~'"}


def err(node, msg):
    """A SpecError pointing at an AST node (``rel_line``, ``rel_col`` as `ast` counts them)."""
    col = getattr(node, "col_offset", None)
    line = getattr(node, "lineno", 1)
    e = SpecError(msg)
    e.rel_line = line
    e.rel_col = None if col is None else col + 1
    return e


def suggest(name, options):
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return " (did you mean '%s'?)" % close[0] if close else ""


_BREAK = re.compile(r"\r\n|\r|\n")


def locate(text, e):
    """The 0-based character index in ``text`` that a parse error points at.

    `ast` counts lines of the stripped text and columns in UTF-8 bytes; a syntax error
    (``rel_chars``) counts columns in characters.  Without a position: the first
    character of the expression.
    """
    lead = len(text) - len(text.lstrip())
    body = text.strip()
    col = getattr(e, "rel_col", None)
    if col is None:
        return lead
    lines = _BREAK.split(body)
    starts = [0]
    for m in _BREAK.finditer(body):
        starts.append(m.end())
    k = min(max((getattr(e, "rel_line", None) or 1) - 1, 0), len(lines) - 1)
    line = lines[k]
    col = max(col, 1) - 1
    if not getattr(e, "rel_chars", False):
        col = len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))
    return lead + starts[k] + min(col, len(line))


def _op_word(op):
    name = type(op).__name__
    return _OP_WORDS.get(name, name)


def parse_tree(text):
    """Parse and whitelist-check an expression; return the `ast.Expression`."""
    if not isinstance(text, str):
        raise SpecError("an expression must be text, got %s" % type(text).__name__)
    if len(text) > MAX_LEN:
        raise SpecError("expression is too long (%d characters; at most %d): split it over several nodes"
                        % (len(text), MAX_LEN))
    if not text.strip():
        raise SpecError("empty expression")
    if "\x00" in text:
        raise SpecError("expression contains a NUL character")
    try:
        with warnings.catch_warnings():       # e.g. "invalid decimal literal": never a second stderr line
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        msg = e.msg or "syntax error"
        if "limit" in msg and "digits" in msg:
            msg = "number literal is too long"
        elif msg.startswith("too many nested parentheses"):
            msg = "too many nested parentheses (at most %d levels)" % MAX_DEPTH
        x = SpecError("invalid expression: %s" % msg)
        x.rel_line, x.rel_col, x.rel_chars = e.lineno or 1, e.offset or 1, True
        raise x
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise SpecError("expression is too deeply nested (at most %d levels)" % MAX_DEPTH)
    _check(tree.body, 0)
    return tree


def _chain(node):
    """Length of the left-associated chain of same-precedence operators ending at node."""
    group = _CHAINS.get(type(node.op), ())
    n = 1
    while isinstance(node, ast.BinOp) and type(node.op) in group:
        node = node.left
        n += 1
    return n


def _check(node, depth):
    if depth > MAX_DEPTH:
        raise err(node, "expression is too deeply nested (more than %d levels): split it over several nodes"
                  % MAX_DEPTH)
    t = type(node)
    if t in _FORBIDDEN:
        raise err(node, _FORBIDDEN[t])
    if t is ast.BinOp:
        if type(node.op) not in BINOPS:
            raise err(node, "operator %s is not allowed" % _op_word(node.op))
        if type(node.op) in _CHAINS:
            n = _chain(node)
            if n > MAX_DEPTH:
                raise err(node, "a chain of %d terms is too long (at most %d): split it over several nodes"
                          % (n, MAX_DEPTH))
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
    elif t is ast.UnaryOp:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise err(node, "unary operator %s is not allowed" % _op_word(node.op))
        _check(node.operand, depth + 1)
    elif t is ast.Compare:
        if len(node.ops) != 1 or type(node.ops[0]) not in _CMP_OPS:
            raise err(node, "only single comparisons > < >= <= are allowed")
        _check(node.left, depth + 1)
        _check(node.comparators[0], depth + 1)
    elif t is ast.Call:
        f = node.func
        if isinstance(f, ast.Attribute):
            _check_name(f, f.attr)
            _check(f.value, depth + 1)
        elif isinstance(f, ast.Name):
            _check_name(f, f.id)
        else:
            raise err(node, "only named functions can be called")
        for a in node.args:
            _check(a, depth + 1)
        for k in node.keywords:
            if k.arg is None:
                raise err(k, "**kwargs are not allowed")
            _check_name(k, k.arg)
            _check(k.value, depth + 1)
    elif t is ast.Attribute:
        _check_name(node, node.attr)
        if node.attr not in ATTRIBUTES and node.attr not in fields_of(node.value):
            raise err(node, "attribute access '.%s' is not allowed (only .T, .mT, method calls and the fields "
                            "of a named tuple, as eigh(A).eigenvectors)" % short(node.attr))
        _check(node.value, depth + 1)
    elif t is ast.Subscript:
        _check(node.value, depth + 1)
        _check_index(node.slice, depth + 1, top=True)
    elif t is ast.Name:
        _check_name(node, node.id)
    elif t is ast.Constant:
        if not (node.value is None or isinstance(node.value, (bool, int, float, str))):
            raise err(node, "constant %s is not allowed" % short(repr(node.value)))
    elif t in (ast.Tuple, ast.List):
        for e in node.elts:
            _check(e, depth + 1)
    else:
        raise err(node, "%s is not allowed in an expression" % t.__name__)


ATTRIBUTES = ("T", "mT")


def _check_index(node, depth, top=False):
    """What a subscript may hold: integer literals, slices with integer-literal bounds, None,
    ``...``, an integer tensor (advanced indexing), or a tuple of these."""
    t = type(node)
    if t is ast.Tuple and top:
        if not node.elts:
            raise err(node, "an empty subscript is not allowed")
        for e in node.elts:
            _check_index(e, depth + 1)
    elif t is ast.Slice:
        for part in (node.lower, node.upper, node.step):
            if part is not None and int_literal(part) is None:
                raise err(part, "slice bounds and steps must be integer literals (as x[1:3], x[::2])")
        if node.step is not None and int_literal(node.step) <= 0:
            raise err(node.step, "a slice step must be greater than zero (PyTorch: ValueError)")
    elif t is ast.Constant and node.value is Ellipsis:
        pass
    elif t in (ast.Tuple, ast.List):
        raise err(node, "a list or tuple of indices is advanced indexing: index with an integer "
                        "tensor (an input with dtype: long)")
    else:
        _check(node, depth)


def int_literal(node):
    """The value of an integer literal (possibly negated), else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return sign * node.value
    return None


def _check_name(node, name):
    if name.startswith("__"):
        raise err(node, "name '%s' is not allowed (names starting with '__' are reserved)" % short(name))


def short(s, n=40):
    return s if len(s) <= n else s[:n] + "..."


def number_text(x, n=40):
    """A number (a SymPy expression or int) for a message, shortened; one too long for Python's
    int-to-text limit (4300 digits: ``(14285).exp2()``) by its order of magnitude."""
    try:
        return short(str(x), n)
    except ValueError:
        p, q = (x, 1) if isinstance(x, int) else (getattr(x, "p", None), getattr(x, "q", None))
        if p is None:
            return "(a number too long to print)"
        e = int((abs(p).bit_length() - q.bit_length()) * 0.30103)
        return "%s~1e%+d" % ("-" if p < 0 else "", e)


def fields_of(node):
    """The fields of the named tuple a call returns (``eigh(A)``: eigenvalues, eigenvectors)."""
    if not isinstance(node, ast.Call):
        return ()
    f = node.func
    spec = FUNCTIONS.get(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None))
    return spec.fields if spec is not None else ()


def call_parts(node):
    """(name, op spec or None, positional argument nodes) of a checked call: a method call
    ``c.mean()`` is ``mean(c)``, and ``ones(2, 3)`` packs its sizes as ``ones((2, 3))``."""
    f = node.func
    args = list(node.args)
    if isinstance(f, ast.Attribute):
        name, args = f.attr, [f.value] + args
    else:
        name = f.id
    spec = FUNCTIONS.get(name)
    if spec is None:
        return name, spec, args
    if spec.varshape and len(args) > len(spec.params):
        k = [i for i, p in enumerate(spec.params) if p.kind == "shape"][0]
        return name, spec, _pack(args, k)
    pname = spec.pack or (spec.method_pack if isinstance(f, ast.Attribute) else None)
    if pname is not None:
        k = [i for i, p in enumerate(spec.params) if p.name == pname][0]
        if len(args) > k + 1 or (len(args) == k + 1 and not isinstance(args[k], (ast.Tuple, ast.List))):
            args = _pack(args, k)
    return name, spec, args


def _pack(args, k):
    """Positional arguments k, k+1, ... as one tuple argument: ``x.permute(2, 0, 1)``."""
    packed = ast.copy_location(ast.Tuple(elts=args[k:], ctx=ast.Load()), args[k])
    return args[:k] + [packed]


