"""Rules for layers and losses: PyTorch's own names and signatures, never their decompositions."""
from ..expr import call, keep
from .core import RULES, SAME, Unsupported, reduction_arg, rule

# --- layers and losses ----------------------------------------------------------------------------
def _optional(*pairs):
    """Positional tensors up to the first missing one, then keywords: layer_norm(x, s, w, bias=b)."""
    pos, kw, gap = [], {}, False
    for name, v in pairs:
        if v is None:
            gap = True
        elif gap:
            kw[name] = v
        else:
            pos.append(v)
    return pos, kw


@rule("linear")
def _linear(c):
    pos, kw = _optional(("weight", c.a["weight"]), ("bias", c.a["bias"]))
    return call("linear", c.a["input"], *pos, **kw)


@rule("layer_norm")
def _layer_norm(c):
    pos, kw = _optional(("weight", c.a["weight"]), ("bias", c.a["bias"]))
    return call("layer_norm", c.a["input"], tuple(c.a["normalized_shape"]), *pos, **kw, eps=c.a["eps"])


@rule("rms_norm")
def _rms_norm(c):
    pos, kw = _optional(("weight", c.a["weight"]))
    return call("rms_norm", c.a["input"], tuple(c.a["normalized_shape"]), *pos, **kw,
                eps=keep(c.a["eps"], None))


@rule("batch_norm")
def _batch_norm(c):
    return call("batch_norm", c.a["input"], c.a["running_mean"], c.a["running_var"], c.a["weight"], c.a["bias"],
                training=c.a["training"], momentum=keep(c.a["momentum"], 0.1), eps=keep(c.a["eps"], 1e-05))


@rule("dropout", "feature_dropout", "alpha_dropout")
def _dropout(c):
    if c.a["train"] and c.a["p"] > 0:
        raise Unsupported("%s in training mode is random and not in the spec language: call .eval() on "
                          "the model (or pass training=False)" % c.op)
    return SAME


@rule("scaled_dot_product_attention")
def _sdpa(c):
    if c.a["dropout_p"]:
        raise Unsupported("scaled_dot_product_attention with dropout_p > 0 is random and not in the spec language")
    if c.a.get("enable_gqa"):
        raise Unsupported("scaled_dot_product_attention with enable_gqa is not in the spec language")
    return call("scaled_dot_product_attention", c.a["query"], c.a["key"], c.a["value"],
                attn_mask=keep(c.a["attn_mask"], None), is_causal=keep(c.a["is_causal"], False),
                scale=keep(c.a["scale"], None))


@rule("cosine_similarity")
def _cosine_similarity(c):
    return call("cosine_similarity", c.a["x1"], c.a["x2"], dim=keep(c.a["dim"], 1), eps=keep(c.a["eps"], 1e-08))


def _loss(name, *extra):
    """A loss ``name(input, target, ..., reduction=...)`` with optional keyword arguments."""
    def f(c):
        first = c.a.get("self", c.a.get("input"))
        kw = {k: keep(c.a.get(k, d), d) for k, d in extra}
        return call(name, first, c.a["target"], **kw, reduction=reduction_arg(c.a.get("reduction", 1)))
    return f


RULES["mse_loss"] = _loss("mse_loss")
RULES["l1_loss"] = _loss("l1_loss")
RULES["smooth_l1_loss"] = _loss("smooth_l1_loss", ("beta", 1.0))
RULES["huber_loss"] = _loss("huber_loss", ("delta", 1.0))
RULES["kl_div"] = _loss("kl_div", ("log_target", False))
RULES["binary_cross_entropy"] = _loss("binary_cross_entropy", ("weight", None))
RULES["binary_cross_entropy_with_logits"] = _loss("binary_cross_entropy_with_logits", ("weight", None),
                                                  ("pos_weight", None))
RULES["cross_entropy_loss"] = _loss("cross_entropy", ("weight", None), ("ignore_index", -100),
                                    ("label_smoothing", 0.0))
RULES["nll_loss"] = RULES["nll_loss_nd"] = RULES["nll_loss2d"] = _loss("nll_loss", ("weight", None),
                                                                       ("ignore_index", -100))


@rule("poisson_nll_loss")
def _poisson(c):
    return call("poisson_nll_loss", c.a["input"], c.a["target"], log_input=keep(c.a["log_input"], True),
                full=keep(c.a["full"], False), eps=keep(c.a["eps"], 1e-08), reduction=reduction_arg(c.a["reduction"]))
