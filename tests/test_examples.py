"""Every example derives to its textbook closed form and passes the numeric check."""
import glob
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from conftest import EXAMPLES, ROOT

FILES = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))
GOLDEN = os.path.join(ROOT, "tests", "golden")


def derive(name):
    return symgrad.derive(symgrad.load(os.path.join(EXAMPLES, name)))


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_example_checks(path):
    d = symgrad.derive(symgrad.load(path))
    report = d.check()
    assert report.passed, [r for r in report.rows if not r.passed] or report.schedule_rows


@pytest.mark.parametrize("name,output,wrt,text", [
    ("multi_loss.yaml", "d", "a", "a"),
    ("multi_loss.yaml", "e", "a", "4*a"),
    ("least_squares.yaml", "L", "w", "2*X.T @ r"),
    ("logistic_regression.yaml", "L", "w", "X.T @ (p - y)/n"),
    ("softmax_cross_entropy.yaml", "L", "W", "x.T @ (softmax(z, dim=1) - y)/n"),
    ("softmax_cross_entropy.yaml", "L", "b", "mean(softmax(z, dim=1) - y, dim=0)"),
    ("cookbook_trace.yaml", "t", "X", "A.T"),
    ("cookbook_trace.yaml", "q", "X", "(B + B.T) @ X"),
    # X is declared spd: symmetric, so inverse(X).T is inverse(X) (test_structure: general X)
    ("cookbook_det.yaml", "D", "X", "D*inverse(X)"),
    ("cookbook_logdet.yaml", "L", "X", "inverse(X)"),
    ("cookbook_inverse.yaml", "f", "X", "-inverse(X) @ outer(a, b) @ inverse(X)"),
    ("cookbook_quadratic.yaml", "q", "x", "(B + B.T) @ x"),
])
def test_textbook_closed_forms(name, output, wrt, text):
    """The closed form with its adjoints written out is the textbook's."""
    assert derive(name).gradient(output, wrt).inline_text == text


@pytest.mark.parametrize("name,output,adjoints,gradients", [
    ("softmax_cross_entropy.yaml", "L", {"grad_z": "(softmax(z, dim=1) - y)/n"},
     {"W": "x.T @ grad_z", "b": "sum(grad_z, dim=0)"}),
    ("mlp_tanh.yaml", "L", {"grad_h_pre": "(1 - h**2)*((out - y) @ W2.T)/4"},
     {"W1": "x.T @ grad_h_pre", "b1": "sum(grad_h_pre, dim=0)", "W2": "h.T @ (out - y)/4"}),
    ("mlp_leaves.yaml", "loss", {"grad_z": "(softmax(z, dim=1) - y)/4",
                                 "grad_h2_pre": "(grad_z @ W3)*(h2 > 0)",
                                 "grad_h1_pre": "(grad_h2_pre @ W2)*(h1 > 0)"},
     {"W1": "grad_h1_pre.T @ xf", "W2": "grad_h2_pre.T @ h1", "W3": "grad_z.T @ h2",
      "b2": "sum(grad_h2_pre, dim=0)"}),
    ("multi_loss.yaml", "d", {}, {"a": "a"}),
    ("lstm_cell.yaml", "L", {"grad_c": "2*(1 - tanh(c)**2)*(h - y)*o/(3*B)",
                             "grad_gates": "cat(((1 - i)*g*grad_c*i, (1 - f)*c0*f*grad_c, (1 - g**2)*grad_c*i, "
                                           "2*(1 - o)*(h - y)*h/(3*B)), dim=1)"},
     {"W_ih": "grad_gates.T @ x", "W_hh": "grad_gates.T @ h0", "b": "sum(grad_gates, dim=0)"}),
])
def test_named_adjoints_read_like_backprop(name, output, adjoints, gradients):
    """SPEC section 9: a few named adjoints, each defined once, then one short line each."""
    d = derive(name)
    assert {n: a.text for n, a in d.adjoints(output).items()} == adjoints
    for wrt, text in gradients.items():
        assert d.gradient(output, wrt).text == text


def test_notebook_latex_and_index_notation():
    g = derive("multi_loss.yaml").gradient("d", "a")
    assert g.latex == "a"
    assert g.index_latex == r"\frac{\partial d}{\partial a_{ij}} = a_{ij}"
    assert derive("multi_loss.yaml").gradient("e", "a").latex == "4 a"


def test_mlp_weight_gradients_name_intermediates():
    d = derive("mlp_tanh.yaml")
    w1 = d.gradient("L", "W1").inline_text
    assert "x.T @" in w1 and "1 - h**2" in w1 and "W2.T" in w1
    assert d.gradient("L", "W1").uses == ("grad_h_pre",)
    assert d.gradient("L", "W2").text == "h.T @ (out - y)/4" and d.gradient("L", "W2").uses == ()


def chain(depth, width):
    s = "inputs:\n  x: {shape: [8, %d], requires_grad: false}\n" % width
    s += "".join("  W%d: {shape: [%d, %d]}\n" % (k, width, width) for k in range(1, depth + 1))
    s += "nodes:\n"
    prev = "x"
    for k in range(1, depth + 1):
        s += "  h%d: tanh(%s @ W%d)\n" % (k, prev, k)
        prev = "h%d" % k
    return s + "  L: sum(%s**2)\n" % prev


def test_closed_forms_are_shape_generic():
    small = symgrad.derive(symgrad.loads(chain(3, 4)))
    big = symgrad.derive(symgrad.loads(chain(3, 4096)))
    assert [g.text for g in small.gradients] == [g.text for g in big.gradients]


def test_deep_chain_grows_linearly():
    sizes = {}
    for depth in (5, 10, 20, 40):
        d = symgrad.derive(symgrad.loads(chain(depth, 3)))
        sizes[depth] = len(d.gradient("L", "W1").text)
    assert sizes[40] <= 9 * sizes[5]
    assert sizes[40] - sizes[20] <= 2.5 * (sizes[20] - sizes[10])


def test_cli_derive_prints_the_notebook_result():
    r = CliRunner().invoke(main, ["derive", os.path.join(EXAMPLES, "multi_loss.yaml"), "--no-check"])
    assert r.exit_code == 0, r.output
    assert "dd/da = a\n" in r.output and "de/da = 4*a\n" in r.output


def test_python_dash_m_works():
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "symgrad", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and "0.1.0" in p.stdout


def test_golden_json():
    r = CliRunner().invoke(main, ["derive", os.path.join(EXAMPLES, "multi_loss.yaml"), "--format", "json",
                                  "--no-check"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    path = os.path.join(GOLDEN, "multi_loss.json")
    if os.environ.get("SYMGRAD_UPDATE_GOLDEN") or not os.path.exists(path):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(r.output)
    with open(path) as f:
        assert data == json.load(f)
    assert data["gradients"][0]["text"] == "a" and data["gradients"][1]["text"] == "4*a"
    assert data["tensors"]["a"] == {"kind": "input", "shape": [1, 4], "requires_grad": True, "is_leaf": True}
    assert data["tensors"]["b"]["is_leaf"] is False and data["check"] is None


def test_readme_api_example_is_true():
    g = derive("least_squares.yaml").gradient("L", "w")
    readme = Path(ROOT, "README.md").read_text(encoding="utf-8")
    assert g.text == "2*X.T @ r" and g.latex == r"2 X^{\top} r"
    assert g.index_latex == r"\frac{\partial L}{\partial w_{i}} = 2 \left(\sum_{j} X_{ji} r_{j}\right)"
    for claim in (g.text, g.latex.replace("\\", "\\\\"), g.index_latex.replace("\\", "\\\\")):
        assert claim in readme, claim


def test_readme_example_output_is_real():
    r = CliRunner().invoke(main, ["derive", os.path.join(EXAMPLES, "multi_loss.yaml")])
    readme = Path(ROOT, "README.md").read_text(encoding="utf-8")
    assert r.exit_code == 0
    assert r.output.strip() in readme
