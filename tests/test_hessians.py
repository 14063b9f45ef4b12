"""Second order (SPEC section 11): Hessians and Hessian-vector products in closed form.

Every case of `tests/second_cases.py` (the Matrix Cookbook, ML models, cross Hessians,
4-tensor Hessians of matrix arguments) is checked against PyTorch in float64: the compiled
``hessians()`` against ``torch.func.hessian``, ``hvps()`` against double backward, and the
printed texts evaluated with real torch ops.  Then the textbook forms, the spec's
``hessians:`` key, the API, the JSON, the compiled module and the CLI.
"""
import json
import os
import time
import warnings

import pytest
import torch
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.numeric.inputs import draw_inputs, dim_values
from symgrad.numeric.reference import TorchEval
from symgrad.numeric.check import reference
from second_cases import CASES


def derive(name_or_text):
    return symgrad.derive(symgrad.loads(CASES.get(name_or_text, name_or_text)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_hessians_and_hvps_equal_pytorch(name):
    d = derive(name)
    report = d.check(dtype="float64")
    second = [r for r in report.rows if r.kind in ("hessian", "hvp")]
    assert len(second) == 2 * len(d.hessians)
    bad = [r for r in report.rows if not r.passed]
    assert not bad, [(r.kind, r.wrt, r.message, r.max_abs_err) for r in bad]


@pytest.mark.parametrize("name", sorted(CASES))
def test_texts_mean_the_same_in_pytorch(name):
    """text and hvp_text, with the named adjoints' texts evaluated first, parse back and
    compute the compiled module's values with real torch ops."""
    d = derive(name)
    prob = d.problem
    dims = dim_values(prob)
    ins = draw_inputs(prob, dims, torch.float64, "cpu", 0)
    env, _ = reference(prob, ins, dims, torch.float64, "cpu")
    env = {k: v.detach() for k, v in env.items()}
    mod = d.compile().module
    dirs = {}
    for h in d.hessians:
        dirs.setdefault(h.direction, torch.randn(tuple(env[h.wrt[0]].shape), dtype=torch.float64))
    H, V = mod.hessians(**ins), mod.hvps(**ins, **dirs)
    for f in {h.output for h in d.hessians}:
        for name_, a in d.adjoints(f).items():
            env[name_] = TorchEval(env, dims, torch.float64, "cpu").eval_text(a.text)
    for h in d.hessians:
        f, x, y = (h.output,) + h.wrt
        local = dict(env, **dirs)
        for n, _, value in h.adjoints():
            local[n] = TorchEval(local, dims, torch.float64, "cpu").eval_text(symgrad.printing.to_text(value))
        got = TorchEval(local, dims, torch.float64, "cpu").eval_text(h.text)
        got = torch.as_tensor(got, dtype=torch.float64).expand(H[f][x][y].shape)
        assert torch.allclose(got, H[f][x][y], rtol=1e-9, atol=1e-12), (h.text,)
        got = TorchEval(local, dims, torch.float64, "cpu").eval_text(h.hvp_text)
        got = torch.as_tensor(got, dtype=torch.float64).expand(V[f][x][y].shape)
        assert torch.allclose(got, V[f][x][y], rtol=1e-9, atol=1e-12), (h.hvp_text,)


# --- textbook forms --------------------------------------------------------------------------
TEXTBOOK = [
    ("quadratic", ("q", "x"), "A + A.T", "(A + A.T) @ v_x"),
    ("quadratic_spd", ("q", "x"), "2*S", "2*S @ v_x"),
    ("least_squares", ("L", "w"), "2*X.T @ X", None),
    ("logistic", ("L", "w"), "((1 - p)*p*X.T) @ X/n", "X.T @ ((1 - p)*(X @ v_w)*p)/n"),
    ("logsumexp", ("f", "x"), "eye(5)*s - outer(s, s)", None),
    ("exp_sum", ("f", "x"), "eye(3)*exp(x)", "v_x*exp(x)"),
    # PyTorch: the norm of a zero vector has gradient 0 (its backward masks by f > 0)
    ("norm", ("f", "x"), "where(f > 0, 1/f, 0)*eye(4) + outer(where(f > 0, -x/f**3, 0), x)", None),
    ("logdet_spd", ("L", "X"), "-reshape(inverse(X), (1, n, n, 1))*reshape(inverse(X), (n, 1, 1, n))",
     "-inverse(X) @ v_X.T @ inverse(X)"),
    ("matrix_factorisation", ("f", "U"), "2*reshape(eye(4), (4, 1, 4, 1))*reshape(V.T @ V, (1, 2, 1, 2))",
     "2*v_U @ V.T @ V"),
    ("trace_quadratic", ("f", "X"), "reshape(A + A.T, (3, 1, 3, 1))*reshape(eye(2), (1, 2, 1, 2))",
     "(A + A.T) @ v_X"),
    ("bilinear_matrix", ("f", "X"), "zeros((3, 4, 3, 4))", "zeros_like(X)"),
    ("mahalanobis_cross", ("f", "x"), "P", "P @ v_x"),
]


@pytest.mark.parametrize("name,key,text,hvp", TEXTBOOK, ids=[t[0] for t in TEXTBOOK])
def test_textbook_forms(name, key, text, hvp):
    h = derive(name).hessian(*key)
    assert h.text == text
    if hvp is not None:
        assert h.hvp_text == hvp


def test_logdet_hessian_is_laid_out_as_torch_does_for_a_general_matrix():
    """-X^{-T} (x) X^{-T}: H[a,b,c,d] = -inv(X)[b,c] inv(X)[d,a], not the symmetric layout."""
    d = derive("""
inputs: {A: {shape: [3, 3]}}
nodes: {X: A + 4*eye(3), L: logdet(X)}
hessians: [[L, A]]
""")
    h = d.hessian("L", "A")
    assert h.hvp_text == "-(inverse(X) @ v_A @ inverse(X)).T"
    assert d.check().passed


STRUCTURE = [
    ("logistic", ("L", "w"), "positive semidefinite: f is convex in w"),
    ("least_squares", ("L", "w"), "constant: f is quadratic in w; positive semidefinite: f is convex in w"),
    ("logsumexp", ("f", "x"), "positive semidefinite: f is convex in x"),
    ("matrix_factorisation", ("f", "U"), "constant: f is quadratic in U; positive semidefinite: f is convex in U"),
    ("quadratic", ("q", "x"), "constant: f is quadratic in x"),
    ("bilinear_matrix", ("f", "X"), "zero: f is affine in X"),
    ("mlp_tanh", ("L", "W1"), None),
    ("norm", ("f", "x"), None),
]


@pytest.mark.parametrize("name,key,desc", STRUCTURE, ids=[s[0] for s in STRUCTURE])
def test_structure_is_only_what_is_proven(name, key, desc):
    assert derive(name).hessian(*key).structure == desc


def test_hvp_names_tangents_and_second_order_adjoints():
    d = derive("mlp_tanh")
    h = d.hessian("L", "W1")
    names = [n for n, _, _ in h.adjoints()]
    assert names == ["v_z", "hvp_z"]
    assert h.hvp_text == "x.T @ ((1 - h**2)*(hvp_z @ W2.T - 2*(grad_z @ W2.T)*(x @ v_W1)*h))"
    assert h.uses == ["grad_z", "v_z", "hvp_z"]
    assert "hvp_z" not in h.hvp_inline_text and "grad_z" not in h.hvp_inline_text


# --- derivation cost ---------------------------------------------------------------------------
def test_derivation_time_is_independent_of_tensor_sizes():
    def spec(n, k):
        return CASES["logistic"].replace("{n: 8, k: 3}", "{n: %d, k: %d}" % (n, k))
    texts, times = [], []
    for n, k in ((8, 3), (100000, 4096)):
        t0 = time.perf_counter()
        d = symgrad.derive(symgrad.loads(spec(n, k)))
        times.append(time.perf_counter() - t0)
        texts.append(d.hessian("L", "w").text)
    assert texts[0] == texts[1]
    assert times[1] < 3 * times[0] + 0.5


def test_matrix_hessian_of_a_big_matrix_derives_symbolically():
    d = derive("""
inputs: {U: {shape: [4096, 64]}, V: {shape: [2048, 64]}, Y: {shape: [4096, 2048], requires_grad: false}}
nodes: {f: sum((U @ V.T - Y)**2)}
hessians: [[f, U]]
""")
    h = d.hessian("f", "U")
    assert h.shape == (4096, 64, 4096, 64)
    assert h.text == "2*reshape(eye(4096), (4096, 1, 4096, 1))*reshape(V.T @ V, (1, 64, 1, 64))"


# --- the spec key, the API, the JSON -----------------------------------------------------------
BASE = """
inputs: {x: {shape: [3]}, A: {shape: [3, 3], requires_grad: false}}
nodes: {q: x @ A @ x, v: A @ x}
outputs: [q, v]
"""


@pytest.mark.parametrize("entry,line,col,msg", [
    ("[[q, A]]", 5, 16, "cannot take a Hessian with respect to 'A': it does not require grad"),
    ("[[v, x]]", 5, 13, "'v' has shape [3]: a Hessian needs a scalar output"),
    ("[[z, x]]", 5, 13, "'z' in 'hessians' is not an output of the spec"),
    ("[[q]]", 5, 12, "each entry of 'hessians' must be [f, x] or [f, x, y]"),
    ("[[q, x, x, x]]", 5, 12, "each entry of 'hessians' must be [f, x] or [f, x, y]"),
    ("q", 5, 11, "'hessians' must be a list"),
    ("[[q, x], [q, x, x]]", 5, 20, "appears twice"),
    ("[[q, y]]", 5, 16, "it is not a tensor of the spec"),
    ("[[q, [x]]]", 5, 16, "must be a list of names"),
])
def test_hessians_key_errors_are_located(entry, line, col, msg):
    with pytest.raises(symgrad.SpecError) as e:
        symgrad.loads(BASE + "hessians: %s\n" % entry, file="s.yaml")
    assert msg in e.value.message
    assert (e.value.line, e.value.col) == (line, col)


def test_cli_bad_hessians_is_one_line_exit_2(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(BASE + "hessians: [[q, A]]\n")
    r = CliRunner().invoke(main, ["derive", str(p)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "s.yaml:5:16:" in r.output


def test_api_and_json():
    d = derive(BASE + "hessians: [[q, x]]\n")
    h = d.hessian("q", "x")
    assert h is d.hessian("q", "x", "x")
    assert (h.text, h.hvp_text, h.shape) == ("A + A.T", "(A + A.T) @ v_x", (3, 3))
    assert h.latex == r"A + A^{\top}"
    assert h.index_latex == r"\frac{\partial^{2} q}{\partial x_{i} \partial x_{j}} = A_{ij} + A_{ji}"
    assert h.hvp_latex == r"\left(A + A^{\top}\right) v_{x}"
    data = json.loads(d.to_json())
    entry, = data["hessians"]
    for k in ("output", "wrt", "shape", "text", "latex", "index_latex", "hvp_text", "hvp_latex"):
        assert k in entry
    assert entry["wrt"] == ["x", "x"] and entry["shape"] == [3, 3]
    with pytest.raises(symgrad.SymgradError, match="no Hessian d2q/dA dA"):
        d.hessian("q", "A")
    assert "hessians:" in d.summary() and "d2q/dx dx = A + A.T" in d.summary()


def test_no_hessians_key_means_none():
    d = derive(BASE)
    assert d.hessians == [] and json.loads(d.to_json())["hessians"] == []
    assert "def hessians" not in d.module_source()


# --- the compiled module --------------------------------------------------------------------
def test_compiled_module_never_calls_autograd():
    d = derive("mlp_tanh")
    src = d.module_source()
    for fn in ("hessians", "hvps"):
        body = src[src.index("def %s(" % fn):]
        body = body[:body.index("\n\n\n")] if "\n\n\n" in body else body
        assert "autograd" not in body and "torch.func" not in body and "backward" not in body
    mod = d.compile().module
    prob = d.problem
    ins = draw_inputs(prob, dim_values(prob), torch.float64, "cpu", 0)
    ins = {k: v.requires_grad_(prob.input(k).requires_grad) for k, v in ins.items()}
    H = mod.hessians(**ins)["L"]["W1"]["W1"]
    assert H.shape == (3, 5, 3, 5) and not H.requires_grad
    V = mod.hvps(**ins, v_W1=torch.ones(3, 5, dtype=torch.float64))
    assert set(V["L"]) == {"W1"} and set(V["L"]["W1"]) == {"W1", "W2"}     # only the direction given
    assert V["L"]["W1"]["W2"].shape == (5, 2) and not V["L"]["W1"]["W2"].requires_grad
    with pytest.raises(TypeError, match="hvps\\(\\) needs a direction: v_W1"):
        mod.hvps(**ins)


def test_compiled_module_file_runs_on_its_own(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(CASES["logistic"])
    out = tmp_path / "m.py"
    r = CliRunner().invoke(main, ["compile", str(spec), "-o", str(out)])
    assert r.exit_code == 0, r.output
    import importlib.util
    sp = importlib.util.spec_from_file_location("m", str(out))
    m = importlib.util.module_from_spec(sp)
    sp.loader.exec_module(m)
    assert m.HESSIANS == (("L", "w", "w"),)
    X, y, w = torch.randn(8, 3, dtype=torch.float64), torch.rand(8, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    f = lambda w: torch.nn.functional.binary_cross_entropy(torch.sigmoid(X @ w), y)     # noqa: E731
    with warnings.catch_warnings():       # torch.func loads its decompositions through torch.jit
        warnings.simplefilter("ignore", DeprecationWarning)
        want = torch.func.hessian(f)(w)
    assert torch.allclose(m.hessians(X, y, w)["L"]["w"]["w"], want)


def test_cli_check_with_finite_differences(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(CASES["matrix_factorisation"])
    r = CliRunner().invoke(main, ["check", str(spec), "--fd"])
    assert r.exit_code == 0, r.output
    assert "d2f/dU dV" in r.output and "hvp d2f/dU dU" in r.output and "fd d2f/dV dV" in r.output


def test_check_fails_when_a_closed_form_is_wrong(monkeypatch):
    d = derive("logistic")
    h = d.hessian("L", "w")
    h.expr = 2 * h.expr
    report = d.check()
    row = report.row("L", ["w", "w"], kind="hessian")
    assert not row.passed and "torch.func.hessian" in row.message
    assert report.row("L", ["w", "w"], kind="hvp").passed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda():
    d = derive("mlp_tanh")
    assert d.check(device="cuda").passed


# --- the example: Newton's method with the compiled Hessian -------------------------------------
def test_newton_logistic_example_converges_quadratically():
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                        "newton_logistic.py")
    sp = importlib.util.spec_from_file_location("newton_logistic", path)
    ex = importlib.util.module_from_spec(sp)
    sp.loader.exec_module(ex)
    mod = ex.compiled_module()
    X, y = ex.data()
    w, b, history = ex.newton(mod, X, y)
    norms = [g for _, g in history]
    assert len(history) <= 8 and norms[-1] < 1e-12
    assert all(b2 < 10 * a ** 2 for a, b2 in zip(norms[-4:-1], norms[-3:]))      # quadratic
    # the same optimum by torch.autograd and L-BFGS
    wt = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    bt = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([wt, bt], tolerance_grad=1e-12, tolerance_change=1e-15, max_iter=500,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(X @ wt + bt), y) + (wt ** 2).sum() / 200
        loss.backward()
        return loss
    opt.step(closure)
    assert torch.allclose(w, wt.detach(), atol=1e-6) and abs(float(b - bt.detach())) < 1e-6


def test_an_op_without_a_batching_rule_is_a_named_error_not_a_wrong_hessian(monkeypatch):
    """The HVP needs no batching and stands; the Hessian says which op lacks its rule, the
    check fails on it, and the gradients are untouched."""
    from symgrad.ops.reduce import SumOp
    from symgrad.ops.base import TensorOp
    monkeypatch.setattr(SumOp, "batch", TensorOp.batch)
    d = derive("""
inputs: {x: {shape: [4]}, W: {shape: [3, 4]}}
nodes: {f: 'logsumexp(W @ x, 0)'}
hessians: [[f, x], [f, W, x]]
""")
    h = d.hessian("f", "x")
    assert h.text is None and "no batching rule for sum" in h.error and "SumOp.batch" in h.error
    assert h.hvp_text is not None
    report = d.check(fd=True)
    assert not report.row("f", ["x", "x"], kind="hessian").passed
    assert "no batching rule for sum" in report.row("f", ["x", "x"], kind="hessian").message
    assert report.row("f", ["x", "x"], kind="hvp").passed
    assert report.row("f", "x").passed and report.row("f", "W").passed
    assert "no closed-form Hessian" in d.summary() and json.loads(d.to_json())["hessians"][0]["text"] is None
    assert "'f': {'x': " not in d.module_source().split("def hessians")[1].split("def hvps")[0]


def test_a_hessian_too_large_to_build_is_skipped_but_its_hvp_checked():
    d = derive("""
dims: {n: 8}
inputs: {x: {shape: [n, 64], requires_grad: false}, W: {shape: [64, 48]}}
nodes: {f: sum(tanh(x @ W)**2)}
hessians: [[f, W]]
""")
    report = d.check(dims={"n": 8})
    row = report.row("f", ["W", "W"], kind="hessian")
    assert row.passed and row.message.startswith("skipped: the Hessians have 9437184 entries")
    assert report.row("f", ["W", "W"], kind="hvp").passed and report.passed
