"""Broken input gets one clear line: ``symgrad: error: FILE:LINE:COL: what is wrong``.

One test per failure class (SPEC §1-2, §4): exit status 2, exactly one line on stderr and
no traceback, the line and column of the offending token (inside an expression: the
token's own column, offset by where the expression starts in the file), a message that
says what is wrong and what was meant, and no output file.
"""
import os
import time

import pytest
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.errors import SpecError

HEAD = "inputs:\n  a: {shape: [3]}\n  W: {shape: [4, 5]}\nnodes:\n"       # nodes start on line 5


def node(expr):
    """A spec whose only node is ``b: EXPR`` on line 5 (the expression starts at column 6)."""
    return HEAD + "  b: %s\n" % expr


def run(tmp_path, spec, *extra, command="derive", name="spec.yaml"):
    path = tmp_path / name
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        path.write_text(spec, encoding="utf-8", newline="")
    out = tmp_path / "out.json"
    args = [command, str(path)] + (["-o", str(out)] if command in ("derive", "compile") else [])
    if command == "derive" and "--check" not in extra:
        args.append("--no-check")
    result = CliRunner().invoke(main, args + list(extra))
    return result, path, out


def one_error_line(result):
    err = result.stderr
    assert err.endswith("\n") and err.count("\n") == 1, "stderr is not one line: %r" % err
    assert "Traceback" not in err
    return err[:-1]


def expect(tmp_path, spec, line, col, *fragments, extra=()):
    """The CLI and the API report the same place and message; nothing is written."""
    result, path, out = run(tmp_path, spec, *extra)
    assert result.exit_code == 2, (result.exit_code, result.output)
    msg = one_error_line(result)
    where = "symgrad: error: %s:%d:%d: " % (path, line, col)
    assert msg.startswith(where), "\n%s\n%s" % (where, msg)
    for f in fragments:
        assert f in msg, (f, msg)
    assert result.stdout == ""
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == [path.name], "left files behind"
    with pytest.raises(SpecError) as e:
        symgrad.load(str(path))
    assert (e.value.line, e.value.col) == (line, col)
    return msg


# --- the YAML itself --------------------------------------------------------------------
def test_yaml_syntax_error(tmp_path):
    expect(tmp_path, "inputs: [a\nnodes: b\n", 2, 6, "invalid YAML", "did not find expected ',' or ']'")


def test_yaml_tab_indentation(tmp_path):
    expect(tmp_path, "inputs:\n\ta: {}\n", 2, 1, "invalid YAML", "cannot start any token")


def test_python_object_tag_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = "inputs: !!python/object/apply:os.system ['touch CANARY']\nnodes: {b: a}\n"
    expect(tmp_path, spec, 1, 9, "YAML tag '!!python/object/apply:os.system' is not allowed")
    assert not (tmp_path / "CANARY").exists()


@pytest.mark.parametrize("spec,what", [("- a\n- b\n", "not a list"), ("just some text\n", "not a single value")])
def test_document_that_is_not_a_mapping(tmp_path, spec, what):
    expect(tmp_path, spec, 1, 1, "the spec must be a mapping with 'inputs' and 'nodes'", what)


@pytest.mark.parametrize("spec", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file(tmp_path, spec):
    expect(tmp_path, spec, 1, 1, "the spec is empty")


def test_binary_file(tmp_path):
    expect(tmp_path, b"inputs:\n  a: {}\x00\x01\x02\n", 2, 8, "not a text file", "NUL")


def test_file_that_is_not_utf8(tmp_path):
    expect(tmp_path, b"title: caf\xe9\ninputs:\n", 1, 11, "not a UTF-8 text file", "0xe9")


def test_file_too_large(tmp_path):
    t = time.perf_counter()
    expect(tmp_path, "# " + "x" * 10_000_000 + "\n", 1, 1, "the spec is too large (more than 10 MB)")
    assert time.perf_counter() - t < 5


def test_control_character(tmp_path):
    expect(tmp_path, HEAD + "  b: sum(a)\x07\n", 5, 12, "unacceptable character #x0007")


def test_two_documents(tmp_path):
    expect(tmp_path, node("sum(a)") + "---\n" + node("sum(a)"), 6, 1, "expected a single document")


def test_aliases_are_refused_billion_laughs(tmp_path):
    laughs = "x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        "x%d: &%s [%s]\n" % (k, chr(98 + k), ", ".join(["*" + chr(97 + k)] * 9)) for k in range(9))
    t = time.perf_counter()
    expect(tmp_path, laughs + node("sum(a)"), 2, 9, "YAML aliases ('*a') are not allowed")
    assert time.perf_counter() - t < 5


def test_yaml_nested_too_deeply(tmp_path):
    # libyaml's composer would crash (segfault) on this; it is refused before composing.
    expect(tmp_path, "a: " + "[" * 100000, 1, 67, "nested too deeply (more than 64 levels)")


# --- keys -------------------------------------------------------------------------------
def test_unknown_top_level_key(tmp_path):
    expect(tmp_path, node("sum(a)") + "nodez: {}\n", 6, 1, "unknown key 'nodez'", "did you mean 'nodes'?",
           "allowed: title, description, dims, inputs, nodes")


def test_unknown_input_key(tmp_path):
    expect(tmp_path, "inputs:\n  a: {shap: [3]}\nnodes:\n  b: a\n", 2, 7, "unknown key 'shap' in input 'a'",
           "did you mean 'shape'?")


def test_duplicate_top_level_key(tmp_path):
    # PyYAML would silently keep the second 'nodes'
    expect(tmp_path, node("sum(a)") + "nodes:\n  c: a\n", 6, 1, "duplicate key 'nodes' in the spec (first at line 4)")


def test_duplicate_input(tmp_path):
    expect(tmp_path, "inputs:\n  a: {shape: [3]}\n  a: {shape: [4]}\nnodes:\n  b: a\n", 3, 3,
           "duplicate key 'a' in 'inputs' (first at line 2)")


def test_duplicate_node(tmp_path):
    expect(tmp_path, node("sum(a)") + "  b: a\n", 6, 3, "duplicate key 'b' in 'nodes' (first at line 5)")


def test_node_with_the_name_of_an_input(tmp_path):
    expect(tmp_path, HEAD + "  a: sum(a)\n", 5, 3, "'a' is defined twice (first at line 2)")


def test_reserved_names(tmp_path):
    expect(tmp_path, HEAD + "  grad_b: sum(a)\n", 5, 3, "node name 'grad_b' is reserved")
    expect(tmp_path, HEAD + "  __class__: sum(a)\n", 5, 3, "node name '__class__' is reserved")


@pytest.mark.parametrize("where,key,line", [
    ("input", '"a\\n"', 2), ("node", '"b\\n"', 5), ("dim", '"n\\n"', 1),
    ("input", '"a b"', 2), ("node", '"b-c"', 5), ("dim", '"n.m"', 1), ("node", '"\\u00e9"', 5),
    ("input", '"a\\t"', 2), ("node", '"b\\r\\n"', 5),
])
def test_names_that_are_not_identifiers(tmp_path, where, key, line):
    """A trailing newline (a regular expression's '$' lets it pass) or any other character
    outside [A-Za-z0-9_] is refused at the key."""
    if where == "input":
        spec = "inputs:\n  %s: {shape: [3]}\nnodes:\n  b: 1\n" % key
    elif where == "node":
        spec = HEAD + "  %s: sum(a)\n" % key
    else:
        spec = "dims: {%s: 3}\ninputs:\n  a: {shape: [3]}\nnodes:\n  b: sum(a)\n" % key
    col = {1: 8}.get(line, 3)
    msg = expect(tmp_path, spec, line, col, "%s name " % where, "is not a valid identifier")
    assert "\n" not in msg


def test_unknown_name_in_outputs(tmp_path):
    expect(tmp_path, node("sum(a)") + "outputs: [bb]\n", 6, 11, "'bb' in 'outputs' is not a tensor",
           "did you mean 'b'?")


def test_wrt_an_input_without_grad(tmp_path):
    spec = "inputs:\n  a: {shape: [3], requires_grad: false}\nnodes:\n  b: sum(a)\nwrt: [a]\n"
    expect(tmp_path, spec, 5, 7, "cannot differentiate with respect to 'a': it does not require grad")


@pytest.mark.parametrize("key,col,fragment", [
    ("wrt", 6, "cannot differentiate with respect to 'h': it does not require grad"),
    ("retain_grad", 14, "can't retain_grad on Tensor 'h' that has requires_grad=False"),
])
def test_single_name_instead_of_a_list(tmp_path, key, col, fragment):
    # found by the fuzzer: a single name where a list is expected, naming a tensor without grad
    spec = "inputs:\n  a: {shape: [3], requires_grad: false}\nnodes:\n  h: sum(a)\n%s: h\n" % key
    expect(tmp_path, spec, 5, col, fragment)


# --- wrong types and sizes ---------------------------------------------------------------
@pytest.mark.parametrize("field,line,col,fragment", [
    ("shape: foo", 2, 14, "shape of 'a' must be a list of sizes"),
    ("shape: [3, 2.5]", 2, 18, "size 2.5 of 'a' is not an integer or a declared dim"),
    ("shape: [3], requires_grad: maybe", 2, 34, "requires_grad must be true or false"),
    ("shape: [3], domain: positve", 2, 27, "did you mean 'positive'?"),
    ("shape: [3], value: [1, 2]", 2, 26, "value of 'a' has length 2, the shape [3] needs 3"),
    ("shape: [2], value: [1, .nan]", 2, 26, "value of 'a'[1] must be a finite number, got nan"),
    ("shape: [2], value: [1, one]", 2, 26, "value of 'a'[1] must be a number, got 'one'"),
])
def test_wrong_types_in_an_input(tmp_path, field, line, col, fragment):
    expect(tmp_path, "inputs:\n  a: {%s}\nnodes:\n  b: sum(a)\n" % field, line, col, fragment)


DOMAIN_CASES = [
    ("positive", "[3]", "[1.0, -0.5, 2.0]", "value of 'a'[1] is -0.5: outside its domain positive (every entry > 0)"),
    ("positive", "[2]", "[1.0, 0]", "value of 'a'[1] is 0.0: outside its domain positive"),
    ("nonnegative", "[2]", "[0.0, -1e-9]", "value of 'a'[1] is -1e-09: outside its domain nonnegative"),
    ("unit", "[2, 2]", "[[0.5, 0.5], [1.0, 0.2]]", "value of 'a'[1][0] is 1.0: outside its domain unit "
                                                  "(every entry strictly between 0 and 1)"),
    ("unit", "[]", "0", "value of 'a' is 0.0: outside its domain unit"),
    ("spd", "[2, 2]", "[[2.0, 1.0], [0.0, 2.0]]", "value of 'a' is not symmetric: [1][0] is 0.0, [0][1] is 1.0"),
    ("spd", "[2, 2]", "[[1.0, 2.0], [2.0, 1.0]]", "value of 'a' is not positive definite"),
    ("spd", "[2, 2]", "[[0.0, 0.0], [0.0, 0.0]]", "value of 'a' is not positive definite"),
    ("simplex", "[2, 2]", "[[0.2, 0.8], [0.5, 0.4]]", "value of 'a'[1] sums to 0.9: outside its domain simplex "
                                                     "(entries >= 0 that sum to 1 along the last dim)"),
    ("simplex", "[3]", "[1.5, -0.5, 0.0]", "value of 'a'[1] is -0.5: outside its domain simplex"),
]


@pytest.mark.parametrize("domain,shape,value,fragment", DOMAIN_CASES)
def test_a_value_outside_its_domain(tmp_path, domain, shape, value, fragment):
    """A given value must lie in its declared domain: the closed forms rely on it (sqrt(a**2)
    is a for a positive a), so a value outside it would make the check blame them."""
    spec = "inputs:\n  a:\n    shape: %s\n    domain: %s\n    value: %s\nnodes:\n  b: sum(a*a)\n" % (
        shape, domain, value)
    expect(tmp_path, spec, 5, 12, fragment)
    result, path, out = run(tmp_path, spec, command="check")
    assert result.exit_code == 2 and "FAIL" not in result.stdout


@pytest.mark.parametrize("domain,shape,value", [
    ("positive", "[2]", "[1.0e-300, 3]"), ("nonnegative", "[2]", "[0, 1]"), ("unit", "[2]", "[1.0e-9, 0.999]"),
    ("spd", "[2, 2]", "[[2.0, 0.5], [0.5, 1.0]]"), ("simplex", "[2, 3]", "[[0.2, 0.3, 0.5], [1, 0, 0]]"),
    ("simplex", "[3]", "[0.3333333333333333, 0.3333333333333333, 0.3333333333333334]"),
])
def test_a_value_inside_its_domain_is_used(tmp_path, domain, shape, value):
    spec = "inputs:\n  a:\n    shape: %s\n    domain: %s\n    value: %s\nnodes:\n  b: sum(a*a)\n" % (
        shape, domain, value)
    result, path, out = run(tmp_path, spec, command="check")
    assert result.exit_code == 0, result.output


def test_wrong_types_elsewhere(tmp_path):
    expect(tmp_path, "title: [a, b]\n" + node("a"), 1, 8, "'title' must be text")
    expect(tmp_path, HEAD.replace("nodes:\n", "nodes:\n  - b: a\n"), 5, 3, "'nodes' must be a mapping")
    expect(tmp_path, HEAD + "  b: {sum: a}\n", 5, 6, "node 'b' must be an expression (text)")
    expect(tmp_path, HEAD + "  b: yes\n", 5, 6, "node 'b' must be an expression", "quote it")
    expect(tmp_path, node("sum(a)") + "wrt: {a: 1}\n", 6, 6, "'wrt' must be a list of names")


@pytest.mark.parametrize("spec,line,col,fragment", [
    ("inputs:\n  a: {shape: [0]}\nnodes:\n  b: a\n", 2, 15, "size 0 in the shape of 'a' must be positive"),
    ("inputs:\n  a: {shape: [3, -2]}\nnodes:\n  b: a\n", 2, 18, "size -2 in the shape of 'a' must be positive"),
    ("dims: {n: 0}\ninputs:\n  a: {shape: [n]}\nnodes:\n  b: a\n", 1, 11, "dim 'n' must be a positive integer, got 0"),
    ("dims: {n: -4}\ninputs:\n  a: {shape: [n]}\nnodes:\n  b: a\n", 1, 11, "dim 'n' must be a positive integer, got -4"),
    (node("ones(3, 0)"), 5, 14, "ones(): sizes must be positive, got 0"),
    (node("eye(-1)"), 5, 10, "eye(): sizes must be positive, got -1"),
    (node("reshape(a, (3, -2))"), 5, 21, "reshape(): sizes must be positive, got -2"),
], ids=["zero", "negative", "dim-zero", "dim-negative", "ones", "eye", "reshape"])
def test_zero_or_negative_sizes(tmp_path, spec, line, col, fragment):
    expect(tmp_path, spec, line, col, fragment)


# --- names ----------------------------------------------------------------------------------
def test_undefined_name(tmp_path):
    expect(tmp_path, node("sum(a) + aa"), 5, 15, "undefined name 'aa'", "did you mean 'a'?", "defined here: a, W")


def test_forward_reference(tmp_path):
    expect(tmp_path, node("sum(c)") + "  c: a*2\n", 5, 10, "'c' is used before it is defined")


def test_cycle(tmp_path):
    expect(tmp_path, node("c + a") + "  c: b * 2\n", 5, 6, "'c' is used before it is defined", "no cycles")


def test_self_reference(tmp_path):
    expect(tmp_path, node("a + b"), 5, 10, "node 'b' refers to itself")


# --- shapes, functions, arguments ------------------------------------------------------------
def test_broadcast_mismatch_names_both_shapes(tmp_path):
    msg = expect(tmp_path, node("a + W"), 5, 6, "cannot be broadcast together")
    assert "[3]" in msg and "[4, 5]" in msg


def test_matmul_mismatch_names_both_shapes(tmp_path):
    expect(tmp_path, node("sum(W @ a)"), 5, 10, "matmul: shapes [4, 5] and [3] do not fit")


def test_shape_error_inside_a_layer(tmp_path):
    expect(tmp_path, node("mse_loss(a, W)"), 5, 6, "mse_loss", "[4, 5]", "[3]")


def test_unknown_function(tmp_path):
    expect(tmp_path, node("sum(a) + sofmax(a, 0)"), 5, 15, "unknown function 'sofmax'", "did you mean 'softmax'?")


def test_function_name_used_as_a_value(tmp_path):
    expect(tmp_path, node("a * exp"), 5, 10, "'exp' is a function: call it")


@pytest.mark.parametrize("expr,col,fragment", [
    ("exp(a, a)", 6, "exp() takes at most 1 argument (2 given)"),
    ("logsumexp(a)", 6, "logsumexp() missing required argument 'dim'"),
    ("sum(a, dims=0)", 13, "sum() got an unexpected keyword argument 'dims' (did you mean 'dim'?); it takes input, dim, keepdim"),
    ("sum(a, input=a)", 13, "sum() got multiple values for argument 'input'"),
    ("sum(a, keepdim=1)", 21, "sum(): keepdim must be True or False"),
    ("mse_loss(a, a, reduction='avg')", 6, "reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("a.mean(1, 2, 3)", 6, "mean() takes at most 3 arguments (4 given)"),
])
def test_wrong_arity_or_keywords(tmp_path, expr, col, fragment):
    expect(tmp_path, node(expr), 5, col, fragment)


@pytest.mark.parametrize("expr,col,fragment", [
    ("sum(a, dim=1)", 6, "sum: dim 1 is out of range for a tensor with 1 dimension"),
    ("softmax(W, -3)", 6, "softmax: dim -3 is out of range for a tensor with 2 dimensions"),
    ("transpose(W, 0, 2)", 6, "transpose: dim 2 is out of range"),
])
def test_dim_out_of_range(tmp_path, expr, col, fragment):
    expect(tmp_path, node(expr), 5, col, fragment)


@pytest.mark.parametrize("expr,col", [("a / 0", 6), ("sum(a / 0.0)", 10), ("a / (1 - 1)", 6), ("0**-1 + a", 6),
                                      ("a * (1/0)", 11)])
def test_division_by_literal_zero(tmp_path, expr, col):
    expect(tmp_path, node(expr), 5, col, "division by zero")


@pytest.mark.parametrize("expr,col,fragment", [
    ("a.shape", 6, "attribute access '.shape' is not allowed"),
    ("a.__class__", 6, "name '__class__' is not allowed"),
    ("a[1:k]", 10, "slice bounds and steps must be integer literals (as x[1:3], x[::2])"),
    ("a[::0]", 10, "a slice step must be greater than zero"),
    ("a[[0, 1]]", 8, "a list or tuple of indices is advanced indexing: index with an integer tensor"),
    ("a[0.5]", 8, "an index must be an integer literal, a slice with literal bounds, None, ... or an integer tensor"),
    ("a.mT", 6, "tensor.mT is only supported on matrices or batches of matrices"),
    ("a.grad", 6, "attribute access '.grad' is not allowed"),
    ("__import__('os')", 6, "name '__import__' is not allowed"),
    ("(lambda: a)()", 6, "only named functions can be called"),
    ("sum(lambda: a)", 10, "lambdas are not allowed"),
    ("sum([x for x in a])", 10, "comprehensions are not allowed"),
    ("sum(x for x in a)", 9, "comprehensions are not allowed"),
    ("f'{a}'", 6, "f-strings are not allowed"),
    ("(q := a) * 2", 7, "the walrus operator ':=' is not allowed"),
    ("sum(*a)", 10, "starred arguments are not allowed"),
    ("sum(a, **k)", 13, "**kwargs are not allowed"),
    ("a if a else a", 6, "conditional expressions are not allowed (use where(c, x, y))"),
    ("a and a", 6, "'and'/'or' are not allowed"),
    ("{a: 1}", 6, "dicts are not allowed"),
    ("{a}", 6, "sets are not allowed"),
    ("a % 2", 6, "operator '%' is not allowed"),
    ("a // 2", 6, "operator '//' is not allowed"),
    ("~a", 6, "unary operator '~' is not allowed"),
    ("0 < a < 1", 6, "only single comparisons"),
    ("a == a", 6, "only single comparisons"),
    ("import os", 6, "invalid expression: invalid syntax"),
    ("a; a", 7, "invalid expression"),
    ("1j * a", 6, "constant 1j is not allowed"),
    ("'text'", 6, "the string 'text' is not a number or tensor"),
])
def test_python_outside_the_whitelist(tmp_path, expr, col, fragment):
    expect(tmp_path, node('"%s"' % expr), 5, col + 1, fragment)       # quoted: YAML must not read it


@pytest.mark.parametrize("expr,col,fragment", [
    ("a * %d" % 2 ** 70, 10, "integer 1180591620717411303424 is too large for PyTorch (int64)"),
    ("a * 1e400", 10, "number inf is not finite"),
    ("a * 1e308 * 1e308", 6, "outside the float64 range"),
    ("a * sqrt(-1)", 10, "not a real number"),
    ("a * (-8)**(1/3)", 10, "not a real number"),
    ("a * exp(1000)", 10, "constant exp(1000) overflows float64"),
])
def test_numbers_pytorch_cannot_hold(tmp_path, expr, col, fragment):
    expect(tmp_path, node(expr), 5, col, fragment)


@pytest.mark.parametrize("expr,col,fragment", [
    ("-(a > 0)", 6, "PyTorch cannot apply unary - to a comparison (a bool tensor)"),
    ("1 - (a > 0)", 6, "PyTorch cannot subtract with a comparison"),
    ("(a > 0) + (a < 1)", 6, "adding two comparisons is a logical or in PyTorch"),
    ("W @ (W.T @ W > 0)", 6, "PyTorch cannot matrix-multiply with a comparison"),
    ("softmax(a > 0, 0)", 6, "softmax() is not defined for a comparison (a bool tensor)"),
    ("(a > 0).mean()", 6, "mean() is not defined for a comparison"),
    ("where(a, a, 0)", 12, "where(): the condition must be a comparison such as x > 0"),
    ("a * (2).T", 10, "a plain number has no .T"),
    ("a * t(1.5)", 12, "t() needs a tensor, not a plain number"),
    ("a * (2.0).sum()", 11, "sum() needs a tensor, not a plain number"),
])
def test_what_pytorch_refuses_for_bool_tensors_and_numbers(tmp_path, expr, col, fragment):
    msg = expect(tmp_path, node('"%s"' % expr), 5, col + 1, fragment)
    assert "1.0*(x > 0)" in msg or "where" in msg or ".T" in msg or "TypeError" in msg


# --- where an expression error points, in every YAML scalar style ------------------------------
@pytest.mark.parametrize("text,line,col", [
    ("  b: sum(a) + zz\n", 5, 15),                       # plain
    ("  b: 'sum(a) + zz'\n", 5, 16),                     # single-quoted
    ("  b: 'mse_loss(a, a, reduction=''sum'') + zz'\n", 5, 43),   # with a quoted quote
    ('  b: "sum(a)\\t+ zz"\n', 5, 17),                    # double-quoted, with an escape
    ("  b: mse_loss(reduction='é', input=a, target=zz)\n", 5, 46),  # after a non-ASCII character
    ('  b: "mse_loss(reduction=\'é\', input=a, target=zz)"\n', 5, 47),
    ("  b: sum(a) +\n    zz\n", 6, 5),                   # a plain scalar folded over two lines
    ("  b: |\n    (sum(a) +\n      zz)\n", 7, 7),        # a literal block
    ("  b: >-\n    sum(a) +\n    zz\n", 7, 5),           # a folded block
    ("  b:    sum(a) + zz   \n", 5, 18),                 # extra spaces
])
def test_expression_errors_point_at_the_token(tmp_path, text, line, col):
    expect(tmp_path, HEAD + text, line, col, "undefined name 'zz'")


def test_expression_error_positions_with_crlf(tmp_path):
    expect(tmp_path, node("sum(a) + zz").replace("\n", "\r\n"), 5, 15, "undefined name 'zz'")


# --- backward lines ------------------------------------------------------------------------------
@pytest.mark.parametrize("call,col,fragment", [
    ("print(b)", 5, "a backward step must be 'o.backward(...)'"),
    ("b.grad", 5, "attribute access '.grad' is not allowed"),
    ("exec('import os')", 5, "a backward step must be"),
    ("import os", 5, "invalid expression"),
    ("zz.backward()", 5, "'zz' is not a tensor of the spec"),
    ("b.backward(foo=1)", 20, "backward() got an unexpected keyword argument 'foo'"),
    ("b.backward(retain_graph=1)", 29, "retain_graph must be True or False"),
    ("zero_grad(1)", 5, "zero_grad() takes no arguments"),
    ("b.backward(gradient=zz)", 25, "undefined name 'zz'"),    # (a shape mismatch is predicted: PyTorch raises)
    ("b.backward(gradient=a.__class__)", 25, "name '__class__' is not allowed"),
])
def test_bad_backward_lines(tmp_path, call, col, fragment):
    expect(tmp_path, node("sum(a)") + "backward:\n  - %s\n" % call, 7, col, fragment)


# --- pathological expressions: answered at once, no RecursionError, no hang ---------------------
@pytest.mark.parametrize("expr,fragment", [
    ("a**(10**100)", "too large"),
    ("a**(10.0**100)", "exponent 1000"),
    ("10**10**10 * a", "too large"),
    ("(" * 3000 + "a" + ")" * 3000, "too many nested parentheses"),
    ("+".join(["a"] * 50000), "expression is too long"),
    ("+".join(["a"] * 500), "a chain of 500 terms is too long (at most 100)"),
    ("-" * 5000 + "a", "too deeply nested"),
    ("exp(" * 150 + "a" + ")" * 150, "too deeply nested (more than 100 levels)"),
    ("9" * 5000 + " * a", "number literal is too long"),
    ("a" * 30000, "expression is too long"),
], ids=["pow-huge", "pow-huge-float", "tower", "parens", "sum-50000", "chain-500", "unary", "nested-calls",
        "long-literal", "long-name"])
def test_pathological_expressions(tmp_path, expr, fragment):
    t = time.perf_counter()
    result, path, out = run(tmp_path, node(expr))
    assert time.perf_counter() - t < 5
    assert result.exit_code == 2
    msg = one_error_line(result)
    assert msg.startswith("symgrad: error: %s:5:" % path) and fragment in msg, msg
    assert not out.exists()


# --- tensors too large to check: refused, never allocated; deriving is symbolic ------------------
def test_a_4096_square_weight_derives_without_allocating(tmp_path):
    spec = "inputs:\n  W: {shape: [4096, 4096]}\n  x: {shape: [4096]}\nnodes:\n  L: sum(tanh(W @ x))\n"
    t = time.perf_counter()
    result, path, out = run(tmp_path, spec, command="derive")
    assert result.exit_code == 0, result.output
    assert "W.T @ (1 - tanh(W @ x)**2)" in result.stdout
    assert time.perf_counter() - t < 20
    assert out.exists()


def test_inputs_too_large_to_check_are_refused(tmp_path):
    spec = "inputs:\n  W: {shape: [100000, 100000]}\nnodes:\n  L: sum(W**2)\n"
    result, path, out = run(tmp_path, spec, "--check")
    assert result.exit_code == 2, result.output
    msg = one_error_line(result)
    assert "too large to check" in msg and "--no-check" in msg
    assert not out.exists()
    result, path, out = run(tmp_path, spec)                      # --no-check: derives fine
    assert result.exit_code == 0 and "2*W" in result.stdout


def test_intermediates_too_large_to_check_are_refused(tmp_path):
    # a 10**6-vector is small, its outer product (10**12 numbers, 8 TB) is not
    spec = "inputs:\n  a: {shape: [1000000]}\nnodes:\n  L: sum(outer(a, a))\n"
    result, path, out = run(tmp_path, spec, "--check")
    assert result.exit_code == 2, result.output
    msg = one_error_line(result)
    assert "too large to check" in msg, msg
    assert "internal error" not in msg
    assert not out.exists()


def test_nan_during_the_check_is_a_failure_not_a_pass(tmp_path):
    # log of a real-domain input is NaN for the negative draws; the gradient 1/a is finite
    spec = "inputs:\n  a: {shape: [5]}\nnodes:\n  L: sum(log(a))\n"
    result, path, out = run(tmp_path, spec, command="check")
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "nan" in result.stdout.lower()
    assert "all passed" not in result.stdout


# --- the command line around it ---------------------------------------------------------------------
def test_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["derive", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read the spec: No such file or directory" in one_error_line(result)


def test_output_never_overwrites_the_spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(node("sum(a)"))
    before = path.read_bytes()
    for cmd in (["derive", str(path), "-o", str(path), "--no-check"],
                ["derive", str(path), "-o", str(tmp_path / "." / "spec.json"), "--format", "json", "--no-check"],
                ["compile", str(path), "-o", str(path)]):
        result = CliRunner().invoke(main, cmd)
        assert result.exit_code == 2, result.output
        assert "refusing to overwrite the spec itself" in one_error_line(result)
        assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["spec.json"]


def test_output_into_a_missing_folder(tmp_path):
    result, path, out = run(tmp_path, node("sum(a)"))
    result = CliRunner().invoke(main, ["derive", str(path), "-o", str(tmp_path / "no" / "x.md"), "--no-check"])
    assert result.exit_code == 2
    assert "no such folder" in one_error_line(result)
    assert not (tmp_path / "no").exists()


def test_bad_dim_option(tmp_path):
    result, path, out = run(tmp_path, node("sum(a)"), "--dim", "n=0")
    assert result.exit_code == 2
    assert "--dim: expected NAME=N with a positive integer N" in one_error_line(result)
    assert not out.exists()


def test_check_reports_each_bad_spec_on_one_line_and_goes_on(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(node("sum(a**2)"))
    bad.write_text(node("sum(a) + zz"))
    result = CliRunner().invoke(main, ["check", str(bad), str(good)])
    assert result.exit_code == 2
    assert one_error_line(result).startswith("symgrad: error: %s:5:15: undefined name 'zz'" % bad)
    assert "%s: ok" % good in result.stdout


def test_compile_of_a_bad_spec_writes_nothing(tmp_path):
    result, path, out = run(tmp_path, node("sum(a) + zz"), command="compile")
    assert result.exit_code == 2
    one_error_line(result)
    assert sorted(os.listdir(tmp_path)) == ["spec.yaml"]


def test_error_messages_are_one_line_whatever_the_spec_contains(tmp_path):
    spec = 'inputs:\n  "a\\nb\\r\\x1b[31mred": {shape: [3]}\nnodes:\n  b: a\n'
    msg = expect(tmp_path, spec, 2, 3, "is not a valid identifier")
    assert "\x1b" not in msg and "\\n" in msg


def test_internal_errors_are_one_line_with_a_hint_and_traceback_only_with_debug(tmp_path, monkeypatch):
    def broken(problem):
        raise ValueError("boom\nsecond line")
    monkeypatch.setattr(symgrad, "derive", broken)
    result, path, out = run(tmp_path, node("sum(a)"))
    assert result.exit_code == 2
    msg = one_error_line(result)
    assert msg == ("symgrad: internal error: ValueError: boom (please report it; --debug shows the traceback)")
    assert not out.exists()
    result, path, out = run(tmp_path, node("sum(a)"), "--debug")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith("symgrad: internal error: ValueError: boom")
    assert not out.exists()
