"""Models of tests/trace_models_more.py, end to end: each traces to a spec in PyTorch's own
names (checked on the YAML), derives, compiles, and its compiled gradients equal
torch.autograd on the real module with the same parameter values (float64)."""
import copy

import pytest
import torch

import symgrad
from symgrad.trace import TraceError

import trace_models_more as tm
from test_trace_e2e import compiled_vs_autograd

torch.manual_seed(0)


def ids(*shape, high):
    return torch.randint(0, high, shape)


def run(model, inputs, expect=(), absent=()):
    """Trace ``model`` (a fresh copy, float64) at ``inputs``; check the spec's text contains
    each of ``expect`` and none of ``absent``; compare the compiled gradients with autograd."""
    m = copy.deepcopy(model).double()
    inputs = {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}
    text = symgrad.trace_yaml(m, **inputs)
    body = text[text.index("nodes:"):]
    for e in expect:
        assert e in body, (e, body)
    for a in absent:
        assert a not in body, (a, body)
    d = compiled_vs_autograd(m, {"": m}, inputs)
    report = d.check()
    assert all(r.passed for r in report.rows), [r for r in report.rows if not r.passed]
    return d, body


def test_tiny_gpt_with_sdpa_and_token_ids():
    run(tm.TinyGPT(), {"idx": ids(2, 5, high=11), "targets": ids(2, 5, high=11)},
        expect=["tok_weight[idx]", "scaled_dot_product_attention(q, k, v, is_causal=True)",
                "transpose(reshape(block_attn_q, (2, 5, 2, 4)), 1, 2)", "layer_norm(", "gelu(",
                "cross_entropy(reshape(logits, (10, -1)), reshape(targets, (-1,)))", "x: tok + pos "])


def test_attention_written_out():
    run(tm.ManualAttention(), {"x": torch.randn(2, 4, 6), "y": ids(2, high=2)},
        expect=["split(qkv, 6, dim=2)[1]", "softmax(att, dim=-1)", "h[:, -1]"])


def test_real_transformer_encoder_layer_in_eval_mode():
    run(tm.EncoderLayer().eval(), {"x": torch.randn(2, 3, 8), "y": ids(2, high=3)},
        expect=["scaled_dot_product_attention(", "layer_norm(", "enc_self_attn_in_proj_weight"])


def test_lstm_cell_from_chunk():
    run(tm.LSTM(), {"x": torch.randn(2, 3, 3), "target": torch.randn(2)},
        expect=["chunk(gates, 4, dim=1)[2]", "linear(x[:, 0], ih_weight, ih_bias)", "zeros((2, 4))"])


def test_gru_with_unbind_and_stack():
    run(tm.GRUByHand(), {"x": torch.randn(2, 3, 3)}, expect=["x[:, 2]", "stack((h_2, h_3, h_4), dim=1)"])


def test_embedding_bag_of_words():
    d, _ = run(tm.BagOfWords(), {"tokens": ids(3, 4, high=13), "y": ids(3, high=3)},
               expect=["emb_weight[tokens]", "mean(emb, dim=1)", "cross_entropy(fc, y)"])
    highs = {i.name: i.high for i in d.problem.inputs if i.name in ("tokens", "y")}
    assert highs == {"tokens": 13, "y": 3}


def test_set_encoder_max_pooling():
    run(tm.SetEncoder(), {"x": torch.randn(2, 5, 3), "y": ids(2, high=4)},
        expect=["amax(h, dim=1)", "max(h, 1)", "cat(("])


def test_gather_index_select_one_hot_and_rows():
    d, _ = run(tm.Gathering(), {"x": torch.randn(3, 2, 4), "y": ids(3, high=4)},
               expect=["x[:, 0] + W[y]", "gather(z, 1, unsqueeze(y, 1))", "index_select(W, 0, y)", "one_hot(y, 4)"])
    assert [i.high for i in d.problem.inputs if i.name == "y"] == [4]      # the least of its uses


def test_cat_permute_einsum_expand_repeat_flip():
    run(tm.Mixer(), {"x": torch.randn(2, 3, 3)},
        expect=["cls.expand(2, 1, 3)", "permute(h, (0, 2, 1))", "einsum('btc,cd->btd', h_3, W)", "s[:, 0]",
                "flip(s[:, 1:], (1,))", ".repeat(1, 2, 1)", "var(first, dim=0)", "amin(s, dim=(1, 2))"])


def test_gaussian_nll_through_cholesky_and_solve():
    run(tm.GaussianNLL(), {"x": torch.randn(4, 3)},
        expect=["cholesky(cov)", "solve(cov, r.T)", "diagonal(L)", "slogdet(cov)"])


def test_normalize_and_cosine_similarity():
    run(tm.Contrastive(), {"a": torch.randn(3, 5), "b": torch.randn(3, 5), "y": ids(3, high=3)},
        expect=["normalize(f)", "cosine_similarity(f_2, g_2)"], absent=["clamp("])


def test_batch_norm_training_and_weight_decay():
    run(tm.BatchNormDecay(), {"x": torch.randn(5, 4), "y": ids(5, high=3)},
        expect=["batch_norm(net_0, net_1_running_mean, net_1_running_var, net_1_weight, net_1_bias, training=True)",
                "sum(net_3_bias**2)"])


def test_rms_norm_activations_and_losses():
    run(tm.RMSNormLosses(), {"x": torch.randn(3, 4), "t": torch.randn(3, 4)},
        expect=["rms_norm(fc, (4,), norm_weight)", "relu6(h)", "huber_loss(", "kl_div("])


def test_masked_fill_with_minus_infinity_is_one_located_error():
    with pytest.raises(TraceError) as e:
        symgrad.trace(copy.deepcopy(tm.MaskedAttention()).double(),
                      x=torch.randn(2, 4, 6, dtype=torch.float64), y=ids(2, high=2))
    msg = str(e.value)
    assert "trace_models_more.py:" in msg and "aten.eq" in msg and len(msg.splitlines()) == 1


def test_less_common_calls():
    run(tm.Odds(), {"x": torch.randn(3, 4), "y": ids(3, high=5)},
        expect=["arange(4)", "pad(h, (1, 0, 0, 2), value=0.5)", ".eigenvalues", "count_nonzero(x > 0)",
                "index_add(zeros((5, 4)), 0, y, h)", "scatter_add(", "softplus(2*h)/2", "norm(W, dim=(-2, -1))",
                "polygamma(1, "])


def test_token_ids_from_the_command_line():
    import os
    import yaml
    from click.testing import CliRunner
    from symgrad.cli import main
    from conftest import ROOT
    r = CliRunner().invoke(main, ["trace", os.path.join(ROOT, "tests", "trace_models_more.py") + ":TinyGPT",
                                  "--input", "idx=2,5:long:11", "--input", "targets=2,5:long:11"])
    assert r.exit_code == 0, r.output
    spec = yaml.safe_load(r.output)
    assert spec["inputs"]["idx"] == {"shape": [2, 5], "dtype": "long", "high": 11, "requires_grad": False}
    assert "scaled_dot_product_attention(q, k, v, is_causal=True)" in spec["nodes"]["y"]
