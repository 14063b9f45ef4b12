"""Op cases of the losses and attention (SPEC section 10): every reduction, broadcast targets,
targets and weights that do or do not require grad, and values placed on the kinks where
PyTorch's subgradient must be matched (|x - t| == beta or delta, x == t, var below eps)."""
R, P, U, S = "real", "positive", "unit", "simplex"

CASES = {
    "l1_loss": [
        ("l1_loss(x, c)", {"x": ([3, 4], R), "c": ([3, 4], R)}),
        ("l1_loss(x, z, reduction='sum')", {"x": ([3, 4], R), "z": ([4], R)}),
        ("l1_loss(x, z, reduction='none')", {"x": ([2, 3], R), "z": ([2, 3], R)}),
        ("l1_loss(x, c)", {"x": ([3], R, [1.0, 2.0, -1.0]), "c": ([3], R, [1.0, 0.0, -1.0])}),   # x == t: 0
        ("l1_loss(x, c, weight=w)", {"x": ([3, 4], R), "c": ([3, 4], R), "w": ([3, 4], P)}),       # sum/sum(w)
        ("l1_loss(x, z, reduction='none', weight=cw)", {"x": ([2, 3], R), "z": ([2, 3], R), "cw": ([2, 3], P)}),
    ],
    "smooth_l1_loss": [
        ("smooth_l1_loss(x, c)", {"x": ([3, 4], R), "c": ([3, 4], R)}),
        ("smooth_l1_loss(x, z, reduction='sum', beta=0.5)", {"x": ([3, 4], R), "z": ([4], R)}),
        ("smooth_l1_loss(x, c, reduction='sum')",                      # |d| == beta, d == 0, inside, outside
         {"x": ([5], R, [1.0, -1.0, 0.0, 0.25, 3.0]), "c": ([5], R, [0.0, 0.0, 0.0, 0.0, 0.0])}),
        ("smooth_l1_loss(x, c, beta=0.0, reduction='sum')", {"x": ([2], R, [0.0, 1.0]), "c": ([2], R, [0.0, 0.0])}),
        ("smooth_l1_loss(x, z, reduction='none', beta=2)", {"x": ([2, 3], R), "z": ([2, 3], R)}),
    ],
    "huber_loss": [
        ("huber_loss(x, c)", {"x": ([3, 4], R), "c": ([3, 4], R)}),
        ("huber_loss(x, z, reduction='sum', delta=0.5)", {"x": ([3, 4], R), "z": ([4], R)}),
        ("huber_loss(x, c, 'sum')", {"x": ([4], R, [1.0, -1.0, 0.0, -2.5]), "c": ([4], R, [0.0, 0.0, 0.0, 0.0])}),
        ("huber_loss(x, z, delta=1.5, reduction='none')", {"x": ([2, 3], R), "z": ([3], R)}),
        ("huber_loss(x, c, weight=cw)", {"x": ([3, 4], R), "c": ([3, 4], R), "cw": ([3, 4], P)}),  # a plain mean
        ("huber_loss(cx, c, 'sum', 0.5, w)", {"cx": ([3, 4], R), "c": ([3, 4], R), "w": ([3, 4], P)}),
    ],
    "kl_div": [
        ("kl_div(x, c)", {"x": ([3, 4], R), "c": ([3, 4], S)}),
        ("kl_div(x, c, reduction='batchmean')", {"x": ([3, 4], R), "c": ([3, 4], S)}),
        ("kl_div(x, z, reduction='batchmean')", {"x": ([3, 4], R), "z": ([3, 4], S)}),
        ("kl_div(x, z, reduction='sum', log_target=True)", {"x": ([3, 4], R), "z": ([3, 4], R)}),
        ("kl_div(x, c, reduction='none', log_target=True)", {"x": ([2, 3], R), "c": ([3], R)}),
        ("kl_div(cx, z, reduction='none')", {"cx": ([2, 3], R), "z": ([2, 3], U)}),
        ("kl_div(x, c, reduction='sum')", {"x": ([2], R, [-1.0, -2.0]), "c": ([2], "nonnegative", [0.0, 1.0])}),  # t == 0
        ("kl_div(x, c, reduction='batchmean')", {"x": ([4], R), "c": ([4], S)}),
    ],
    "poisson_nll_loss": [
        ("poisson_nll_loss(x, c)", {"x": ([3, 4], R), "c": ([3, 4], P)}),
        ("poisson_nll_loss(x, z, log_input=False, reduction='sum')", {"x": ([3, 4], P), "z": ([3, 4], P)}),
        ("poisson_nll_loss(x, z, full=True)", {"x": ([2, 3], R), "z": ([2, 3], R, [[0.5, 1.0, 1.5], [2.0, 3.0, 0.2]])}),
        ("poisson_nll_loss(cx, z, False, True, reduction='none')",
         {"cx": ([2, 3], P), "z": ([2, 3], R, [[0.5, 1.0, 1.5], [2.0, 3.0, 0.2]])}),
        ("poisson_nll_loss(x, c, eps=0.1, log_input=False)", {"x": ([4], P), "c": ([4], P)}),
    ],
    "gaussian_nll_loss": [
        ("gaussian_nll_loss(x, c, v)", {"x": ([3, 4], R), "c": ([3, 4], R), "v": ([3, 4], P)}),
        ("gaussian_nll_loss(x, z, v, reduction='sum')", {"x": ([3, 4], R), "z": ([3, 4], R), "v": ([3], P)}),
        ("gaussian_nll_loss(x, c, v, full=True)", {"x": ([3, 4], R), "c": ([4], R), "v": ([3, 1], P)}),
        ("gaussian_nll_loss(x, c, v, reduction='none')", {"x": ([3, 4], R), "c": ([3, 4], R), "v": ([1, 4], P)}),
        ("gaussian_nll_loss(x, c, v, reduction='sum')",                  # var below eps: no clamp mask
         {"x": ([2], R, [1.0, 1.0]), "c": ([2], R, [0.0, 0.0]), "v": ([2], P, [1e-08, 2.0])}),
        ("gaussian_nll_loss(x, c, 0.5, eps=0.001)", {"x": ([3], R), "c": ([3], R)}),
        ("gaussian_nll_loss(cx, c, v, reduction='none', full=True)", {"cx": ([2, 3], R), "c": ([2, 3], R), "v": ([2, 1], P)}),
    ],
    "binary_cross_entropy": [
        ("binary_cross_entropy(x, c, weight=cw)", {"x": ([3, 4], U), "c": ([3, 4], U), "cw": ([4], P)}),
        ("binary_cross_entropy(x, z, cw, reduction='sum')", {"x": ([3, 4], U), "z": ([3, 4], U), "cw": ([3, 1], P)}),
        ("binary_cross_entropy(x, c, reduction='none')", {"x": ([2, 3], U), "c": ([2, 3], U)}),
        ("binary_cross_entropy(sigmoid(x), c, cw)", {"x": ([5], R), "c": ([5], U), "cw": ([5], P)}),
    ],
    "binary_cross_entropy_with_logits": [
        ("binary_cross_entropy_with_logits(x, c, weight=cw, pos_weight=cp)",
         {"x": ([3, 4], R), "c": ([3, 4], U), "cw": ([3, 1], P), "cp": ([4], P)}),
        ("binary_cross_entropy_with_logits(x, z, reduction='sum', pos_weight=cp)",
         {"x": ([3, 4], R), "z": ([3, 4], U), "cp": ([4], P)}),
    ],
    "cross_entropy": [
        # class indices (OPS.md item 14): plain, weight, label smoothing, both, ignore_index, K-dim
        ("cross_entropy(x, t)", {"x": ([4, 3], R), "t": ([4], "long:3")}),
        ("cross_entropy(x, t, reduction='sum')", {"x": ([4, 3], R), "t": ([4], "long:3")}),
        ("cross_entropy(x, t, reduction='none')", {"x": ([4, 3], R), "t": ([4], "long:3")}),
        ("cross_entropy(x, t, weight=cw)", {"x": ([4, 3], R), "t": ([4], "long:3"), "cw": ([3], P)}),
        ("cross_entropy(x, t, label_smoothing=0.1)", {"x": ([4, 3], R), "t": ([4], "long:3")}),
        ("cross_entropy(x, t, cw, label_smoothing=0.2, reduction='sum')",
         {"x": ([4, 3], R), "t": ([4], "long:3"), "cw": ([3], P)}),
        ("cross_entropy(x, t, cw, label_smoothing=0.3)", {"x": ([5, 3], R), "t": ([5], "long:3"), "cw": ([3], P)}),
        ("cross_entropy(x, t, ignore_index=1)", {"x": ([4, 3], R), "t": ([4], "long:3", [0, 1, 2, 1])}),
        ("cross_entropy(x, t, cw, ignore_index=0, reduction='none', label_smoothing=0.3)",
         {"x": ([4, 3], R), "t": ([4], "long:3", [0, 1, 2, 0]), "cw": ([3], P)}),
        ("cross_entropy(x, t)", {"x": ([2, 3, 5], R), "t": ([2, 5], "long:3")}),
        ("cross_entropy(x, t, reduction='none')", {"x": ([2, 3, 2, 2], R), "t": ([2, 2, 2], "long:3")}),
        ("cross_entropy(x, t, label_smoothing=0.1, reduction='none')", {"x": ([2, 3, 4], R), "t": ([2, 4], "long:3")}),
        ("cross_entropy(x, t, cw)", {"x": ([3], R), "t": ([], "long:3"), "cw": ([3], P)}),
        # probability targets
        ("cross_entropy(x, c, weight=cw)", {"x": ([4, 3], R), "c": ([4, 3], S), "cw": ([3], P)}),
        ("cross_entropy(x, c, label_smoothing=0.2)", {"x": ([4, 3], R), "c": ([4, 3], S)}),
        ("cross_entropy(x, z, w, reduction='sum', label_smoothing=0.1)",
         {"x": ([4, 3], R), "z": ([4, 3], S), "w": ([3], P)}),
        ("cross_entropy(x, c, w, reduction='none')", {"x": ([2, 3, 5], R), "c": ([2, 3, 5], U), "w": ([3], P)}),
    ],
    "nll_loss": [
        ("nll_loss(x, t)", {"x": ([4, 3], R), "t": ([4], "long:3")}),
        ("nll_loss(x, t, cw, reduction='sum')", {"x": ([4, 3], R), "t": ([4], "long:3"), "cw": ([3], P)}),
        ("nll_loss(x, t, cw, ignore_index=2)", {"x": ([4, 3], R), "t": ([4], "long:3", [2, 0, 2, 1]), "cw": ([3], P)}),
        ("nll_loss(log_softmax(x, 1), t, reduction='none')", {"x": ([2, 3, 5], R), "t": ([2, 5], "long:3")}),
        ("nll_loss(x, t)", {"x": ([3], R), "t": ([], "long:3")}),
    ],
    "mse_loss": [
        ("mse_loss(x, c, reduce=False)", {"x": ([2, 3], R), "c": ([2, 3], R)}),
        ("mse_loss(x, z, size_average=False)", {"x": ([3], R), "z": ([3], R)}),
        ("mse_loss(x, c, weight=w)", {"x": ([3, 4], R), "c": ([3, 4], R), "w": ([3, 4], P)}),
        ("mse_loss(x, c, reduction='sum', weight=cw)", {"x": ([3, 4], R), "c": ([4], R), "cw": ([3, 4], P)}),
    ],
}

# attention: 4-D inputs record PyTorch's fused CPU node, other ranks (and a value head size
# other than the query's, broadcast batch dims, a float mask requiring grad) the decomposition
CASES["scaled_dot_product_attention"] = [
    ("scaled_dot_product_attention(q, k, v)", {"q": ([2, 2, 3, 4], R), "k": ([2, 2, 5, 4], R), "v": ([2, 2, 5, 4], R)}),
    ("scaled_dot_product_attention(q, k, v, is_causal=True)", {"q": ([2, 3, 4], R), "k": ([2, 3, 4], R), "v": ([2, 3, 2], R)}),
    ("scaled_dot_product_attention(q, k, v, is_causal=True)",          # L != S: top-left aligned
     {"q": ([2, 2, 2, 4], R), "k": ([2, 2, 4, 4], R), "v": ([2, 2, 4, 4], R)}),
    ("scaled_dot_product_attention(q, k, v, attn_mask=m)", {"q": ([3, 4], R), "k": ([5, 4], R), "v": ([5, 2], R),
                                                            "m": ([3, 5], R)}),
    ("scaled_dot_product_attention(q, k, v, attn_mask=cm > 0, scale=0.5)",     # row 1 attends nowhere
     {"q": ([2, 2, 4], R), "k": ([2, 3, 4], R), "v": ([2, 3, 2], R),
      "cm": ([2, 3], R, [[1.0, -1.0, 1.0], [-1.0, -1.0, -1.0]])}),
    ("scaled_dot_product_attention(q, k, cv, attn_mask=cm)", {"q": ([2, 1, 3, 4], R), "k": ([2, 2, 5, 4], R),
                                                              "cv": ([5, 3], R), "cm": ([1, 5], R)}),
    ("scaled_dot_product_attention(cq, ck, v)", {"cq": ([2, 3, 4], R), "ck": ([2, 5, 4], R), "v": ([2, 5, 3], R)}),
    ("scaled_dot_product_attention(q, ck, cv, is_causal=True)",
     {"q": ([1, 2, 3, 4], R), "ck": ([1, 2, 3, 4], R), "cv": ([1, 2, 3, 4], R)}),
    ("scaled_dot_product_attention(q, k, v, attn_mask=cm)", {"q": ([2, 3, 4], R), "k": ([2, 3, 4], R),
                                                              "v": ([2, 3, 4], R), "cm": ([2, 3, 3], "bool")}),
    ("scaled_dot_product_attention(q, k, v, attn_mask=cm < 0.5)", {"q": ([1, 2, 3, 4], R), "k": ([1, 2, 5, 4], R),
                                                                   "v": ([1, 2, 5, 4], R), "cm": ([3, 5], U)}),
]
