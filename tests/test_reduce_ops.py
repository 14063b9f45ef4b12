"""Statistics, norms and normalisation layers (SPEC section 10): PyTorch's numbers at ties and
kinks, the textbook closed forms, the autograd graph when only some arguments require grad,
the spec errors where PyTorch raises, and every formula of their notes in KaTeX.

The tie and kink values below are the ones measured in PyTorch 2.13 (notes/opfacts): the
compiled closed forms must give them, whatever autograd does on this machine.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import symgrad
from conftest import ROOT, EXAMPLES
from op_cases_reduce import CASES
from test_schedule_ops import agree
from test_ops import spec_for

R, P = "real", "positive"
T, F = True, False


def closed_form(expr, values, grad=None, **shapes):
    """The compiled closed forms of y = expr at the given input values (upstream ``grad``)."""
    inputs = {k: (list(torch.tensor(v).shape), R) for k, v in values.items()}
    inputs.update(shapes)
    d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
    args = {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}
    if grad is not None:
        args["grad_y"] = torch.tensor(grad, dtype=torch.float64)
    elif "y" in d.problem.tensors and d.problem.tensors["y"].tshape and \
            any(int(s) != 1 for s in d.problem.tensors["y"].tshape):
        args["grad_y"] = torch.ones([int(s) for s in d.problem.tensors["y"].tshape], dtype=torch.float64)
    return d.compile()(**args)["y"]


THIRD = 1 / 3
MEASURED = [
    # (expr, input values, upstream gradient or None (ones), {input: PyTorch's gradient})
    ("amax(x, dim=1)", {"x": [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]}, None,
     {"x": [[0.0, 0.5, 0.5], [THIRD, THIRD, THIRD]]}),
    ("amax(x)", {"x": [[1.0, 3.0], [3.0, 3.0]]}, None, {"x": [[0.0, THIRD], [THIRD, THIRD]]}),
    ("amin(x, dim=1)", {"x": [[1.0, 1.0, 3.0], [2.0, 2.0, 2.0]]}, None,
     {"x": [[0.5, 0.5, 0.0], [THIRD, THIRD, THIRD]]}),
    ("max(x)", {"x": [[1.0, 3.0], [3.0, 3.0]]}, None, {"x": [[0.0, THIRD], [THIRD, THIRD]]}),
    ("min(x)", {"x": [[1.0, 3.0], [1.0, 1.0]]}, None, {"x": [[THIRD, 0.0], [THIRD, THIRD]]}),
    ("max(x, 1)", {"x": [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]}, None, {"x": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]}),
    ("min(x, 1)", {"x": [[1.0, 1.0, 3.0], [2.0, 2.0, 2.0]]}, None, {"x": [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]}),
    ("prod(x)", {"x": [2.0, 0.0, 3.0]}, None, {"x": [0.0, 6.0, 0.0]}),
    ("prod(x)", {"x": [0.0, 2.0, 0.0]}, None, {"x": [0.0, 0.0, 0.0]}),
    ("prod(x, 1)", {"x": [[2.0, 0.0, 3.0], [0.0, 5.0, 0.0]]}, None, {"x": [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]]}),
    ("var(x, dim=1)", {"x": [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]}, None, {"x": [[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]]}),
    ("std(x, dim=1)", {"x": [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]}, None, {"x": [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]]}),
    ("norm(x)", {"x": [0.0, 0.0, 0.0]}, None, {"x": [0.0, 0.0, 0.0]}),
    ("norm(x, dim=1)", {"x": [[0.0, 0.0], [3.0, 4.0]]}, None, {"x": [[0.0, 0.0], [0.6, 0.8]]}),
    ("norm(x, p=1)", {"x": [0.0, -2.0, 1.0]}, None, {"x": [0.0, -1.0, 1.0]}),
    ("normalize(x, dim=0)", {"x": [0.0, 0.0]}, [1.0, 2.0], {"x": [1e12, 2e12]}),
    ("normalize(x, dim=0, eps=1.0)", {"x": [0.3, 0.4]}, [1.0, 2.0], {"x": [1.0, 2.0]}),
    ("cosine_similarity(a, b, dim=0)", {"a": [0.0, 0.0], "b": [1.0, 2.0]}, None,
     {"a": [44721359.549995795, 89442719.09999159], "b": [0.0, 0.0]}),
    ("rms_norm(x, (2,), eps=1e-6)", {"x": [[0.0, 0.0], [3.0, 4.0]]}, None,
     {"x": [[1000.0, 1000.0], [0.045254851193, -0.033941098797]]}),
    ("layer_norm(x, (3,))", {"x": [[1.0, 1.0, 1.0], [0.0, 1.0, 5.0]]}, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
     {"x": [[-316.227766016838, 0.0, 316.227766016838], [-0.13226058108, 0.165324486416, -0.033063905336]]}),
]


@pytest.mark.parametrize("expr,values,grad,want", MEASURED, ids=["%s-%d" % (m[0], k) for k, m in enumerate(MEASURED)])
def test_ties_and_kinks_give_pytorchs_numbers(expr, values, grad, want):
    got = closed_form(expr, values, grad)
    for name, w in want.items():
        assert torch.allclose(got[name], torch.tensor(w, dtype=torch.float64), rtol=1e-9, atol=1e-9), \
            (name, got[name])


# --- the closed forms a textbook prints ---------------------------------------------------------
def grad_text(expr, shapes, wrt="x"):
    d = symgrad.derive(symgrad.loads(spec_for(expr, {k: (s, R) for k, s in shapes.items()})))
    assert d.check().passed
    return d.gradient("y", wrt).text


TEXTBOOK = [
    ("amax(x, dim=1)", {"x": [3, 4]}, "unsqueeze(grad_y/count_nonzero(x >= unsqueeze(y, 1), dim=1), 1)*(x >= unsqueeze(y, 1))"),
    ("amin(x, 1, keepdim=True)", {"x": [3, 4]}, "grad_y/unsqueeze(count_nonzero(x <= y, dim=1), 1)*(x <= y)"),
    ("max(x, 1)", {"x": [3, 4]}, "unsqueeze(grad_y, 1)*(x >= unsqueeze(y, 1))*(cumsum(x >= unsqueeze(y, 1), dim=1) <= 1)"),
    ("var(x, dim=1)", {"x": [3, 4]}, "2*(x - mean(x, dim=1, keepdim=True))*unsqueeze(grad_y, 1)/3"),
    ("std(x, dim=1)", {"x": [3, 4]}, "(x - mean(x, dim=1, keepdim=True))*unsqueeze(where(y > 0, grad_y/y, 0), 1)/3"),
    ("norm(x, dim=1)", {"x": [3, 4]}, "x*unsqueeze(where(y > 0, grad_y/y, 0), 1)"),
    ("cumsum(x, 1)", {"x": [3, 4]}, "flip(cumsum(flip(grad_y, (1,)), dim=1), (1,))"),
    # at a zero entry: the product of the nonzero entries times that of the other zeros (one
    # other zero: it, sum(zeros) - x; none: 1), so that a second derivative is finite and exact
    ("prod(x, 1)", {"x": [3, 4]}, "unsqueeze(grad_y, 1)*where(abs(x) > 0, unsqueeze(y, 1)/where(abs(x) > 0, x, 1), "
                                  "(unsqueeze(sum(where(abs(x) > 0, 0, x), dim=1), 1) - x)*unsqueeze(prod(where("
                                  "abs(x) > 0, x, 1), dim=1)*(count_nonzero(x, dim=1) >= 2), 1) + unsqueeze(prod("
                                  "where(abs(x) > 0, x, 1), dim=1)*(count_nonzero(x, dim=1) >= 3), 1))"),
    ("layer_norm(x, (4,))", {"x": [3, 4]}, "(grad_y - mean(grad_y, dim=1, keepdim=True) - mean(grad_y*y, dim=1, "
                                           "keepdim=True)*y)/sqrt(var(x, dim=1, keepdim=True, correction=0) + 1/100000)"),
    ("rms_norm(x, (4,))", {"x": [3, 4]}, "(grad_y - mean(grad_y*y, dim=1, keepdim=True)*y)/sqrt(mean(x**2, dim=1, "
                                         "keepdim=True) + 1/4503599627370496)"),
    ("normalize(x, dim=1, eps=1e-6)", {"x": [3, 4]},
     "(grad_y - sum(grad_y*y, dim=1, keepdim=True)*y*(norm(x, dim=1, keepdim=True) >= 1/1000000))"
     "/clamp_min(norm(x, dim=1, keepdim=True), 1/1000000)"),
]


@pytest.mark.parametrize("expr,shapes,text", TEXTBOOK, ids=[t[0] for t in TEXTBOOK])
def test_textbook_forms(expr, shapes, text):
    assert grad_text(expr, shapes) == text


LAYER_NORM = """
dims: {n: 4, d: 6}
inputs:
  x: {shape: [n, d]}
  g: {shape: [d]}
  b: {shape: [d]}
  gY: {shape: [n, d], requires_grad: false}
nodes:
  xh: layer_norm(x, (d,))
  Y: g*xh + b
  L: sum(Y*gY)
"""


def test_layer_norm_names_xh_and_reads_as_the_textbook():
    d = symgrad.derive(symgrad.loads(LAYER_NORM))
    assert d.check().passed
    assert d.gradient("L", "x").text == ("(g*gY - mean(g*gY, dim=1, keepdim=True) - mean(g*gY*xh, dim=1, "
                                         "keepdim=True)*xh)/sqrt(var(x, dim=1, keepdim=True, correction=0) + 1/100000)")
    assert d.gradient("L", "g").text == "sum(gY*xh, dim=0)"
    # the same layer written as one call: the affine layer's gradients
    one = symgrad.derive(symgrad.loads(LAYER_NORM.replace("  xh: layer_norm(x, (d,))\n  Y: g*xh + b\n",
                                                           "  Y: layer_norm(x, (d,), g, b)\n")))
    assert one.check().passed and one.gradient("L", "b").text == "sum(gY, dim=0)"


def test_set_encoder_pools_with_the_tie_mask():
    d = symgrad.derive(symgrad.load(os.path.join(EXAMPLES, "set_encoder.yaml")))
    assert d.check().passed
    pool = "unsqueeze((grad_z @ W2)/count_nonzero(h >= unsqueeze(pooled, 1), dim=1), 1)*(h >= unsqueeze(pooled, 1))"
    assert d.adjoints("loss")["grad_h_pre"].text == pool + "*(h > 0)"
    readme = Path(ROOT, "README.md").read_text(encoding="utf-8")
    assert "`grad_h_pre = %s*(h > 0)`" % pool in readme


def test_rms_norm_default_eps_checks_in_float32():
    d = symgrad.derive(symgrad.loads(spec_for("rms_norm(x, (4,), w)", {"x": ([3, 4], R), "w": ([4], R)})))
    assert d.check(dtype="float32").passed


# --- the autograd graph when only some arguments require grad -------------------------------------
VARIANTS = [
    ("layer_norm(x, (4,), w, b)", {"x": ([3, 4], R, F), "w": ([4], R, T), "b": ([4], R, F)}),
    ("layer_norm(x, (4,), None, b)", {"x": ([3, 4], R, T), "b": ([4], R, F)}),
    ("layer_norm(x, (4,), w)", {"x": ([3, 4], R, F), "w": ([4], R, F)}),
    ("rms_norm(x, (4,), w)", {"x": ([3, 4], R, T), "w": ([4], R, F)}),
    ("rms_norm(x, (4,), w)", {"x": ([3, 4], R, F), "w": ([4], R, T)}),
    ("rms_norm(x, (4,))", {"x": ([3, 4], R, F)}),
    ("cosine_similarity(a, b)", {"a": ([3, 4], R, T), "b": ([3, 4], R, F)}),
    ("cosine_similarity(a, b)", {"a": ([3, 4], R, F), "b": ([3, 4], R, T)}),
    ("cosine_similarity(a, b, dim=-1)", {"a": ([3, 4], R, T), "b": ([4], R, T)}),
    ("batch_norm(x, m, v, w, b, training=True)", {"x": ([4, 3], R, T), "m": ([3], R, F), "v": ([3], P, F),
                                                  "w": ([3], R, T), "b": ([3], R, T)}),
    ("batch_norm(x, None, None, None, b, True)", {"x": ([4, 3], R, T), "b": ([3], R, T)}),
    ("batch_norm(x, None, None, w, None, True)", {"x": ([4, 3], R, F), "w": ([3], R, T)}),
    ("normalize(x, p=1.0, dim=0) * z", {"x": ([3, 4], R, T), "z": ([4], R, F)}),
    ("max(x, 1, keepdim=True) + min(x, 0, True).T", {"x": ([3, 3], R, T)}),
    ("prod(x, 0, True) * amax(x, 0)", {"x": ([3, 4], R, T)}),
    ("std(x, 0, correction=0) * var(x, 0, False)", {"x": ([3, 4], R, T)}),
    ("cumsum(flip(x, (0,)), 0)", {"x": ([3, 4], R, T)}),
    ("dropout(dropout(x, 0.2, False), 0.0)", {"x": ([3], R, T)}),
    ("dropout(x, 0.2, False) * 2", {"x": ([3], R, F)}),
    ("x * count_nonzero(x, dim=0)", {"x": ([3, 4], R, T)}),
]


@pytest.mark.parametrize("expr,inputs", VARIANTS, ids=["%s-%d" % (v[0], k) for k, v in enumerate(VARIANTS)])
def test_variant_graph_matches_pytorch(expr, inputs):
    agree(expr, inputs)


def test_dropout_in_eval_is_the_tensor_itself():
    d = symgrad.derive(symgrad.loads("inputs:\n  x: {shape: [3]}\nnodes:\n  y: dropout(x, 0.3, training=False)\n"
                                     "  L: sum(y*y)\nbackward:\n  - L.backward()\n"))
    t = json.loads(d.to_json())["tensors"]["y"]
    assert t["is_leaf"] is True and t["requires_grad"] is True
    assert d.check().passed and d.gradient("L", "x").text == "2*y"   # y is x itself


# --- spec errors where PyTorch raises ------------------------------------------------------------
ERRORS = [
    ("var(x, 1, True, False, 0)", "correction only by keyword"),
    ("var(x, 1, True, correction=0)", "either unbiased or correction"),
    ("var(x, (0, 1), correction=12)", "no degrees of freedom"),
    ("layer_norm(x, 3)", "normalized_shape must be a tuple or list"),
    ("layer_norm(x, (4,))", "must be the last dims"),
    ("layer_norm(x, (3,), ones((4,)))", "weight must have the shape of normalized_shape"),
    ("flip(x, 0)", "dims must be a tuple or list"),
    ("dropout(x)", "training=True drops entries at random"),
    ("dropout(x, 1.5, False)", "between 0 and 1"),
    ("batch_norm(x, None, None)", "only training=True"),
    ("batch_norm(x)", "missing required argument 'running_mean'"),
    ("batch_norm(sum(x, 0), None, None, training=True)", "a batch and a channel dim"),
    ("batch_norm(sum(x, 0, True), None, None, None, None, True)",
     "more than 1 value per channel"),
    ("max(x, x)", "dim must be an integer literal"),
    ("max(x, keepdim=True)", "keepdim needs a dim"),
    ("prod(x, (0, 1))", "dim must be an integer literal"),
    ("norm(x, 0.5)", "p must be a number >= 1"),
    ("normalize(x, eps=0)", "eps must be positive"),
    ("cumsum(x)", "missing required argument 'dim'"),
    ("cosine_similarity(x, ones((2,)))", "cannot be broadcast"),
    ("var(x > 0)", "not defined for a comparison"),
]


@pytest.mark.parametrize("expr,msg", ERRORS, ids=[e[0] for e in ERRORS])
def test_spec_errors(expr, msg):
    with pytest.raises(symgrad.SpecError) as e:
        symgrad.loads("inputs:\n  x: {shape: [4, 3]}\nnodes:\n  y: %s\n" % expr)
    assert msg in str(e.value)


def test_running_stats_that_require_grad_are_refused_at_their_node():
    text = ("inputs:\n  x: {shape: [4, 3]}\n  m: {shape: [3]}\nnodes:\n"
            "  y: batch_norm(x, m, None, training=True)\n  L: sum(y*y)\n")
    with pytest.raises(symgrad.SpecError) as e:
        symgrad.derive(symgrad.loads(text))
    assert "running_mean must not require grad" in str(e.value) and e.value.line == 5


# --- every formula of their notes renders in KaTeX ------------------------------------------------
KATEX = os.path.join(ROOT, "node_modules", "katex")


@pytest.mark.skipif(not shutil.which("node") or not os.path.isdir(KATEX),
                    reason="node or node_modules/katex missing (npm install --no-save katex@0.16)")
def test_notes_render_in_katex(tmp_path):
    from test_render import KATEX_JS, formulas
    items = []
    for name, cases in sorted(CASES.items()):
        for k, (expr, inputs) in enumerate(cases):
            d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
            items += [[t, disp, "%s-%d" % (name, k)] for t, disp in formulas(d.render("md"))]
    js = tmp_path / "katex_check.js"
    js.write_text(KATEX_JS)
    p = subprocess.run(["node", str(js), KATEX], input=json.dumps(items), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["n"] > 300 and not res["bad"], "\n".join(res["bad"][:10])
