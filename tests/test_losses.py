"""Losses and attention beyond the op table's generated cases: what PyTorch refuses is a
located spec error, the closed forms read as a textbook prints them, and the facts of
PyTorch that are easy to get wrong (a var below eps, fully masked attention rows) hold."""
import pytest
import torch

import symgrad
from symgrad.errors import SpecError
from symgrad.printing import to_text


def derive(text):
    return symgrad.derive(symgrad.loads(text))


def grad(text, out, wrt):
    return derive(text).gradient(out, wrt).text


XT = "inputs:\n  x: {shape: [3, 4]}\n  t: {shape: [3, 4], requires_grad: false, domain: %s}\n"


@pytest.mark.parametrize("node,message", [
    ("binary_cross_entropy(p, t, weight=w)", "its weight 'w' requires grad"),
    ("binary_cross_entropy_with_logits(x, t, pos_weight=w)", "its pos_weight 'w' requires grad"),
])
def test_a_loss_weight_that_requires_grad_is_refused_where_it_is_used(node, message):
    spec = ("inputs:\n  x: {shape: [4]}\n  p: {shape: [4], domain: unit}\n"
            "  t: {shape: [4], requires_grad: false, domain: unit}\n  w: {shape: [4], domain: positive}\n"
            "nodes:\n  L: %s\n" % node)
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec)
    assert message in e.value.message and "PyTorch cannot differentiate" in e.value.message
    assert (e.value.line, e.value.col) == (7, 6)


@pytest.mark.parametrize("node,message", [
    ("l1_loss(x, t, reduction='avg')", "reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("kl_div(x, t, reduction='avg')", "'none' or 'batchmean'"),
    ("huber_loss(x, t, delta=0)", "non-positive values for delta"),
    ("smooth_l1_loss(x, t, beta=-1)", "negative values for beta"),
    ("l1_loss(x, t, 'sum')", "size_average must be True or False"),       # PyTorch's 3rd argument
    ("gaussian_nll_loss(x, t, v4)", "does not fit the input"),
    ("binary_cross_entropy(x, t4)", "must have the input's shape"),
    ("cross_entropy(x, t, label_smoothing=1.5)", "between 0.0 and 1.0"),
    ("cross_entropy(x, t, ignore_index=1)", "ignore_index is not supported for a probability target"),
    ("cross_entropy(x, t, weight=v3)", "weight tensor should be defined either for all 4 classes"),
    ("scaled_dot_product_attention(x, x, x, dropout_p=0.1)", "dropout_p must be 0"),
    ("scaled_dot_product_attention(x, x, x, attn_mask=t, is_causal=True)", "cannot be combined with is_causal"),
    ("scaled_dot_product_attention(x, x.T, x)", "do not fit"),
])
def test_what_pytorch_refuses_is_a_located_spec_error(node, message):
    spec = (XT % "unit") + ("  v4: {shape: [4], domain: positive}\n  t4: {shape: [4], domain: unit}\n"
                            "  v3: {shape: [3], domain: positive}\nnodes:\n  L: %s\n" % node)
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec)
    assert message in e.value.message, e.value.message
    assert e.value.line == 8


def test_textbook_closed_forms():
    assert grad(XT % "real" + "nodes:\n  L: l1_loss(x, t, reduction='sum')\n", "L", "x") == "-sign(t - x)"
    assert grad(XT % "simplex" + "nodes:\n  L: kl_div(x, t, reduction='batchmean')\n", "L", "x") == "-t/3"
    assert grad(XT % "positive" + "nodes:\n  L: poisson_nll_loss(x, t)\n", "L", "x") == "(exp(x) - t)/12"
    assert grad(XT % "simplex" + "nodes:\n  L: cross_entropy(x, t)\n", "L", "x") == "(softmax(x, dim=1) - t)/3"
    logistic = ("inputs:\n  X: {shape: [5, 3], requires_grad: false}\n  w: {shape: [3]}\n"
                "  y: {shape: [5], requires_grad: false, domain: unit}\n  c: {shape: [5], requires_grad: false,"
                " domain: positive}\nnodes:\n  p: sigmoid(X @ w)\n  L: binary_cross_entropy(p, y, weight=c)\n")
    assert grad(logistic, "L", "w") == "X.T @ ((p - y)*c)/5"


def test_attention_reads_as_the_textbook_backward():
    spec = ("inputs:\n  q: {shape: [2, 3, 4]}\n  k: {shape: [2, 5, 4]}\n  v: {shape: [2, 5, 4]}\n"
            "nodes:\n  a: scaled_dot_product_attention(q, k, v)\n  L: sum(a**2)\n")
    d = derive(spec)
    texts = {w: d.gradient("L", w).text for w in "qkv"}
    p = "softmax(q @ transpose(k, 1, 2)/2, dim=2)"
    assert texts["v"] == "2*transpose(%s, 1, 2) @ a" % p
    # the scores' adjoint uses the output itself (FlashAttention's D = rowsum(g o)), not P twice
    assert texts["q"] == "((2*(a @ transpose(v, 1, 2) - sum(a**2, dim=2, keepdim=True)))*%s) @ k/2" % p
    assert texts["k"] == "transpose((2*(a @ transpose(v, 1, 2) - sum(a**2, dim=2, keepdim=True)))*%s, 1, 2) @ q/2" % p
    assert d.check().passed


def test_gaussian_var_below_eps_gets_the_gradient_as_if_it_were_eps():
    """OPS.md: PyTorch clamps var in place under no_grad, so the gradient is not masked."""
    spec = ("inputs:\n  x: {shape: [2], value: [1.0, 1.0]}\n  t: {shape: [2], requires_grad: false, value: [0.0, 0.0]}\n"
            "  v: {shape: [2], domain: positive, value: [1.0e-8, 2.0]}\nnodes:\n"
            "  L: gaussian_nll_loss(x, t, v, reduction='sum')\n")
    d = derive(spec)
    got = d.compile()(x=torch.tensor([1.0, 1.0], dtype=torch.float64), t=torch.zeros(2, dtype=torch.float64),
                      v=torch.tensor([1e-8, 2.0], dtype=torch.float64))["L"]
    assert torch.allclose(got["v"], torch.tensor([-499999500000.0, 0.125], dtype=torch.float64))
    assert torch.allclose(got["x"], torch.tensor([1e6, 0.5], dtype=torch.float64))


def test_fully_masked_attention_rows_give_zero_not_nan():
    spec = ("inputs:\n  q: {shape: [1, 2, 2], value: [[[1.0, 0.0], [0.0, 1.0]]]}\n"
            "  k: {shape: [1, 2, 2], value: [[[1.0, 2.0], [0.5, 1.0]]]}\n"
            "  v: {shape: [1, 2, 2], value: [[[1.0, 2.0], [3.0, 4.0]]]}\n"
            "  m: {shape: [2, 2], requires_grad: false, value: [[1.0, 1.0], [-1.0, -1.0]]}\n"
            "nodes:\n  a: scaled_dot_product_attention(q, k, v, attn_mask=m > 0)\n  L: sum(a)\n")
    d = derive(spec)
    vals = {n: torch.tensor(x.value, dtype=torch.float64) for n, x in ((i.name, i) for i in d.problem.inputs)}
    got = d.compile()(**vals)["L"]
    assert torch.equal(got["q"][0, 1], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(got["k"], torch.tensor([[[-0.68546202882, 0.0], [0.68546202882, 0.0]]], dtype=torch.float64))
    assert d.check().passed


def test_forward_ops_print_as_pytorch_calls_that_parse_back():
    from symgrad.spec.expr import parse_expr_text
    d = derive(XT % "unit" + "  w: {shape: [4], requires_grad: false, domain: positive}\n"
               "  v: {shape: [3], domain: positive}\nnodes:\n  a: binary_cross_entropy(x, t, w, reduction='none')\n"
               "  b: gaussian_nll_loss(x, t, v, full=True, eps=0.001, reduction='none')\n"
               "  c: scaled_dot_product_attention(x, t, t, is_causal=True, scale=0.25)\n")
    env = dict(d.problem.tensors)
    for n in d.problem.nodes:
        text = to_text(n.expr)
        assert parse_expr_text(text, env) == n.expr, text
    assert to_text(d.problem.nodes[0].expr) == "binary_cross_entropy(x, t, weight=w, reduction='none')"


# --- the examples ----------------------------------------------------------------------------------
def example(name):
    import os
    from conftest import EXAMPLES
    return symgrad.derive(symgrad.load(os.path.join(EXAMPLES, name)))


def test_mlp_on_class_labels_reads_as_backprop():
    d = example("mlp_class_labels.yaml")
    assert {n: a.text for n, a in d.adjoints("loss").items()} == {
        "grad_z": "(softmax(z, dim=1) - one_hot(y, 10))/n", "grad_h2_pre": "(grad_z @ W3)*(h2 > 0)",
        "grad_h1_pre": "(grad_h2_pre @ W2)*(h1 > 0)"}
    assert d.gradient("loss", "W3").text == "grad_z.T @ h2"
    assert d.gradient("loss", "b3").inline_text == "mean(softmax(z, dim=1) - one_hot(y, 10), dim=0)"
    assert "y" not in d.problem.wrt


def test_transformer_block_example():
    from symgrad.autograd.recorded import autograd_graph
    d = example("transformer_block.yaml")
    p = "scaled_dot_product_attention(q, k, eye(T), is_causal=True)"
    assert d.gradient("loss", "Wv").text == (
        "sum(transpose(h, 1, 2) @ reshape(transpose(transpose(%s, 2, 3) @ grad_a, 1, 2), (B, T, 8)), dim=0).T" % p)
    assert "(grad_a @ transpose(v, 2, 3) - sum(a*grad_a, dim=3, keepdim=True))*%s" % p in d.gradient("loss", "Wq").text
    assert d.adjoints("loss")["grad_logits"].text.endswith("- one_hot(y, 10))/(B*T)")
    names = {n.name for n in autograd_graph(d.problem).nodes}
    assert {"ScaledDotProductFlashAttentionForCpuBackward0", "NativeLayerNormBackward0",
            "NllLoss2DBackward0"} <= names


def test_every_target_ignored_gives_a_zero_gradient_not_nan():
    """OPS.md item 7: the value is 0/0 (NaN) but PyTorch's gradient is 0."""
    spec = ("inputs:\n  z: {shape: [2, 2]}\n  y: {shape: [2], dtype: long, high: 2, value: [0, 0]}\n"
            "nodes:\n  L: cross_entropy(z, y, ignore_index=0)\n")
    d = derive(spec)
    got = d.compile()(z=torch.randn(2, 2, dtype=torch.float64), y=torch.tensor([0, 0]))["L"]["z"]
    assert torch.equal(got, torch.zeros(2, 2, dtype=torch.float64))


def test_class_index_weights_never_require_grad():
    spec = ("inputs:\n  z: {shape: [4, 3]}\n  y: {shape: [4], dtype: long, high: 3}\n  w: {shape: [3], domain: positive}\n"
            "nodes:\n  L: cross_entropy(z, y, weight=w)\n")
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec)
    assert "its weight 'w' requires grad" in e.value.message and e.value.line == 6
    # probability targets are a composite in PyTorch: there the weight is differentiable
    d = derive(spec.replace("y: {shape: [4], dtype: long, high: 3}", "y: {shape: [4, 3], domain: simplex}"))
    assert "w" in d.problem.wrt and d.check().passed


@pytest.mark.parametrize("node,message", [
    ("cross_entropy(z, y4)", "class indices for an input [4, 3] must have the shape [4]"),
    ("nll_loss(z, p)", "must hold class indices"),
    ("cross_entropy(z, y > 1)", "must hold class indices (an integer tensor, dtype: long) or probabilities"),
])
def test_class_index_targets_are_checked(node, message):
    spec = ("inputs:\n  z: {shape: [4, 3]}\n  y: {shape: [4], dtype: long, high: 3}\n"
            "  y4: {shape: [4, 3], dtype: long, high: 3}\n  p: {shape: [4, 3], domain: simplex}\nnodes:\n  L: %s\n" % node)
    with pytest.raises(SpecError) as e:
        symgrad.loads(spec)
    assert message in e.value.message, e.value.message


# --- second order: the closed forms are differentiated again -------------------------------------
SECOND = [
    ("scaled_dot_product_attention(q, k, v, is_causal=True)", {"q": ([2, 3, 4], "real"), "k": ([2, 3, 4], "real"),
                                                               "v": ([2, 3, 2], "real")}),
    ("scaled_dot_product_attention(q, k, v, attn_mask=m)", {"q": ([3, 4], "real"), "k": ([5, 4], "real"),
                                                            "v": ([5, 2], "real"), "m": ([3, 5], "real")}),
    ("scaled_dot_product_attention(q, k, v)", {"q": ([1, 2, 3, 4], "real"), "k": ([1, 2, 5, 4], "real"),
                                               "v": ([1, 2, 5, 4], "real")}),
    ("gaussian_nll_loss(x, c, v, full=True)", {"x": ([3, 4], "real"), "c": ([3, 4], "real"), "v": ([3], "positive")}),
    ("cross_entropy(x, t, cw, label_smoothing=0.2)", {"x": ([4, 3], "real"), "t": ([4], "long:3"),
                                                       "cw": ([3], "positive")}),
    ("cross_entropy(x, t, ignore_index=1, reduction='sum')", {"x": ([4, 3], "real"), "t": ([4], "long:3", [0, 1, 2, 1])}),
    ("cross_entropy(x, p, w, label_smoothing=0.1)", {"x": ([4, 3], "real"), "p": ([4, 3], "simplex"),
                                                     "w": ([3], "positive")}),
    ("nll_loss(log_softmax(x, 1), t, cw)", {"x": ([4, 3], "real"), "t": ([4], "long:3"), "cw": ([3], "positive")}),
    ("binary_cross_entropy(x, c, cw)", {"x": ([3, 4], "unit"), "c": ([3, 4], "unit"), "cw": ([4], "positive")}),
    ("kl_div(x, z, reduction='batchmean', log_target=True)", {"x": ([3, 4], "real"), "z": ([3, 4], "real")}),
    ("poisson_nll_loss(x, z, log_input=False)", {"x": ([3, 4], "positive"), "z": ([3, 4], "positive")}),
]


@pytest.mark.parametrize("expr,inputs", SECOND, ids=[e for e, _ in SECOND])
def test_closed_forms_differentiate_again(expr, inputs):
    """Each first-order closed form, written as a spec node, is differentiated by symgrad and
    checked against autograd of the same text: the rules of what closed forms use (attention
    weights over ``eye``, ``clamp_min``, ``w[y]``, one-hots) are themselves right."""
    import yaml
    from test_ops import spec_for
    d = derive(spec_for(expr, inputs))
    spec = yaml.safe_load(spec_for(expr, inputs))
    out_shape = list(d.problem.tensors["y"].tshape)
    if out_shape:
        spec["inputs"]["gy"] = {"shape": [int(s) for s in out_shape], "requires_grad": False}
    for g in d.gradients:
        gx = "g_" + g.wrt
        spec["nodes"][gx] = g.inline_text.replace("grad_y", "gy")
        spec["inputs"]["c" + gx] = {"shape": [int(s) for s in d.problem.tensors[g.wrt].tshape], "requires_grad": False}
    spec["nodes"]["L2"] = " + ".join("sum(g_%s * cg_%s)" % (g.wrt, g.wrt) for g in d.gradients)
    spec["outputs"] = ["L2"]
    d2 = derive(yaml.safe_dump(spec, sort_keys=False))
    report = d2.check(seed=1)
    assert report.passed, [(r.wrt, r.message, r.max_abs_err) for r in report.rows if not r.passed]
