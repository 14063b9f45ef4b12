"""A two-layer transformer written in the spec language against ``nn.TransformerEncoderLayer``.

The spec is built from the module's own shapes: per layer, q, k and v are ``linear`` maps
of the (normed) input with the three row blocks of ``in_proj_weight``, split into heads by
``reshape``/``transpose``, attended with ``scaled_dot_product_attention`` (4-D, PyTorch's
fused CPU node) and merged back; a ReLU (or GELU) feed-forward; LayerNorm before each
sublayer (``norm_first=True``) or after each residual (the default).  The compiled closed
forms must equal autograd on the real modules with the same parameter values (float64,
train mode, dropout 0).
"""
import copy

import pytest
import torch
from torch import nn

import symgrad

B, T, E, H, F = 2, 3, 8, 2, 12


def layer_nodes(l, src, norm_first, causal, act):
    """The nodes of encoder layer ``l`` reading ``src``; returns (lines, name of its output)."""
    p = "l%d_" % l

    def ln(x, k):
        return "layer_norm(%s, (%d,), %snorm%d_weight, %snorm%d_bias)" % (x, E, p, k, p, k)

    def heads(x, w):
        return "linear(%s, %s%s_weight, %s%s_bias).reshape(%d, %d, %d, %d).transpose(1, 2)" % (
            x, p, w, p, w, B, T, H, E // H)
    lines = []
    h = p + "h1"
    lines.append("%s: %s" % (h, ln(src, 1) if norm_first else src))
    for w in "qkv":
        lines.append("%s%s: %s" % (p, w, heads(h, w)))
    lines.append("%sa: scaled_dot_product_attention(%sq, %sk, %sv%s)" % (p, p, p, p, ", is_causal=True" if causal else ""))
    sa = "linear(%sa.transpose(1, 2).reshape(%d, %d, %d), %sout_proj_weight, %sout_proj_bias)" % (p, B, T, E, p, p)
    lines.append("%sx1: %s" % (p, (src + " + " + sa) if norm_first else ln(src + " + " + sa, 1)))
    h2 = ln(p + "x1", 2) if norm_first else p + "x1"
    ff = "linear(%s(linear(%s, %slinear1_weight, %slinear1_bias)), %slinear2_weight, %slinear2_bias)" % (
        act, h2, p, p, p, p)
    lines.append("%sx2: %s" % (p, (p + "x1 + " + ff) if norm_first else ln(p + "x1 + " + ff, 2)))
    return lines, p + "x2"


def params_of(l, layer):
    """Spec input name -> tensor: in_proj split into its q, k, v blocks."""
    out = {}
    for name, t in layer.named_parameters():
        name = name.replace("self_attn.", "").replace(".", "_")
        if name == "in_proj_weight" or name == "in_proj_bias":
            for w, block in zip("qkv", t.detach().chunk(3, 0)):
                out["l%d_%s_%s" % (l, w, name.split("_")[-1])] = block
        else:
            out["l%d_%s" % (l, name)] = t.detach()
    return out


def spec_for(layers, norm_first, causal, act):
    inputs = {"x": (B, T, E), "c": (B, T, E)}
    lines, src = [], "x"
    for l, layer in enumerate(layers):
        for name, t in params_of(l, layer).items():
            inputs[name] = tuple(t.shape)
        ls, src = layer_nodes(l, src, norm_first, causal, act)
        lines += ls
    lines.append("loss: sum(%s * c)" % src)
    text = "inputs:\n" + "".join("  %s: {shape: %s%s}\n" % (n, list(s), ", requires_grad: false" if n in "xc" else "")
                                 for n, s in inputs.items())
    return text + "nodes:\n" + "".join("  %s\n" % ln for ln in lines)


@pytest.mark.parametrize("norm_first,causal,act", [(True, False, "relu"), (False, False, "relu"),
                                                    (True, True, "gelu"), (False, True, "relu")])
def test_two_layer_transformer_matches_nn_transformer_encoder_layer(norm_first, causal, act):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation=act, batch_first=True,
                                       norm_first=norm_first, dtype=torch.float64)
    layers = [layer, copy.deepcopy(layer)]
    with torch.no_grad():                    # two layers with different parameters
        for q in layers[1].parameters():
            q.add_(0.1 * torch.randn_like(q))
    model = nn.TransformerEncoder(layers[0], 2, enable_nested_tensor=False)
    model.layers = nn.ModuleList(layers)
    model.train()
    x = torch.randn(B, T, E, dtype=torch.float64)
    c = torch.randn(B, T, E, dtype=torch.float64)
    mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64) if causal else None
    loss = (model(x, mask=mask, is_causal=causal) * c).sum()
    ref = dict(zip([n for n, _ in model.named_parameters()], torch.autograd.grad(loss, list(model.parameters()))))

    d = symgrad.derive(symgrad.loads(spec_for(layers, norm_first, causal, act)))
    values = {"x": x, "c": c}
    for l, layer in enumerate(layers):
        values.update(params_of(l, layer))
    got = d.compile()(**values)["loss"]
    for l in range(2):
        for name, want in ref.items():
            if not name.startswith("layers.%d." % l):
                continue
            short = name[len("layers.%d." % l):].replace("self_attn.", "").replace(".", "_")
            if short.startswith("in_proj"):
                kind = short.split("_")[-1]
                mine = torch.cat([got["l%d_%s_%s" % (l, w, kind)] for w in "qkv"])
            else:
                mine = got["l%d_%s" % (l, short)]
            torch.testing.assert_close(mine, want, rtol=1e-9, atol=1e-11, msg=name)
    # the autograd model records PyTorch's fused attention node for these 4-D heads
    from symgrad.autograd.recorded import autograd_graph
    assert "ScaledDotProductFlashAttentionForCpuBackward0" in {n.name for n in autograd_graph(d.problem).nodes}
