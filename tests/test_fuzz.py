"""Property-based fuzzing of the two doors user text comes in by: the expression parser
(`symgrad.spec.parse.parse_expr_text`) and the spec loader (`symgrad.loads`).

Thousands of random, grammar-built and mutated inputs; the only exception allowed out is
`SpecError` (of which `ShapeError` is a kind), its message is one line, and its position
lies inside the text.  A hypothesis failure prints the smallest input that breaks this.
"""
import glob
import os
from pathlib import Path

import sympy
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import symgrad
from symgrad.errors import SpecError
from symgrad.ops import FUNCTIONS
from symgrad.spec.expr import parse_expr_text
from symgrad.spec.parse import locate
from symgrad.tensor import Tensor
from conftest import EXAMPLES

# Fixed seeds and no example database: the same few thousand inputs on every run (about 20 s).
# SYMGRAD_FUZZ=N multiplies the budgets and draws fresh inputs, for a longer hunt.
SCALE = int(os.environ.get("SYMGRAD_FUZZ", "0") or 0)
FUZZ = settings(deadline=None, derandomize=not SCALE, database=None,
                suppress_health_check=list(HealthCheck))

N = sympy.Symbol("n", integer=True, positive=True)
ENV = {
    "a": Tensor("a", (sympy.Integer(3),), real=True),
    "b": Tensor("b", (sympy.Integer(3),), real=True),
    "W": Tensor("W", (sympy.Integer(3), sympy.Integer(4)), real=True),
    "M": Tensor("M", (sympy.Integer(4), sympy.Integer(4)), real=True),
    "s": Tensor("s", (), positive=True),
    "x": Tensor("x", (N,), real=True),
    "n": N,
    "i": Tensor("i", (sympy.Integer(3),), dtype="long", high=3),      # integer and bool inputs
    "m": Tensor("m", (sympy.Integer(3), sympy.Integer(4)), dtype="bool"),
}


def one_line_error(e, text=None):
    msg = str(e)
    assert "\n" not in msg and "\r" not in msg, msg
    assert e.message, "empty message"
    if text is not None:
        k = locate(text, e)
        assert 0 <= k <= len(text), (k, len(text))


def parse_or_spec_error(text):
    """The property: a SymPy expression, or a SpecError with a sane position."""
    try:
        out = parse_expr_text(text, dict(ENV))
    except SpecError as e:
        one_line_error(e, text)
        return None
    assert isinstance(out, sympy.Basic), (text, out)
    return out


# --- expressions ------------------------------------------------------------------------
# Mostly well-formed expressions over the environment (so the builder, the op table's
# signatures and its shape rules are exercised), with a dose of odd leaves; and a second
# grammar that also uses every construct the whitelist refuses.
GOOD_LEAF = st.sampled_from(["a", "b", "W", "M", "s", "x", "n", "pi", "0", "1", "2", "0.5", "-1", "3", "1e-3",
                             "i", "m"])
SUBSCRIPTS = ["[0]", "[:, 1]", "[1:3]", "[..., None]", "[::2]", "[-1]", "[None]", "[i]", "[:, i]", "[0, -1]",
              "[...]", "[:]", ".mT", "[1:]", "[:, :2]"]
ODD_LEAF = (st.integers(-10 ** 25, 10 ** 25).map(str)
            | st.floats(allow_nan=False, allow_infinity=False).map(repr)
            | st.sampled_from(["zz", "True", "None", "__class__", "__import__", "os", "exp", "inf",
                               "0.0", "1e400", "1e-400", "10**100", "2**64", "0x1F", "1_000", "1j",
                               "'mean'", "'x'", "b'x'", "...", "7" * 60]))
LEAF = st.one_of(GOOD_LEAF, GOOD_LEAF, GOOD_LEAF, ODD_LEAF)
FUNCS = sorted(FUNCTIONS)
ODD_FUNCS = ["summ", "sofmax", "eval", "exec", "open", "getattr", "__import__", "print", "backward",
             "zero_grad", "globals", "compile"]
GOOD_OPS = ["+", "-", "*", "/", "**", "@", ">", "<", ">=", "<="]
ODD_OPS = ["%", "//", "==", "!=", "and", "or", "|", "<<", "is", "in"]
GOOD_KW = ["dim=0", "dim=-1", "dim=1", "dim=(0, 1)", "keepdim=True", "reduction='sum'", "reduction='none'",
           "negative_slope=0.2", "bias=None", "start_dim=0", "end_dim=-1", "exponent=2"]
ODD_KW = ["dim=5", "keepdim=1", "reduction='foo'", "foo=1", "**a", "*a", "input=a", "gradient=a",
          "dim=a", "dim=1.5", "shape=(3,)", "__class__=1"]


def _good(kids):
    args = st.tuples(st.lists(kids, min_size=1, max_size=3),
                     st.lists(st.sampled_from(GOOD_KW), max_size=2, unique=True)).map(lambda t: ", ".join(t[0] + t[1]))
    binop = st.tuples(kids, st.sampled_from(GOOD_OPS), kids).map(lambda t: "(%s %s %s)" % t)
    call = st.tuples(st.sampled_from(FUNCS), args).map(lambda t: "%s(%s)" % t)
    return st.one_of(binop, binop, call, call, call,
                     st.tuples(kids, st.sampled_from(FUNCS), args | st.just("")).map(lambda t: "(%s).%s(%s)" % t),
                     kids.map(lambda k: "-(%s)" % k), kids.map(lambda k: "(%s).T" % k),
                     st.tuples(kids, st.sampled_from(SUBSCRIPTS)).map(lambda t: "(%s)%s" % t),
                     st.tuples(st.sampled_from(["chunk", "split"]), kids, st.sampled_from(["2", "1, 1", "2, -1"]),
                               st.sampled_from(["[0]", "[1]", "[-1]", ""])).map(lambda t: "%s(%s, %s)%s" % t))


def _odd(kids):
    args = st.lists(kids | st.sampled_from(GOOD_KW + ODD_KW), min_size=0, max_size=4).map(", ".join)
    return st.one_of(
        _good(kids),
        st.tuples(kids, st.sampled_from(ODD_OPS), kids).map(lambda t: "(%s %s %s)" % t),
        st.tuples(st.sampled_from(["~", "not ", "- -", "+"]), kids).map("".join),
        st.tuples(st.sampled_from(FUNCS + ODD_FUNCS), args).map(lambda t: "%s(%s)" % t),
        st.tuples(kids, st.sampled_from(FUNCS + ODD_FUNCS), args).map(lambda t: "%s.%s(%s)" % t),
        st.tuples(kids, st.sampled_from([".__class__", ".real", ".shape", "[0]", "[:, 1]", "()",
                                         ".__class__.__bases__", ".grad", "[::-1]", "[1:n]", "[[0, 1]]",
                                         "[..., ...]", "[0.5]", "[m]", "[(0, 1)]", "[:, :, :, :, :]",
                                         ".values", ".mT.mT", "[i, i]", "[1::0]"])).map("".join),
        st.tuples(kids, kids).map(lambda t: "(%s, %s)" % t),
        st.tuples(kids, kids).map(lambda t: "[%s, %s]" % t),
        kids.map(lambda k: "lambda: %s" % k),
        st.tuples(kids, kids).map(lambda t: "%s if %s else 0" % t),
        st.tuples(kids, kids).map(lambda t: "[q for q in (%s, %s)]" % t),
        kids.map(lambda k: "(q := %s)" % k),
        kids.map(lambda k: "f'{%s}'" % k),
        kids.map(lambda k: "{%s: 1}" % k),
    )


EXPRS = st.recursive(LEAF, _good, max_leaves=10)
HOSTILE = st.recursive(LEAF, _odd, max_leaves=10)

# A token soup: mostly invalid Python, exercising the syntax-error path and its columns.
TOKENS = ["a", "W", "s", "n", "zz", "pi", "__class__"] + FUNCS[:20] + GOOD_OPS + ODD_OPS + ["(", ")", "[", "]", "{", "}", ",", ":", ".", "=", "'", '"', "\\",
                                        "\n", "\t", " ", "#", "@", "!", "?", "$", "α", "é", "\u2028",
                                        "1", "2.5", "**", "lambda", "yield", "await", "import"]


@settings(FUZZ, max_examples=600 * max(1, SCALE))
@given(EXPRS)
def test_grammar_expressions(text):
    parse_or_spec_error(text)


@settings(FUZZ, max_examples=400 * max(1, SCALE))
@given(HOSTILE)
def test_hostile_grammar_expressions(text):
    parse_or_spec_error(text)


@settings(FUZZ, max_examples=300 * max(1, SCALE))
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup(text):
    parse_or_spec_error(text)


@settings(FUZZ, max_examples=200 * max(1, SCALE))
@given(st.text(max_size=60))
def test_random_text(text):
    parse_or_spec_error(text)


def test_valid_grammar_expressions_do_parse():
    """The generator is not only noise: well-formed expressions of every family parse."""
    for text in ["sum(a*b) + s", "W.T @ a", "softmax(a, 0) * b", "mean(W, dim=1, keepdim=True)",
                 "a.exp().sum()", "linear(b, W.T)", "-(-(a))", "where(a > 0, a, 0.01*a)",
                 "reshape(W, (2, 6))", "sum(x**2) / n", "W[:, 1:3] @ W[0, :2]", "W[i] * one_hot(i, 4)",
                 "cat((W, M), 0)[1:3]", "chunk(W, 2, dim=1)[1]", "einsum('ij,jk->ik', W, M)", "W.mT[..., None]"]:
        assert parse_or_spec_error(text) is not None, text


# --- specs --------------------------------------------------------------------------------
BASE = """title: fuzz base
dims: {n: 3}
inputs:
  a: {shape: [n], domain: positive}
  W:
    shape: [2, n]
    requires_grad: true
  y: {shape: [2], requires_grad: false, value: [0.5, 1.5]}
nodes:
  h: tanh(W @ a)
  L: mse_loss(h, y) + sum(log(a))
outputs: [L]
wrt: [W, a]
retain_grad: [h]
backward:
  - L.backward(retain_graph=True)
  - zero_grad()
  - L.backward()
"""
SEEDS = [BASE] + [Path(f).read_text(encoding="utf-8") for f in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))]
PIECES = [":", ": ", "-", "- ", "[", "]", "{", "}", ",", "\n", "  ", "\t", "#", "&x ", "*x", "!!python/object/apply:os.system ['true'] ",
          "!!str ", "!!binary ", "? ", "|", ">", "'", '"', "\\", "\x00", "\x07", "\ufeff", "é", "---\n", "...\n",
          "a", "b", "zz", "0", "-1", "1e400", ".nan", "null", "yes", "2024-01-01", "<<: ", "nodes", "inputs",
          "shape", "value", "dims", "wrt", "backward", "sum(", ")", "__class__", "@", "**", "/0"]


def load_or_spec_error(text):
    try:
        prob = symgrad.loads(text, file="fuzz.yaml")
    except SpecError as e:
        one_line_error(e)
        if e.line is not None:
            assert 1 <= e.line <= text.count("\n") + 2, (e.line, str(e))
            assert e.col is None or e.col >= 1, str(e)
        return None
    assert isinstance(prob, symgrad.Problem)
    for n in prob.nodes:
        assert isinstance(n.expr, sympy.Basic)
    return prob


@st.composite
def mutated_specs(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 3))
        if kind == 0:                                     # insert a piece
            text = text[:k] + draw(st.sampled_from(PIECES)) + text[k:]
        elif kind == 1:                                   # delete a span
            text = text[:k] + text[k + draw(st.integers(1, 12)):]
        elif kind == 2:                                   # duplicate or drop a line
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i]) if draw(st.booleans()) else lines.pop(i)
            text = "\n".join(lines)
        else:                                             # replace one character
            text = text[:k] + draw(st.characters(max_codepoint=0x2FF)) + text[k + 1:]
    return text


@settings(FUZZ, max_examples=800 * max(1, SCALE))
@given(mutated_specs())
def test_mutated_specs(text):
    load_or_spec_error(text)


SCALARS = (st.none() | st.booleans() | st.integers(-5, 10 ** 12) | st.floats()
           | st.sampled_from(["a", "W", "h", "sum(a)", "a @ W", "zz", "[3]", "real", "spd", "x.backward()",
                              "zero_grad()", "L.backward(gradient=a)", "__import__('os')", "n"])
           | st.text(max_size=8))
KEYS = st.sampled_from(["title", "description", "dims", "inputs", "nodes", "outputs", "wrt", "retain_grad",
                        "backward", "shape", "value", "domain", "requires_grad", "a", "W", "h", "n", "nodez"])
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
                      max_leaves=15)


@settings(FUZZ, max_examples=250 * max(1, SCALE))
@given(st.dictionaries(KEYS, VALUES, max_size=7))
def test_structured_random_specs(doc):
    load_or_spec_error(yaml.safe_dump(doc, allow_unicode=True))


GOOD_SIZES = st.sampled_from([1, 2, 3, 4, "n"])
BAD_SIZES = st.integers(-2, 0) | st.sampled_from(["m", "zz", 2.5, None, True, 10 ** 12, [3]])


def rare(draw, one_in):
    """True about one time in ``one_in`` (hypothesis favours the first choice)."""
    return draw(st.sampled_from([False] * (one_in - 1) + [True]))


def often(draw, good, bad, one_in=6):
    """A draw from ``good``, or from ``bad`` about one time in ``one_in``."""
    return draw(bad) if rare(draw, one_in) else draw(good)


@st.composite
def spec_docs(draw):
    """Spec-shaped documents: the right keys, values of the right or a nearby wrong type."""
    doc = {}
    if not rare(draw, 2):
        doc["dims"] = {often(draw, st.just("n"), st.sampled_from(["m", "a", "__x", "grad_q", "pi"])):
                       often(draw, st.integers(1, 4), st.integers(-1, 0) | SCALARS)}
    names = draw(st.lists(st.sampled_from(["a", "b", "W", "M", "s", "x"]), min_size=1, max_size=3, unique=True))
    inputs = {}
    for name in names:
        fields = {}
        if not rare(draw, 4):
            fields["shape"] = often(draw, st.lists(GOOD_SIZES, max_size=2),
                                    st.lists(GOOD_SIZES | BAD_SIZES, max_size=3) | BAD_SIZES)
        if rare(draw, 4):
            fields["requires_grad"] = often(draw, st.booleans(), SCALARS)
        if rare(draw, 4):
            fields["domain"] = often(draw, st.sampled_from(["real", "positive", "unit", "nonnegative"]),
                                     st.sampled_from(["spd", "simplex", "complex", 3, None]))
        if rare(draw, 8):
            fields["value"] = draw(VALUES)
        if rare(draw, 10):
            fields[draw(KEYS)] = draw(SCALARS)
        inputs[name] = fields or None
    doc["inputs"] = inputs
    nodes = {}
    for k in range(draw(st.integers(1, 3))):
        name = often(draw, st.sampled_from(["h", "L", "y%d" % k]), st.sampled_from(["a", "grad_a", "pi", "1x"]), 10)
        nodes[name] = often(draw, EXPRS, HOSTILE, 4)
    doc["nodes"] = nodes
    pool = list(inputs) + list(nodes)
    for key in ("outputs", "wrt", "retain_grad"):
        if rare(draw, 3):
            doc[key] = often(draw, st.lists(st.sampled_from(pool), max_size=2, unique=True),
                             st.sampled_from(pool) | st.lists(st.sampled_from(pool + ["zz"]), max_size=3) | SCALARS, 3)
    if rare(draw, 3):
        good = st.sampled_from(["%s.backward()" % n for n in pool] + ["zero_grad()", "h.backward(retain_graph=True)",
                               "L.backward(gradient=ones_like(L))", "h.backward(None, True)"])
        bad = st.sampled_from(["print(h)", "h.backward(foo=1)", "L.grad", "import os", "zz.backward()",
                               "zero_grad(1)", "h.backward(gradient=W @ W)", "(h).backward()"])
        doc["backward"] = often(draw, st.lists(good, max_size=3), st.lists(good | bad, max_size=3) | SCALARS)
    if rare(draw, 10):
        doc[draw(KEYS)] = draw(VALUES)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@settings(FUZZ, max_examples=600 * max(1, SCALE))
@given(spec_docs())
def test_spec_shaped_random_specs(text):
    load_or_spec_error(text)


@settings(FUZZ, max_examples=250 * max(1, SCALE))
@given(st.sampled_from(["h", "L"]), EXPRS | HOSTILE)
def test_random_node_expressions_in_a_spec(which, expr):
    """A random expression placed in the base spec, in every YAML scalar style."""
    style = sum(map(ord, expr)) % 4
    if style == 0:
        line = "  %s: %s" % (which, expr)
    elif style == 1:
        line = "  %s: '%s'" % (which, expr.replace("'", "''"))
    elif style == 2:
        line = '  %s: "%s"' % (which, expr.replace("\\", "\\\\").replace('"', '\\"'))
    else:
        line = "  %s: |\n    %s" % (which, expr)
    text = BASE.replace("  %s: " % which, "  %s_old: " % which, 1)
    text = text.replace("nodes:\n", "nodes:\n" + line + "\n", 1) if which == "h" else \
        text.replace("outputs: [L]\n", line + "\noutputs: [L]\n", 1)
    load_or_spec_error(text)


@settings(FUZZ, max_examples=60 * max(1, SCALE))
@given(mutated_specs() | spec_docs())
def test_cli_on_random_specs(text):
    """Through the command line: exit 0, or exit 2 with exactly one clean stderr line."""
    import tempfile
    from click.testing import CliRunner
    from symgrad.cli import main
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spec.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        result = CliRunner().invoke(main, ["derive", path, "--no-check", "-o", os.path.join(tmp, "out.json")])
        assert result.exit_code in (0, 2), result.output
        if result.exit_code == 2:
            assert result.stderr.count("\n") == 1 and result.stderr.startswith("symgrad: error: "), result.stderr
            assert sorted(os.listdir(tmp)) == ["spec.yaml"]
