"""Structural simplification (SPEC section 9): what a reader sees at once, the closed form says.

Each case is a textbook identity: forward values reused by name, what a domain implies
(spd: symmetric), identities of reductions (a centred tensor sums to zero), terms equal up
to reassociation combine, common factors pulled out.  Every one is also checked against
autograd, so a simplification that is not exact fails here.
"""
import pytest

import symgrad

LAYER_NORM = """
dims: {n: 4, d: 6}
inputs:
  x: {shape: [n, d]}
  g: {shape: [d]}
  b: {shape: [d]}
  gY: {shape: [n, d], requires_grad: false}
nodes:
  mu: mean(x, dim=1, keepdim=True)
  xc: x - mu
  v: mean(xc**2, dim=1, keepdim=True)
  xh: xc/sqrt(v + 0.00001)
  Y: g*xh + b
  L: sum(Y*gY)
"""

BATCH_NORM = LAYER_NORM.replace("dim=1", "dim=0").replace("g: {shape: [d]}", "g: {shape: [d]}")

MAHALANOBIS = """
inputs:
  x: {shape: [5]}
  mu: {shape: [5]}
  P: {shape: [5, 5], domain: spd}
nodes:
  r: x - mu
  d: sqrt(r @ P @ r)
"""

TRACE4 = "inputs:\n  X: {shape: [4, 4]}\nnodes:\n  t: trace(X @ X @ X @ X)\n"

GENERAL_INVERSE = """
inputs:
  a: {shape: [3], requires_grad: false}
  b: {shape: [3], requires_grad: false}
  X: {shape: [3, 3]}
nodes:
  f: a @ inverse(X) @ b
  D: det(X)
"""


def derive(text):
    d = symgrad.derive(symgrad.loads(text))
    report = d.check()
    assert report.passed, [(r.output, r.wrt, r.message) for r in report.rows if not r.passed]
    return d


def test_layer_norm_is_the_textbook_form():
    d = derive(LAYER_NORM)
    assert d.gradient("L", "x").text == ("(g*gY - mean(g*gY, dim=1, keepdim=True) - "
                                         "mean(g*gY*xh, dim=1, keepdim=True)*xh)/sqrt(v + 1/100000)")


def test_batch_norm_centres_along_the_batch():
    d = derive(BATCH_NORM)
    # g is constant along the batch: it moves out of the means
    assert d.gradient("L", "x").text == ("(gY - mean(gY, dim=0, keepdim=True) - "
                                         "mean(gY*xh, dim=0, keepdim=True)*xh)*g/sqrt(v + 1/100000)")


def test_mahalanobis_uses_symmetry_and_the_forward_value():
    d = derive(MAHALANOBIS)
    assert d.gradient("d", "x").text == "P @ r/d"
    assert d.gradient("d", "P").text == "outer(r, r)/(2*d)"


def test_trace_of_a_fourth_power_combines_reassociated_terms():
    assert derive(TRACE4).gradient("t", "X").text == "4*(X @ X @ X).T"


def test_a_general_matrix_keeps_its_transposes():
    d = derive(GENERAL_INVERSE)
    assert d.gradient("f", "X").text == "-inverse(X).T @ outer(a, b) @ inverse(X).T"
    assert d.gradient("D", "X").text == "D*inverse(X).T"


def test_symmetry_is_never_used_on_a_forward_definition():
    """a @ S and S @ a are equal for a symmetric S, but their unconstrained gradients (what
    PyTorch computes) are transposes of each other: the forward text is never rewritten."""
    text = ("inputs:\n  a: {shape: [3], requires_grad: false}\n  c: {shape: [3], requires_grad: false}\n"
            "  S: {shape: [3, 3], domain: spd}\nnodes:\n  f: a @ S @ c\n  t: trace(a[None].T @ c[None] @ S.T)\n")
    d = derive(text.replace("\n  t: trace(a[None].T @ c[None] @ S.T)", ""))
    assert d.gradient("f", "S").text == "outer(a, c)"


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_relu_masks_name_their_node(depth):
    nodes = "".join("  h%d: relu(h%d @ W%d.T + b%d)\n" % (k, k - 1, k, k) for k in range(1, depth + 1))
    inputs = "".join("  W%d: {shape: [3, 3]}\n  b%d: {shape: [3]}\n" % (k, k) for k in range(1, depth + 1))
    text = "inputs:\n  h0: {shape: [2, 3], requires_grad: false}\n" + inputs + "nodes:\n" + nodes + \
        "  L: sum(h%d)\n" % depth
    d = derive(text)
    texts = [a.text for a in d.adjoints("L").values()] + [g.text for g in d.gradients]
    assert any("(h1 > 0)" in t for t in texts)
    assert not any("b1 >" in t or "W1.T + b1 >" in t for t in texts)
