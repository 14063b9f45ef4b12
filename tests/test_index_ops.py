"""Shape and indexing ops (issue 13) beyond the generated op-table tests: PyTorch's measured
gradients at repeated indices, the spellings PyTorch accepts and refuses (one located error
each), the closed forms' LaTeX in KaTeX, and the LSTM cell's textbook adjoints.
"""
import os
import shutil

import pytest
import torch

import symgrad
from symgrad.errors import SpecError
from symgrad.spec.expr import parse_expr_text
from symgrad.tensor import Tensor
from sympy import Integer
from conftest import ROOT
from op_cases import CASES
from test_errors import expect
from test_ops import spec_for

GROUPS = ("subscript", "one_hot", "gather", "index_select", "index_add", "scatter_add", "index_put",
          "select_scatter", "slice_scatter", "cat", "concat", "stack", "split", "chunk", "narrow", "expand",
          "repeat", "permute", "movedim", "moveaxis", "flip", "diag", "diagonal", "diagonal_scatter", "triu",
          "tril", "einsum", "arange", "float", "double")


# --- repeated indices accumulate, as PyTorch measured (OPS.md item 20, gather, index_select) --------------
@pytest.mark.parametrize("expr,inputs,grad", [
    ("x[c]", {"x": ([3], "real"), "c": ([4], "long:3", [0, 0, 2, 0])}, [3.0, 0.0, 1.0]),
    ("x.gather(0, c)", {"x": ([3], "real"), "c": ([3], "long:3", [2, 2, 0])}, [1.0, 0.0, 2.0]),
    ("index_select(x, 0, c)", {"x": ([3], "real"), "c": ([3], "long:3", [1, 1, 1])}, [0.0, 3.0, 0.0]),
    ("x[c][:, None] * ones((4, 2))", {"x": ([3], "real"), "c": ([4], "long:3", [1, 1, 0, 1])}, [2.0, 6.0, 0.0]),
    ("W[c]", {"W": ([3, 2], "real"), "c": ([2, 2], "long:3", [[0, 2], [2, 2]])}, [[1, 1], [0, 0], [3, 3]]),
])
def test_repeated_indices_accumulate(expr, inputs, grad):
    d = symgrad.derive(symgrad.loads(spec_for("sum(%s)" % expr, inputs)))
    x = next(iter(inputs))
    assert d.check().passed
    values = {k: torch.tensor(v[2]) for k, v in inputs.items() if len(v) > 2}
    shape = inputs[x][0]
    values[x] = torch.randn(shape, dtype=torch.float64)
    got = d.compile()(**values)["y"][x]
    assert got.tolist() == grad


# --- spellings: what PyTorch accepts, and one located error for what it refuses ------------------------------
ENV = {"x": Tensor("x", (Integer(3), Integer(4))), "v": Tensor("v", (Integer(6),)),
       "s": Tensor("s", ()), "y": Tensor("y", (Integer(5),), dtype="long", high=3)}


@pytest.mark.parametrize("text,shape", [
    ("x[0, 1]", ()), ("x[..., None, 0]", (3, 1)), ("x[None]", (1, 3, 4)), ("x[1:2, None]", (1, 1, 4)),
    ("x[-1]", (4,)), ("x[:, -3:-1]", (3, 2)), ("x[::2, ::3]", (2, 2)), ("x[y]", (5, 4)), ("x[:, y]", (3, 5)),
    ("x[..., y]", (3, 5)), ("v.chunk(4)[2]", (2,)), ("split(v, [1, 5])[1]", (5,)), ("v.split(4)[-1]", (2,)),
    ("x.expand(2, 3, 4)", (2, 3, 4)), ("x.repeat(2, 1, 2)", (2, 3, 8)), ("x.permute(1, 0)", (4, 3)),
    ("x.flip(0)", (3, 4)), ("x.mT", (4, 3)), ("stack((x, x), 2)", (3, 4, 2)), ("cat([x, x])", (6, 4)),
    ("einsum('ij->j', x)", (4,)), ("einsum('i,i', v, v)", ()), ("one_hot(y, num_classes=3)", (5, 3)),
    ("x.diagonal(-1)", (2,)), ("narrow(x, 1, -3, 2)", (3, 2)),
])
def test_pytorch_spellings_parse(text, shape):
    from symgrad.tensor import shape_of
    assert tuple(int(d) for d in shape_of(parse_expr_text(text, dict(ENV)))) == shape


@pytest.mark.parametrize("expr,at,fragment", [
    ("x[5]", "x", "index 5 is out of bounds for dimension 0 with size 3"),
    ("x[0, 0, 0]", "x", "too many indices for a tensor of dimension 2"),
    ("s[0]", "s", "invalid index of a 0-dim tensor"),
    ("x[..., ...]", "x", "an index can only have a single ellipsis"),
    ("x[3:1]", "x", "the slice 3:1 gives no entries along dim 0"),
    ("x[0, y]", "x", "advanced indexing: put the integer tensors next to each other"),
    ("chunk(x, 2)", "chunk", "chunk() gives a tuple of tensors: pick one"),
    ("chunk(x, 2) * 2", "chunk", "chunk() gives a tuple of tensors: pick one"),
    ("chunk(x, 2)[2]", "2]", "chunk() gives 2 pieces here: [2] is out of range"),
    ("chunk(x, 2)[0:1]", "0", "chunk() gives a tuple: pick one piece with an integer"),
    ("split(x, [1, 1])[0]", "split", "split_sizes [1, 1] must be positive and sum exactly to 3"),
    ("expand(x, 2, 3, 4)", "expand", "expand is a method in PyTorch (torch.expand does not exist)"),
    ("x.expand(3, 5)", "x", "the expanded size (5) must match the existing size (4)"),
    ("repeat(x, 2, 2)", "repeat", "repeat is a method in PyTorch"),
    ("x.repeat(2)", "x", "can not be smaller than the tensor's dimensions"),
    ("flip(x, 0)", "0", "flip(): dims must be a tuple or list of ints (PyTorch raises a TypeError for an int)"),
    ("permute(x, 1, 0)", "permute", "permute() takes at most 2 arguments (3 given)"),
    ("x.permute(0, 0)", "x", "permute: dims (0, 0) repeat a dim"),
    ("cat((x, x.T), 0)", "cat", "cat: sizes must match except in dimension 0"),
    ("cat(x, 0)", "x", "cat(): tensors must be a tuple or list of tensors"),
    ("stack((x, x.T))", "stack", "stack: expects each tensor to be equal size"),
    ("einsum('ij,jk->ik', x, x)", "einsum", "subscript j has size 3 for operand 1"),
    ("einsum('ij->ii', x)", "einsum", "the output subscript i appears more than once"),
    ("einsum('ij', x, x)", "einsum", "the equation names 1 operand, 2 given"),
    ("gather(x, 1, y)", "gather", "index must have as many dims as input"),
    ("diag(x.expand(2, 3, 4))", "diag", "diag: supports 1-D or 2-D tensors, got 3-D"),
    ("x.mT.mT.T.mT[0][0].mT", "x", "tensor.mT is only supported on matrices"),
    ("x.float()", "x", "float() of a floating point tensor only changes its precision"),
    ("float(y)", "float", "float is a method in PyTorch"),
    ("gather(x, 1, y[:, None], True)", "gather", "gather() takes at most 3 positional arguments (4 given); "
                                                 "sparse_grad only by keyword"),
])
def test_refusals_are_located(tmp_path, expr, at, fragment):
    head = "inputs:\n  x: {shape: [3, 4]}\n  s: {}\n  y: {shape: [5], dtype: long, high: 3}\nnodes:\n"
    text = head + '  b: "%s"\n' % expr
    expect(tmp_path, text, 6, 7 + expr.index(at), fragment)


# --- the LSTM cell (examples/lstm_cell.yaml) --------------------------------------------------------------
def test_lstm_gates_adjoint_is_one_cat():
    d = symgrad.derive(symgrad.load(os.path.join(ROOT, "examples", "lstm_cell.yaml")))
    adj = {n: a.text for n, a in d.adjoints("L").items()}
    assert adj["grad_gates"].startswith("cat((") and adj["grad_gates"].endswith("), dim=1)")
    assert "(1 - g**2)*grad_c*i" in adj["grad_gates"] and "(1 - f)*c0*f*grad_c" in adj["grad_gates"]
    assert d.gradient("L", "W_ih").text == "grad_gates.T @ x"
    assert d.gradient("L", "W_hh").text == "grad_gates.T @ h0"
    assert d.gradient("L", "b").text == "sum(grad_gates, dim=0)"
    assert d.check().passed


# --- the closed forms' LaTeX renders in KaTeX ----------------------------------------------------------
from test_render import KATEX, run_katex  # noqa: E402


@pytest.mark.skipif(not shutil.which("node") or not os.path.isdir(KATEX),
                    reason="node or node_modules/katex missing (npm install --no-save katex@0.16)")
def test_latex_of_every_case_renders_in_katex(tmp_path):
    from symgrad.printing import to_latex, to_index_latex, index_letters
    items = []
    for name in GROUPS:
        for k, (expr, inputs) in enumerate(CASES[name]):
            d = symgrad.derive(symgrad.loads(spec_for(expr, inputs)))
            node = d.problem.nodes[0]
            where = "%s-%d" % (name, k)
            items.append([to_latex(node.expr), where])
            items.append([to_index_latex(node.expr, index_letters(len(node.symbol.tshape))), where])
            for g in d.gradients:
                items += [[g.latex, where], [g.index_latex, where]]
    res = run_katex(items, tmp_path)
    assert res["n"] > 300 and not res["bad"], "\n".join(res["bad"][:20])


def test_every_group_function_has_cases():
    from symgrad.ops import FUNCTIONS
    mine = [n for n in GROUPS if n != "subscript"]
    assert all(n in FUNCTIONS for n in mine) and all(CASES[n] for n in GROUPS)


def test_a_hostile_subscript_is_one_located_error():
    for text in ["x[__import__('os')]", "x[lambda: 0]", "x[1:-s]", "x[{0}]",
                 "x[f'{0}']", "x[0][1][2]", "x[:, :, :, :]", "(1)[0]", "x[...][...][None][None][0]"]:
        try:
            parse_expr_text(text, dict(ENV))
        except SpecError as e:
            assert "\n" not in str(e) and getattr(e, "rel_col", None) is not None, text


SYMBOLIC = """dims: {n: 4, h: 3}
inputs:
  x: {shape: [n, h]}
  z: {shape: [n, h]}
nodes:
  a: cat((x, z), 0)
  b: a[1:] * 2
  c: chunk(cat((x, z), 1), 2, dim=1)[1]
  d: x[-1] + x[0]
  e: narrow(a, 0, n - 1, 2)
  f: stack((x, z), 1)[:, 0]
  k: x[:-1] - x[1:]
  L: sum(b**2) + sum(c**3) + sum(d**2) + sum(e**2) + sum(f * z) + sum(k**2)
"""


def test_symbolic_sizes_through_joins_and_slices():
    """cat along a symbolic dim, chunk of 2*h, x[1:], x[-1], narrow at n - 1: the closed forms
    use narrow and symbolic bounds, parse back, and check at other dim values too."""
    from conftest import parse_back
    d = symgrad.derive(symgrad.loads(SYMBOLIC))
    assert d.gradient("L", "z").text == "3*c**2 + narrow(grad_a, 0, n, n) + f"
    assert d.check().passed and d.check(dims={"n": 6, "h": 2}).passed
    env = dict(d.problem.tensors)
    env.update({name: sym for name, (sym, _) in d.problem.dims.items()})
    for g in d.gradients:
        assert (parse_back(d, g, env) - g.expr).expand() == 0
