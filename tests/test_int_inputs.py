"""Integer and boolean inputs (SPEC section 10): ``dtype: long`` with ``high``, ``dtype: bool``.

Through every stage: loading (each mistake one located error), the kinds the parser tracks
(an index must be an integer tensor, ``softmax`` of one is refused as in PyTorch), drawing
(values in ``[0, high)``, a given value kept), the compiled module (integer inputs stay
integer tensors), the autograd model (never requires grad), the JSON report and the notes.
"""
import json

import pytest
import torch

import symgrad
from symgrad.errors import SpecError
from symgrad.numeric.inputs import draw_inputs, dim_values
from test_errors import expect

HEAD = "dims: {C: 4}\ninputs:\n  x: {shape: [3, C]}\n"          # the next input is on line 4


def spec(extra, nodes="  L: sum(x)\n"):
    return HEAD + extra + "nodes:\n" + nodes


@pytest.mark.parametrize("field,at,fragment", [
    ("  y: {shape: [3], dtype: int}\n", "int", "dtype of 'y' must be one of float, long, bool, got 'int'"),
    ("  y: {shape: [3], dtype: long}\n", "long", "input 'y' has dtype long: give it 'high: C'"),
    ("  y: {shape: [3], high: 3}\n", "high", "'high' of 'y' is for dtype: long"),
    ("  y: {shape: [3], dtype: long, high: 0}\n", "0", "high of 'y' must be a positive integer or a declared dim"),
    ("  y: {shape: [3], dtype: long, high: D}\n", "D", "high of 'y' must be a positive integer or a declared "
                                                      "dim, got 'D'"),
    ("  y: {shape: [3], dtype: long, high: 3, requires_grad: true}\n", "true", "cannot require grad"),
    ("  y: {shape: [3], dtype: bool, requires_grad: true}\n", "true", "only Tensors of floating point dtype"),
    ("  y: {shape: [3], dtype: long, high: 3, domain: positive}\n", "domain", "'domain' is for float inputs"),
    ("  y: {shape: [3], dtype: long, high: 3, value: [0, 1, 3]}\n", "[0", "value of 'y'[2] must lie in [0, 3)"),
    ("  y: {shape: [3], dtype: long, high: C, value: [0, 4, 1]}\n", "[0", "value of 'y'[1] must lie in [0, 4) (the high of 'y'), got 4"),
    ("  y: {shape: [2], dtype: long, high: 3, value: [0, 1.5]}\n", "[0", "must be an integer (dtype long), got 1.5"),
    ("  y: {shape: [2], dtype: long, high: 3, value: [true, 1]}\n", "[true", "must be an integer"),
    ("  y: {shape: [2], dtype: bool, value: [1, 0]}\n", "[1", "must be true or false (dtype bool), got 1"),
])
def test_loading_mistakes_are_located(tmp_path, field, at, fragment):
    expect(tmp_path, spec(field), 4, field.index(at, field.index("{")) + 1, fragment)


@pytest.mark.parametrize("node,at,fragment", [
    ("softmax(y, 0)", "softmax", "softmax() is not defined for an integer tensor in PyTorch"),
    ("mean(y)", "mean", "mean() is not defined for an integer tensor"),
    ("x[m]", "m", "indexing with a bool tensor gives a shape that depends on the data"),
    ("x[x[0]]", "x[0]", "an index must be an integer literal, a slice with literal bounds, None, ... or an "
                        "integer tensor (dtype: long), got a float tensor"),
    ("gather(x, 1, x)", "x)", "gather(): index must be an integer tensor"),
    ("one_hot(y, 2)", "one_hot", "one_hot: the values of y lie in [0, 3), past num_classes 2"),
    ("one_hot(y)", "one_hot", "give num_classes"),
    ("-m", "-", "PyTorch cannot apply unary - to a comparison (a bool tensor)"),
    ("1 - m", "1", "PyTorch cannot subtract with a comparison"),
    ("x @ y", "x", "PyTorch cannot matrix-multiply an integer tensor with a float one"),
    ("index_select(x, 0, k)", "index_select", "the values of k lie in [0, 9), past the size of the dim 3"),
    ("one_hot(k[:1], 4)", "one_hot", "one_hot: the values of k[:1] lie in [0, 9), past num_classes 4"),
])
def test_what_pytorch_refuses_for_integer_and_bool_tensors(tmp_path, node, at, fragment):
    text = spec("  y: {shape: [C], dtype: long, high: 3}\n  m: {shape: [3, C], dtype: bool}\n"
                "  k: {shape: [2], dtype: long, high: 9}\n", "  L: %s\n" % node)
    expect(tmp_path, text, 8, 6 + node.index(at), fragment)


def test_integer_node_keeps_its_kind():
    prob = symgrad.loads(spec("  y: {shape: [3], dtype: long, high: 3}\n",
                              "  t: y + 1\n  u: x[t - 1]\n  v: y * 0.5\n  L: sum(u)\n"))
    kinds = {n.name: n.symbol.dtype for n in prob.nodes}
    assert kinds == {"t": "long", "u": "float", "v": "float", "L": "float"}
    with pytest.raises(SpecError, match="an index must be"):
        symgrad.loads(spec("  y: {shape: [3], dtype: long, high: 3}\n", "  v: y * 0.5\n  L: sum(x[v])\n"))


def test_drawn_values_lie_in_range_and_keep_their_dtype():
    prob = symgrad.loads(spec("  y: {shape: [200], dtype: long, high: C}\n  m: {shape: [50], dtype: bool}\n"
                              "  z: {shape: [2], dtype: long, high: 9, value: [8, 0]}\n"))
    t = draw_inputs(prob, dim_values(prob), torch.float32, "cpu", 0)
    assert t["y"].dtype == torch.int64 and t["m"].dtype == torch.bool and t["x"].dtype == torch.float32
    assert int(t["y"].min()) == 0 and int(t["y"].max()) == 3
    assert 0 < int(t["m"].sum()) < 50
    assert t["z"].tolist() == [8, 0]


def test_a_dim_override_below_a_given_value_is_refused():
    prob = symgrad.loads(spec("  y: {shape: [2], dtype: long, high: C, value: [3, 0]}\n"))
    with pytest.raises(SpecError, match="contradicts the value of 'y', whose entries must lie in"):
        dim_values(prob, {"C": 3})
    assert dim_values(prob, {"C": 5})["C"] == 5


EMBED = spec("  W: {shape: [C, C]}\n  y: {shape: [6], dtype: long, high: C}\n  m: {shape: [6, C], dtype: bool}\n",
             "  e: W[y]\n  L: sum(where(m, e, 0.0)**2) + sum(x * one_hot(y[:3], C))\n")


def test_compiled_module_keeps_integer_inputs_integer():
    d = symgrad.derive(symgrad.loads(EMBED))
    assert d.check().passed
    mod = d.compile().module
    y = torch.tensor([0, 3, 3, 1, 0, 3])
    m = torch.rand(6, 4) < 0.5
    x, W = torch.randn(3, 4, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    g = mod.gradients(x, W, y.tolist(), m.tolist())           # lists are converted to int64 and bool
    W_ = W.clone().requires_grad_()
    x_ = x.clone().requires_grad_()
    L = ((torch.where(m, W_[y], 0.0)) ** 2).sum() + (x_ * torch.nn.functional.one_hot(y[:3], 4)).sum()
    L.backward()
    assert torch.allclose(g["L"]["W"], W_.grad) and torch.allclose(g["L"]["x"], x_.grad)
    assert g["L"]["W"].dtype == torch.float64
    assert "y = _ints(y, torch.int64, x)" in mod.source and "m = _ints(m, torch.bool, x)" in mod.source
    out = mod.SymgradFunction.apply(x_.detach().requires_grad_(), W_.detach().requires_grad_(), y, m)
    assert torch.allclose(out, L.detach())


def test_report_and_notes_show_the_dtype():
    d = symgrad.derive(symgrad.loads(EMBED))
    info = json.loads(d.to_json())["tensors"]
    assert info["y"]["dtype"] == "long" and info["y"]["high"] == "C" and info["y"]["requires_grad"] is False
    assert info["m"]["dtype"] == "bool" and "high" not in info["m"] and "dtype" not in info["x"]
    md = d.render("md")
    assert "dtype: long, values in" in md and "dtype: bool" in md
    from symgrad.notes.listing import pytorch_listing
    listing = pytorch_listing(d)            # drawn as the check draws them (integer dtypes kept)
    assert "y = torch.randint(0, C, (6,), generator=gen, dtype=torch.long)" in listing
    assert "m = torch.rand((6, C), generator=gen, dtype=torch.float64) < 0.5" in listing
    assert d.gradient("L", "W").text.startswith("index_add(zeros((C, C)), 0, y, ")


def test_integer_inputs_never_require_grad_in_the_autograd_model():
    prob = symgrad.loads(EMBED)
    d = symgrad.derive(prob)
    info = d.tensor_info()
    assert info["y"]["requires_grad"] is False and info["m"]["requires_grad"] is False
    assert prob.wrt == ["x", "W"]
    with pytest.raises(SpecError, match="it does not require grad"):
        symgrad.loads(EMBED.replace("nodes:", "wrt: [y]\nnodes:"))
