"""`symgrad trace`: the spec it writes for each target model, its names, and its errors.

These check the traced YAML itself (so they pass whatever the spec language of this
branch can load); `test_trace_e2e` derives the traced specs and compares the compiled
gradients with autograd on the real modules.
"""
import copy
import os

import pytest
import torch
import yaml
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.trace.inputs import parse_option
from conftest import ROOT, EXAMPLES

import trace_models as tm

MODELS = os.path.join(ROOT, "tests", "trace_models.py")
MLP = os.path.join(EXAMPLES, "notebook_mlp.py")
RESIDUAL = os.path.join(EXAMPLES, "residual_block.py")
MLP_INPUTS = ["--input", "x=8,1,28,28", "--input", "y=8:long:10"]
RESIDUAL_INPUTS = ["--input", "x=8,16", "--input", "y=8:long:4", "--input", "target=8"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def traced(target, *inputs):
    """The YAML text and its parsed form for ``symgrad trace TARGET --input ...``."""
    args = ["trace", target]
    for i in inputs:
        args += ["--input", i]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    return r.output, yaml.safe_load(r.output)


def nodes(spec):
    return {k: str(v) for k, v in spec["nodes"].items()}


# --- the target models -----------------------------------------------------------------------
def test_notebook_mlp_spec():
    text, spec = traced(MLP + ":loss", "x=8,1,28,28", "y=8:long:10")
    assert spec["inputs"]["x"] == {"shape": [8, 1, 28, 28], "requires_grad": False}
    assert spec["inputs"]["y"] == {"shape": [8], "dtype": "long", "high": 10, "requires_grad": False}
    assert spec["inputs"]["fc1_weight"] == {"shape": [512, 784], "requires_grad": True}
    assert spec["inputs"]["fc3_bias"] == {"shape": [10], "requires_grad": True}
    assert list(spec["inputs"]) == ["x", "y", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias",
                                    "fc3_weight", "fc3_bias"]
    assert nodes(spec) == {
        "flatten": "flatten(x, 1)",
        "fc1": "linear(flatten, fc1_weight, fc1_bias)",
        "relu": "relu(fc1)",
        "fc2": "linear(relu, fc2_weight, fc2_bias)",
        "relu_2": "relu(fc2)",
        "fc3": "linear(relu_2, fc3_weight, fc3_bias)",
        "loss": "cross_entropy(fc3, y)",
    }
    assert spec["outputs"] == ["loss"]
    assert spec["backward"] == ["loss.backward()"]
    assert "`fc1.weight` is a leaf (`mlp.fc1.weight.is_leaf` is True)" in spec["description"]
    assert "examples/notebook_mlp.py:30" in text          # each node says where it comes from


def test_residual_block_two_losses_spec():
    _, spec = traced(RESIDUAL + ":losses", "x=8,16", "y=8:long:4", "target=8")
    n = nodes(spec)
    assert n["block_ln"] == "layer_norm(x, (16,), block_ln_weight, block_ln_bias, eps=1e-05)"
    assert n["block_fc2"] == "linear(gelu(block_fc1), block_fc2_weight, block_fc2_bias)"
    assert n["feats"] == "x + block_fc2"                  # the residual, named by the code's variable
    assert n["logits"] == "linear(feats, head_weight, head_bias)"
    assert n["ce"] == "cross_entropy(logits, y) + decay"
    for p in ("block_ln_weight", "block_fc1_bias", "head_weight", "head_bias"):   # sum over parameters()
        assert "sum(%s**2)" % p in n["decay"] + n.get("decay_part", "")
    assert spec["outputs"] == ["ce", "loss"]               # return order
    assert n["loss"] == "mse_loss(mean(feats, dim=1), target)"
    assert spec["backward"] == ["ce.backward(retain_graph=True)", "loss.backward()"]
    assert spec["inputs"]["target"] == {"shape": [8], "requires_grad": False}


def test_module_whose_forward_returns_the_loss():
    _, spec = traced(MODELS + ":SmallMLP", "x=4,3,4", "y=4,5")
    assert nodes(spec)["logits"] == "linear(relu_2, fc3_weight, fc3_bias)"
    assert nodes(spec)["loss"] == "cross_entropy(logits, y)"
    assert spec["inputs"]["y"] == {"shape": [4, 5], "requires_grad": False}   # PyTorch does not require a simplex
    assert "`fc1.weight` is a leaf (`small_mlp.fc1.weight.is_leaf` is True)" in spec["description"]


def test_shapes_views_and_reductions():
    _, spec = traced(MODELS + ":Shapes", "x=4,2,3", "t=4")
    n = nodes(spec)
    assert n["h"] == "reshape(x, (4, -1))"                # x.view(x.size(0), -1): sizes are static
    assert n["h_2"] == "h + tanh(proj)"
    assert n["z"] == "squeeze(out)"
    assert n["m"] == "sum(mean(reshape(h_2, (2, -1, 6)), dim=1), dim=-1, keepdim=True)"
    assert n["s"] == "sum(transpose(unsqueeze(h_2, 0), 1, 2), dim=(0, 2))"
    assert n["loss"] == "mse_loss(z, t) + mean(m) + 0.1*sum(s) + mean(flatten(h_2)**2)"


def test_frozen_parameter_is_a_leaf_without_grad():
    _, spec = traced(MODELS + ":Frozen", "x=3,4")
    assert spec["inputs"]["frozen_weight"]["requires_grad"] is False
    assert spec["inputs"]["frozen_bias"]["requires_grad"] is True
    assert "frozen (`requires_grad=False`)" in spec["description"]


def test_global_sequential_function_names():
    _, spec = traced(MODELS + ":two_losses", "x=5,4", "t=5,3", "y=5:long:3")
    assert list(spec["inputs"])[:3] == ["x", "t", "y"]
    assert "net_0_weight" in spec["inputs"] and "net_2_bias" in spec["inputs"]
    n = nodes(spec)
    assert n["net_0"] == "linear(x, net_0_weight, net_0_bias)"
    assert n["decay"] == ("0.01*(sum(net_0_weight**2) + sum(net_0_bias**2) + sum(net_2_weight**2) + "
                          "sum(net_2_bias**2))")
    assert spec["outputs"] == ["loss", "loss_2"]


def test_global_leaf_tensor_and_module_behind_an_attribute():
    _, spec = traced(MODELS + ":global_tensor_and_attribute", "x=3,4")
    assert spec["inputs"]["W"] == {"shape": [4, 2], "requires_grad": True}    # a leaf, not a constant
    assert spec["inputs"]["net_weight"] == {"shape": [2, 4], "requires_grad": True}
    assert "`W` is a leaf (`W.is_leaf` is True)" in spec["description"]
    assert nodes(spec)["loss"] == "sum(tanh(x @ W)) + sum(net**2)"


def test_batch_norm_buffers_are_inputs_without_grad():
    _, spec = traced(MODELS + ":BatchNormNet", "x=5,4")
    assert spec["inputs"]["bn_running_mean"] == {"shape": [6], "requires_grad": False}
    assert spec["inputs"]["bn_running_var"] == {"shape": [6], "requires_grad": False}
    assert "bn_num_batches_tracked" not in spec["inputs"]   # only its in-place update uses it
    assert nodes(spec)["bn"] == ("batch_norm(fc, bn_running_mean, bn_running_var, bn_weight, bn_bias, "
                                 "training=True)")


def test_cat_and_loops_over_module_lists():
    _, spec = traced(MODELS + ":Concat", "x=3,4")
    assert nodes(spec)["h"] == "cat((a, relu(b)), dim=1)"
    _, spec = traced(MODELS + ":Blocks", "x=2,5")
    n = nodes(spec)
    assert [k for k in n if k.startswith("x_")] == ["x_2", "x_3", "x_4"]   # the loop's turns of x
    assert n["x_3"] == "x_2 + tanh(blocks_1)"


def test_with_values_option():
    spec = yaml.safe_load(cli("trace", MODELS + ":Concat", "--input", "x=3,4", "--with-values").output)
    assert torch.tensor(spec["inputs"]["a_weight"]["value"]).shape == (3, 4)
    assert "value" not in spec["inputs"]["x"]                   # data is drawn by the check
    plain = yaml.safe_load(cli("trace", MODELS + ":Concat", "--input", "x=3,4").output)
    assert "value" not in plain["inputs"]["a_weight"]            # shapes only by default


def test_api_trace_yaml_and_problem():
    model = tm.Concat()
    text = symgrad.trace_yaml(model, with_values=True, x="3,4")
    spec = yaml.safe_load(text)
    for name, p in [("a_weight", model.a.weight), ("b_bias", model.b.bias)]:    # float32 values, exactly
        assert torch.equal(torch.tensor(spec["inputs"][name]["value"], dtype=torch.float64).float(), p)
    double = symgrad.trace_yaml(copy.deepcopy(model).double(), with_values=True, x="3,4")
    assert yaml.safe_load(double)["inputs"]["a_weight"]["value"] == model.a.weight.double().tolist()
    problem = symgrad.trace(tm.SmallMLP, x=torch.randn(4, 3, 4), y=(4, 5))
    assert isinstance(problem, symgrad.Problem)
    assert [d.name for d in problem.inputs][:2] == ["x", "y"]
    assert problem.outputs == ["loss"]
    assert problem.wrt == ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "fc3_weight", "fc3_bias"]


def test_trace_is_deterministic():
    assert traced(RESIDUAL + ":losses", "x=8,16", "y=8:long:4", "target=8")[0] == \
        traced(RESIDUAL + ":losses", "x=8,16", "y=8:long:4", "target=8")[0]


def test_every_name_is_a_unique_spec_identifier():
    for target, inputs in [(MODELS + ":Blocks", ["x=2,5"]), (MODELS + ":two_losses", ["x=5,4", "t=5,3", "y=5:long:3"]),
                           (RESIDUAL + ":losses", ["x=8,16", "y=8:long:4", "target=8"])]:
        _, spec = traced(target, *inputs)
        names = list(spec["inputs"]) + list(spec["nodes"])
        assert len(names) == len(set(names))
        assert all(n.isidentifier() and not n.startswith("grad_") for n in names)


def test_trace_writes_a_file(tmp_path):
    out = tmp_path / "mlp.yaml"
    r = cli("trace", MLP + ":loss", *MLP_INPUTS, "-o", out)
    assert r.exit_code == 0 and "wrote" in r.output
    assert yaml.safe_load(out.read_text())["outputs"] == ["loss"]


def test_derive_traced_code_from_the_command_line():
    r = cli("derive", MODELS + ":SmallMLP", "--input", "x=4,3,4", "--input", "y=4,5")
    assert r.exit_code == 0, r.output
    assert "dloss/dfc1_weight" in r.output and "PASS" in r.output


def test_help_says_tracing_runs_the_users_code():
    r = cli("trace", "--help")
    assert r.exit_code == 0
    assert "runs FILE.py" in r.output and "never executed" in r.output


# --- inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,shape,dtype,high", [
    ("x=8,1,28,28", (8, 1, 28, 28), "float", None),
    ("y=8:long:10", (8,), "long", 10),
    ("s=", (), "float", None),
    ("s=()", (), "float", None),
    ("m=4,4:bool", (4, 4), "bool", None),
])
def test_input_syntax(text, shape, dtype, high):
    s = parse_option(text)
    assert (s.shape, s.dtype, s.high) == (shape, dtype, high)


# --- errors: one line, exit 2, nothing written -----------------------------------------------------
def _line(function, needle):
    """The line of trace_models.py holding ``needle`` in ``function``."""
    import inspect
    src, start = inspect.getsourcelines(getattr(tm, function))
    return start + next(k for k, text in enumerate(src) if needle in text)


@pytest.mark.parametrize("args,message,where", [
    (["nope.py:f", "--input", "x=2"], "nope.py: cannot run it: no such file", None),
    ([MODELS + ":nothing"], "no 'nothing' in", None),
    ([MODELS], "expected FILE.py:NAME", None),
    ([MODELS + ":SmallMLP", "--input", "x=4,a"], "--input 'x=4,a': the shape must be positive integers", None),
    ([MODELS + ":SmallMLP", "--input", "x4"], "expected NAME=SHAPE[:long:HIGH]", None),
    ([MODELS + ":SmallMLP", "--input", "x=4,3,4", "--input", "y=4:long"], "a long input needs HIGH", None),
    ([MODELS + ":SmallMLP", "--input", "x=4,3,4"], "'SmallMLP' takes x, y: missing --input y=SHAPE", None),
    ([MODELS + ":SmallMLP", "--input", "x=4,3,4", "--input", "y=4,5", "--input", "z=1"],
     "'SmallMLP' has no argument 'z'", None),
    ([MODELS + ":not_callable"], "trace_models.py: 'not_callable' is an int, not a function or an nn.Module", None),
    ([MODELS + ":NeedsArguments", "--input", "x=2,4"],
     "trace_models.py:{line}: NeedsArguments() (instantiated with no arguments) raised TypeError",
     ("NeedsArguments", "class NeedsArguments")),
    ([MODELS + ":branches", "--input", "x=2,4"], "trace_models.py:{line}: 'branches' branches on or reads a tensor's",
     ("branches", "if h.sum()")),
    ([MODELS + ":unknown_op", "--input", "x=2,4"],
     "trace_models.py:{line}: 'erfinv' (aten.erfinv.default) is not in the spec language", ("unknown_op", "erfinv")),
    ([MODELS + ":overwritten", "--input", "x=2,4"],
     "trace_models.py:{line}: 'relu' (aten.relu_.default) overwrites a tensor", ("overwritten", "relu_")),
    ([MODELS + ":saved_then_overwritten", "--input", "x=2,4"],
     "trace_models.py:{line}: an in-place op here overwrites a value autograd saved for backward",
     ("saved_then_overwritten", "+=")),
    ([MODELS + ":builds_its_model", "--input", "x=2,4"],
     "trace_models.py:{line}: 'empty' (aten.empty.memory_format) makes a new random or uninitialized tensor",
     ("builds_its_model", "nn.Linear")),
    ([MODELS + ":random_dropout", "--input", "x=2,4"], "trace_models.py:{line}: dropout in training mode is random",
     ("random_dropout", "F.dropout")),
    ([MODELS + ":fails", "--input", "x=2,4"], "trace_models.py:{line}: tracing 'fails' raised ValueError: this model",
     ("fails", "raise")),
    ([MODELS + ":SmallMLP", "--input", "x=4,7", "--input", "y=4,5"], "tracing 'SmallMLP' raised RuntimeError", None),
])
def test_bad_input_is_one_located_line(tmp_path, args, message, where):
    out = tmp_path / "spec.yaml"
    r = cli("trace", *args, "-o", out)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symgrad: error: "), r.output
    assert message.format(line=_line(*where) if where else None) in lines[0]
    assert "Traceback" not in r.output and not out.exists()


def test_derive_with_input_needs_traced_code(tmp_path):
    spec = os.path.join(EXAMPLES, "multi_loss.yaml")
    r = cli("derive", spec, "--input", "x=3")
    assert r.exit_code == 2 and "--input goes with FILE.py:NAME" in r.output


def test_unsupported_op_in_this_spec_language_points_at_the_users_line():
    """A traced node the loader cannot read is reported at the user's line, not the YAML's."""
    from symgrad.trace import Traced, load_traced, TraceError
    text = ("inputs:\n  x: {shape: [2]}\nnodes:\n  y: no_such_function(x)\n")
    with pytest.raises(TraceError) as e:
        load_traced(Traced(text, {4: ("model.py", 12, "y")}, "model.py:f"))
    assert str(e.value).startswith("model.py:12: unknown function 'no_such_function'")
    assert "traced node 'y'" in str(e.value)
