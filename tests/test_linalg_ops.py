"""The linear algebra of issue 13 beyond the generated op tests: textbook closed forms,
PyTorch's measured conventions (/work/notes/opfacts OPS.md items 6, 15, 16), the autograd
model for the variants that change the graph, second order through every rule, LaTeX that
KaTeX renders, spec errors, and symbolic dims.
"""
import os
import shutil

import pytest
import torch
import yaml

import symgrad
from symgrad.errors import SpecError
from symgrad.notes.text import torch_code
from op_cases import CASES
from test_ops import spec_for
from test_schedule_ops import agree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from test_render import KATEX, run_katex  # noqa: E402
OURS = ["solve", "cholesky", "slogdet", "matrix_power", "pinv", "eigvalsh", "eigh", "matrix_exp", "kron",
        "cross", "cdist", "pad", "tril"]
R, SPD = "real", "spd"


def derive(expr, inputs, check=True):
    d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
    if check:
        report = d.check()
        assert report.passed, [(r.output, r.wrt, r.message) for r in report.rows if not r.passed]
    return d


def text(expr, inputs, wrt):
    return derive(expr, inputs).gradient("y", wrt).text


# --- closed forms as a textbook prints them ------------------------------------------------

@pytest.mark.parametrize("expr,inputs,wrt,want", [
    ("solve(A, B)", {"A": ([3, 3], R), "B": ([3, 2], R)}, "B", "solve(A.T, grad_y)"),
    ("solve(A, B)", {"A": ([3, 3], R), "B": ([3, 2], R)}, "A", "-solve(A.T, grad_y) @ y.T"),
    ("solve(A, B)", {"A": ([3, 3], SPD), "B": ([3, 2], R)}, "A", "-solve(A, grad_y) @ y.T"),
    ("solve(A, b)", {"A": ([3, 3], R), "b": ([3], R)}, "A", "-outer(solve(A.T, grad_y), y)"),
    ("slogdet(A)", {"A": ([3, 3], R)}, "A", "inverse(A).T"),
    ("slogdet(A)", {"A": ([3, 3], SPD)}, "A", "inverse(A)"),
    ("eigvalsh(A)", {"A": ([3, 3], SPD)}, "A", "(eigh(A).eigenvectors*grad_y) @ eigh(A).eigenvectors.T"),
    ("sum(eigvalsh(A))", {"A": ([3, 3], SPD)}, "A", "eye(3)"),
    ("matrix_power(A, 2)", {"A": ([3, 3], R)}, "A", "grad_y @ A.T + A.T @ grad_y"),
    ("matrix_power(A, -1)", {"A": ([3, 3], R)}, "A", "-y.T @ grad_y @ y.T"),
    ("cross(a, b)", {"a": ([4, 3], R), "b": ([4, 3], R)}, "a", "cross(b, grad_y, dim=1)"),
    ("cross(a, b)", {"a": ([4, 3], R), "b": ([4, 3], R)}, "b", "cross(grad_y, a, dim=1)"),
    ("kron(a, b)", {"a": ([2, 3], R), "b": ([4, 5], R)}, "a",
     "sum(reshape(b, (1, 4, 1, 5))*reshape(grad_y, (2, 4, 3, 5)), dim=(1, 3))"),
    ("cdist(a, b)", {"a": ([3, 2], R), "b": ([4, 2], R)}, "a",
     "sum(where(y > 0, grad_y/y, 0), dim=1, keepdim=True)*a - where(y > 0, grad_y/y, 0) @ b"),
    ("matrix_exp(A)", {"A": ([3, 3], R)}, "A",
     "pad(matrix_exp(pad(grad_y, (3, 0, 0, 3)) + pad(A.T, (0, 3, 0, 3)) + pad(A.T, (3, 0, 3, 0))), (-3, 0, 0, -3))"),
    ("cholesky(A)", {"A": ([3, 3], SPD)}, "A",
     "inverse(y).T @ (tril(y.T @ grad_y).T + tril(y.T @ grad_y) - eye(3)*(y.T @ grad_y)) @ inverse(y)/2"),
])
def test_textbook_closed_form(expr, inputs, wrt, want):
    assert text(expr, inputs, wrt) == want


def test_pinv_is_golub_pereyra():
    got = text("pinv(A)", {"A": ([3, 4], R)}, "A")
    assert got == ("((eye(3) - A @ y) @ grad_y.T @ y - y.T @ grad_y) @ y.T "
                   "+ y.T @ y @ grad_y.T @ (eye(4) - y @ A)")


def test_matrix_power_sums_the_n_placements():
    got = text("matrix_power(A, 3)", {"A": ([3, 3], R)}, "A")
    assert got == "A.T @ grad_y @ A.T + grad_y @ matrix_power(A, 2).T + matrix_power(A, 2).T @ grad_y"


def test_gaussian_log_likelihood_example():
    """examples/gaussian_loglik.yaml: d/dmu is Sigma^{-1} r, the forward value a; d/dSigma is
    (a a^T - Sigma^{-1})/2, its log-det half through the Cholesky factor's rule."""
    d = symgrad.derive(symgrad.load(os.path.join(ROOT, "examples", "gaussian_loglik.yaml")))
    assert d.check().passed
    assert d.gradient("ll", "mu").text == "a"
    gs = d.gradient("ll", "S")
    assert gs.text.startswith("(inverse(L).T @ (tril(L.T @ ") and gs.text.endswith(" @ inverse(L) + outer(a, a))/2")
    fn = d.compile()
    torch.manual_seed(0)
    m = torch.randn(4, 4, dtype=torch.float64)
    x, mu, S = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64), m @ m.T + 4 * torch.eye(4)
    si = torch.linalg.inv(S)
    a = si @ (x - mu)
    got = fn(x=x, mu=mu, S=S)["ll"]
    assert torch.allclose(got["mu"], a) and torch.allclose(got["S"], (torch.outer(a, a) - si) / 2)


# --- PyTorch's conventions, measured (OPS.md) -------------------------------------------------

def gradient_at(expr, inputs, wrt):
    """The compiled closed form of d sum(y)/d wrt at the inputs' values."""
    d = derive(expr, inputs)
    vals = {k: torch.tensor(v[2], dtype=torch.float64) for k, v in inputs.items()}
    extra = {}
    if d.problem.tensors["y"].tshape:
        extra["grad_y"] = torch.ones([int(s) for s in d.problem.tensors["y"].tshape], dtype=torch.float64)
    return d.compile()(**vals, **extra)["y"][wrt]


def test_cholesky_reads_the_lower_triangle_and_returns_a_symmetric_gradient():
    g = gradient_at("cholesky(A)", {"A": ([2, 2], R, [[4.0, 100.0], [2.0, 3.0]])}, "A")
    want = torch.tensor([[0.213388347648, 0.073223304703], [0.073223304703, 0.353553390593]], dtype=torch.float64)
    assert torch.allclose(g, want, atol=1e-11)


def test_eigvalsh_reads_the_lower_triangle_and_returns_a_symmetric_gradient():
    g = gradient_at("eigvalsh(A)", {"A": ([2, 2], R, [[2.0, 100.0], [1.0, 3.0]])}, "A")
    assert torch.allclose(g, torch.eye(2, dtype=torch.float64), atol=1e-12)


def test_slogdet_of_a_negative_determinant():
    g = gradient_at("slogdet(A)", {"A": ([2, 2], R, [[1.0, 2.0], [3.0, 1.0]])}, "A")
    want = torch.linalg.inv(torch.tensor([[1.0, 2.0], [3.0, 1.0]], dtype=torch.float64)).T
    assert torch.allclose(g, want)


@pytest.mark.parametrize("p,ga,gb", [
    ("2.0", [[-0.514495755428, -0.857492925713], [0.259893185687, -0.187320409813]],
     [[-0.707106781187, -0.707106781187], [0.961709350927, 1.751920116712]]),
    ("1.0", [[-1.0, -1.0], [0.0, 0.0]], [[-1.0, -1.0], [2.0, 2.0]]),
])
def test_cdist_coinciding_points_pass_no_gradient(p, ga, gb):
    inputs = {"a": ([2, 2], R, [[0.0, 0.0], [1.0, 1.0]]), "b": ([2, 2], R, [[0.0, 0.0], [3.0, 5.0]])}
    expr = "cdist(a, b, p=%s)" % p
    assert torch.allclose(gradient_at(expr, inputs, "a"), torch.tensor(ga, dtype=torch.float64), atol=1e-11)
    assert torch.allclose(gradient_at(expr, inputs, "b"), torch.tensor(gb, dtype=torch.float64), atol=1e-11)


def test_slogdet_means_the_log_abs_det_in_the_listing_too():
    assert torch_code("slogdet(A) + A.slogdet()") == \
        ("torch.linalg.slogdet(A).logabsdet + A.slogdet().logabsdet", False)


# --- the autograd model: what changes the graph ------------------------------------------------

T, F = True, False
VARIANTS = [
    ("solve(A, B)", {"A": ([3, 3], SPD, T), "B": ([3, 2], R, F)}),
    ("solve(A, B)", {"A": ([3, 3], SPD, F), "B": ([3, 2], R, T)}),
    ("solve(A, b)", {"A": ([2, 3, 3], SPD, T), "b": ([3], R, T)}),
    ("cholesky(A, upper=True)", {"A": ([2, 3, 3], SPD)}),
    ("kron(a, b)", {"a": ([2, 3], R, T), "b": ([4], R, F)}),
    ("kron(a, b)", {"a": ([2, 3], R, F), "b": ([4], R, T)}),
    ("kron(a.T, b)", {"a": ([3, 2], R, T), "b": ([4, 2], R, T)}),
    ("cross(a, b)", {"a": ([4, 3], R, T), "b": ([4, 3], R, F)}),
    ("cross(a, b)", {"a": ([4, 3], R, F), "b": ([4, 3], R, T)}),
    ("cdist(a, b)", {"a": ([30, 2], R, F), "b": ([4, 2], R, T)}),
    ("cdist(a, b)", {"a": ([3, 2], R), "b": ([26, 2], R)}),
    ("cdist(a, b)", {"a": ([25, 2], R), "b": ([25, 2], R)}),
    ("cdist(a, b, p=1.0)", {"a": ([30, 2], R), "b": ([4, 2], R)}),
    ("cdist(a, b, compute_mode='use_mm_for_euclid_dist')", {"a": ([3, 2], R), "b": ([4, 2], R)}),
    ("cdist(a, b, compute_mode='donot_use_mm_for_euclid_dist')", {"a": ([30, 2], R), "b": ([4, 2], R)}),
    ("cdist(a, b)", {"a": ([2, 26, 2], R), "b": ([1, 4, 2], R)}),
    ("eigh(A).eigenvectors * eigh(A).eigenvalues", {"A": ([3, 3], SPD)}),
    ("eigh(A).eigenvectors", {"A": ([3, 3], SPD, F)}),
    ("pad(x, (0, 0))", {"x": ([2, 3], R)}),
    ("matrix_exp(A)", {"A": ([2, 3, 3], R)}),
    ("pinv(A)", {"A": ([2, 3, 4], R)}),
] + [("matrix_power(A, %d)" % n, {"A": (shape, SPD)}) for n in range(-3, 7) for shape in ([3, 3], [2, 3, 3])]


@pytest.mark.parametrize("expr,inputs", VARIANTS, ids=["%s-%d" % (v[0], k) for k, v in enumerate(VARIANTS)])
def test_variant_graph_matches_pytorch(expr, inputs):
    agree(expr, inputs)


# --- second order: every rule's closed form differentiates again ------------------------------

FIRST = [(name, CASES[name][0][0], CASES[name][0][1]) for name in OURS]


@pytest.mark.parametrize("name,expr,inputs", FIRST, ids=[f[0] for f in FIRST])
def test_closed_forms_differentiate_again(name, expr, inputs):
    """h = sum(w * dy/dx(grad_y = G)) for constants G, w: derived again and checked."""
    d = derive(expr, inputs)
    g = d.gradient("y", sorted(k for k in inputs if not k.startswith("c"))[0])
    assert not d.named["y"].defs, "a named adjoint: inline it before differentiating"
    spec = yaml.safe_load(spec_for(expr, inputs))
    shape_y = [int(s) for s in d.problem.tensors["y"].tshape]
    spec["inputs"]["cG"] = {"shape": shape_y, "requires_grad": False}
    spec["inputs"]["cW"] = {"shape": [int(s) for s in g.shape], "requires_grad": False}
    spec["nodes"]["h"] = "sum((%s) * cW)" % g.text.replace("grad_y", "cG")
    spec["outputs"] = ["h"]
    d2 = symgrad.derive(symgrad.loads(yaml.safe_dump(spec, sort_keys=False)))
    report = d2.check()
    assert report.passed, [(r.output, r.wrt, r.message, d2.gradient(r.output, r.wrt).text)
                           for r in report.rows if not r.passed]


# --- LaTeX: matrix and index notation render in KaTeX -------------------------------------------



@pytest.mark.skipif(not shutil.which("node") or not os.path.isdir(KATEX),
                    reason="node or node_modules/katex missing (npm install --no-save katex@0.16)")
def test_latex_and_index_notation_render_in_katex(tmp_path):
    from test_render import formulas
    items = []
    for name in OURS:
        for k, (expr, inputs) in enumerate(CASES[name]):
            d = derive(expr, inputs, check=False)
            where = "%s-%d" % (name, k)
            for g in d.gradients:
                items += [[g.latex, where], [g.index_latex, where + " (index)"]]
            items += [[t, where + " (notes)"] for t, _ in formulas(d.render("md"))]
    res = run_katex(items, tmp_path)
    assert res["n"] > 300 and not res["bad"], "\n".join(res["bad"][:20])


# --- spec errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("expr,inputs,msg", [
    ("solve(A, B)", {"A": ([3, 3], R), "B": ([2, 2], R)}, "solve: shapes [3, 3] and [2, 2] do not fit"),
    ("solve(A, B)", {"A": ([3, 2], R), "B": ([3, 2], R)}, "solve: needs a square matrix"),
    ("cholesky(A)", {"A": ([3], R)}, "cholesky: needs a square matrix"),
    ("eigh(A)", {"A": ([3, 3], SPD)}, "eigh() returns a named tuple (eigenvalues, eigenvectors)"),
    ("eigh(A).vectors", {"A": ([3, 3], SPD)}, "attribute access '.vectors' is not allowed"),
    ("solve(A, A).eigenvectors", {"A": ([3, 3], SPD)}, "attribute access '.eigenvectors' is not allowed"),
    ("eigvalsh(A, UPLO='X')", {"A": ([3, 3], SPD)}, "UPLO must be 'L' or 'U'"),
    ("cross(a, b)", {"a": ([2, 4], R), "b": ([2, 4], R)}, "no dimension of size 3"),
    ("cross(a, b)", {"a": ([3], R), "b": ([2, 3], R)}, "same number of dimensions"),
    ("cdist(a, b, p=-1.0)", {"a": ([3, 2], R), "b": ([4, 2], R)}, "non-negative p"),
    ("cdist(a, b)", {"a": ([3, 2], R), "b": ([4, 3], R)}, "same number of columns"),
    ("pad(x, (1,))", {"x": ([2, 3], R)}, "do not fit"),
    ("pad(x, (-2, -1))", {"x": ([2, 3], R)}, "empty"),
    ("pad(x, (1, 1), mode='reflect')", {"x": ([2, 3], R)}, "only mode='constant'"),
    ("pinv(A, hermitian=True)", {"A": ([3, 3], SPD)}, "hermitian=True is not supported"),
    ("kron(a, 2.0)", {"a": ([3], R)}, "needs a tensor"),
    ("matrix_power(A, 2)", {"A": ([2, 3], R)}, "matrix_power: needs a square matrix"),
])
def test_spec_errors(expr, inputs, msg):
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec_for(expr, inputs))
    assert msg in str(e.value)


# --- symbolic dims -------------------------------------------------------------------------------

def test_matrix_exp_of_a_symbolic_size_pads_by_the_dim():
    spec = "dims: {n: 3}\ninputs:\n  A: {shape: [n, n]}\nnodes:\n  y: sum(matrix_exp(A))\n"
    d = symgrad.derive(symgrad.loads(spec))
    assert d.check().passed
    g = d.gradient("y", "A").text
    assert "(0, n, 0, n)" in g and "(-n, 0, 0, -n)" in g
    from conftest import parse_back
    env = dict(d.problem.tensors)
    env.update({name: sym for name, (sym, _) in d.problem.dims.items()})
    assert (parse_back(d, d.gradient("y", "A"), env) - d.gradient("y", "A").expr) == 0


def test_cdist_kernel_choice_reads_dim_values():
    spec = "dims: {m: 30}\ninputs:\n  a: {shape: [m, 2]}\n  b: {shape: [4, 2]}\nnodes:\n  y: cdist(a, b)\n"
    from symgrad.autograd.recorded import autograd_graph
    v = autograd_graph(symgrad.loads(spec)).values["y"]
    assert v.grad_fn.name == "ViewBackward0" and v.grad_fn.raiser == "EuclideanDistBackward0"
