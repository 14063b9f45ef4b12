"""Held-out style cases: Matrix Cookbook identities, ML models, PyTorch's subgradients at ties
and kinks, and the calls that found bugs (zeros_like lowered as ones, softplus/gelu keywords,
batched det/logdet, attention Hessians behind the flash kernel, a sum's common factor in a
matrix product).

Each case is a spec; every check row must pass in float64, and where a textbook form exists
the gradient's (or Hessian's) text must be exactly it.
"""
import pytest

import symgrad


def spec(nodes, inputs, hessians=(), extra=""):
    lines = ["inputs:"]
    for name, desc in inputs.items():
        lines.append("  %s: {%s}" % (name, desc))
    lines.append("nodes:")
    lines += ["  %s: %s" % kv for kv in nodes.items()]
    if hessians:
        lines.append("hessians: [%s]" % ", ".join("[%s]" % ", ".join(h) for h in hessians))
    return "\n".join(lines) + "\n" + extra


C = "requires_grad: false"
TIES = "shape: [3, 4], value: [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]"

# name -> (spec text, {(output, wrt...): (gradient or Hessian text, HVP text or None)})
CASES = {
    # --- the Matrix Cookbook, first and second order ---------------------------------------
    "trace_AXB": (spec({"f": "trace(A @ X @ B)"}, {"X": "shape: [3, 4]", "A": "shape: [2, 3], " + C,
                                                   "B": "shape: [4, 2], " + C}, [("f", "X")]), {}),
    "trace_XtAX": (spec({"f": "trace(X.T @ A @ X)"}, {"X": "shape: [3, 4]", "A": "shape: [3, 3], " + C},
                        [("f", "X")]),
                   {("f", "X"): ("(A + A.T) @ X", None), ("f", "X", "X"): (None, "(A + A.T) @ v_X")}),
    "least_squares": (spec({"f": "sum((A @ x - b)**2)"}, {"A": "shape: [5, 3], " + C, "x": "shape: [3]",
                                                        "b": "shape: [5], " + C}, [("f", "x")]),
                      {("f", "x"): ("2*A.T @ (A @ x - b)", None), ("f", "x", "x"): ("2*A.T @ A", "2*A.T @ (A @ v_x)")}),
    "least_squares_dot": (spec({"f": "(A @ x - b) @ (A @ x - b)"}, {"A": "shape: [5, 3], " + C, "x": "shape: [3]",
                                                                  "b": "shape: [5], " + C}, [("f", "x")]),
                          {("f", "x"): ("2*A.T @ (A @ x - b)", None)}),
    "a_inv_b": (spec({"f": "a @ inverse(X) @ b"}, {"X": "shape: [3, 3]", "a": "shape: [3]", "b": "shape: [3]"},
                     [("f", "X"), ("f", "a", "X"), ("f", "X", "b")]),
                {("f", "X"): ("-inverse(X).T @ outer(a, b) @ inverse(X).T", None)}),
    "det_general": (spec({"f": "det(X)"}, {"X": "shape: [3, 3]"}, [("f", "X")]),
                    {("f", "X"): ("f*inverse(X).T", None)}),
    "logdet_general": (spec({"f": "logdet(X)"}, {"X": "shape: [3, 3], domain: spd"}, [("f", "X")]),
                       {("f", "X"): ("inverse(X)", None), ("f", "X", "X"): (None, "-inverse(X) @ v_X.T @ inverse(X)")}),
    "det_batched": (spec({"f": "sum(det(X)*det(X))"}, {"X": "shape: [2, 3, 3]"}, [("f", "X")]), {}),
    "logdet_batched": (spec({"f": "sum(logdet(X))"}, {"X": "shape: [2, 3, 3], domain: spd"}, [("f", "X")]), {}),
    "det_of_product": (spec({"f": "det(A @ X + eye(3))"}, {"X": "shape: [3, 3]", "A": "shape: [3, 3], " + C},
                            [("f", "X")]), {}),
    "logdet_gram": (spec({"f": "logdet(X.T @ X)"}, {"X": "shape: [4, 3]"}, [("f", "X")]), {}),
    "inverse_of_vector": (spec({"f": "sum(inverse(outer(w, w) + eye(3)))"}, {"w": "shape: [3]"}, [("f", "w")]), {}),
    # --- ML models -------------------------------------------------------------------------
    "softmax_regression": (spec({"L": "cross_entropy(X @ W, y)"},
                                {"X": "shape: [5, 3], " + C, "y": "shape: [5], dtype: long, high: 4",
                                 "W": "shape: [3, 4]"}, [("L", "W")]), {}),
    "mlp_hvp": (spec({"h": "tanh(x @ W1 + b1)", "L": "cross_entropy(h @ W2, y)"},
                     {"x": "shape: [4, 3], " + C, "y": "shape: [4], dtype: long, high: 2", "W1": "shape: [3, 5]",
                      "W2": "shape: [5, 2]", "b1": "shape: [5]"}, [("L", "W1"), ("L", "W1", "W2"), ("L", "b1", "W2")]), {}),
    "matrix_factorisation": (spec({"f": "sum((U @ V.T - Y)**2) + 0.1*sum(U**2)"},
                                  {"U": "shape: [4, 2]", "V": "shape: [3, 2]", "Y": "shape: [4, 3], " + C},
                                  [("f", "U"), ("f", "U", "V")]), {}),
    "gaussian_cholesky": (spec({"r": "x - mu", "L": "cholesky(S)", "a": "solve(S, r)",
                                "ll": "-0.5*r @ a - sum(log(diagonal(L)))"},
                               {"S": "shape: [3, 3], domain: spd", "x": "shape: [3], " + C, "mu": "shape: [3]"},
                               [("ll", "mu"), ("ll", "mu", "S")]), {}),
    "layer_norm": (spec({"f": "sum(tanh(layer_norm(x, [4], g, b, eps=1e-3)))"},
                        {"x": "shape: [3, 4]", "g": "shape: [4]", "b": "shape: [4]"}, [("f", "g"), ("f", "x", "g")]), {}),
    "cross_entropy_smoothing": (spec({"L": "cross_entropy(z, y, ignore_index=1, label_smoothing=0.1)"},
                                     {"z": "shape: [6, 4]", "y": "shape: [6], dtype: long, high: 4"}, [("L", "z")]), {}),
    "embedding_repeated": (spec({"L": "cross_entropy(E[tok] @ W, y)"},
                                {"E": "shape: [5, 3]", "tok": "shape: [6], dtype: long, high: 5, value: [0, 1, 1, 4, 4, 4]",
                                 "W": "shape: [3, 5]", "y": "shape: [6], dtype: long, high: 5"}, [("L", "E"), ("L", "E", "W")]), {}),
    # attention: PyTorch's CPU flash kernel has no double backward; the check uses the math kernel
    "attention_hessian": (spec({"a": "scaled_dot_product_attention(q, k, v, attn_mask=m)",
                                "b": "scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)",
                                "f": "sum(a*b)"},
                               {"q": "shape: [1, 2, 3, 4]", "k": "shape: [1, 2, 3, 4]", "v": "shape: [1, 2, 3, 4]",
                                "m": "shape: [3, 3], dtype: bool"}, [("f", "v"), ("f", "q", "k")]), {}),
    # --- PyTorch's subgradients at ties and kinks -------------------------------------------
    "max_dim_ties": (spec({"f": "sum(max(x, dim=-1, keepdim=True)**2)"}, {"x": TIES}), {}),
    "amin_ties": (spec({"f": "sum(amin(x, dim=(0, 1)))"}, {"x": TIES}), {}),
    "clamp_bounds": (spec({"f": "sum(clamp(x, min=0.0, max=2.0)**2)"}, {"x": TIES}, [("f", "x")]), {}),
    "hardtanh_bounds": (spec({"f": "sum(hardtanh(x, -1.0, 2.0))"}, {"x": TIES}), {}),
    "prod_zeros": (spec({"f": "sum(prod(x, 1))"}, {"x": TIES}), {}),
    "maximum_ties": (spec({"f": "sum(maximum(x, flip(x, [1])))"}, {"x": TIES}), {}),
    "sign_pairwise": (spec({"f": "sum(sign(unsqueeze(x, 1) - unsqueeze(x, 0))*abs(unsqueeze(x, 1) - unsqueeze(x, 0))**2)"},
                           {"x": "shape: [4]"}, [("f", "x")]), {}),
    # bug: zeros_like(x) was lowered as ones (c*zeros_like(x) -> full_like(x, c))
    "huber_vs_zeros_like": (spec({"f": "huber_loss(x, zeros_like(x), delta=1.0)"}, {"x": TIES}), {}),
    "smooth_l1_vs_zeros_like": (spec({"f": "smooth_l1_loss(x, zeros_like(x), beta=2.0)"}, {"x": TIES}), {}),
    # bug: PyTorch's keywords beta/threshold and approximate were refused
    "softplus_beta_threshold": (spec({"f": "sum(softplus(x, beta=2, threshold=1))"},
                                     {"x": "shape: [5], value: [-3.0, 0.0, 0.5, 1.0, 30.0]"}, [("f", "x")]),
                                {("f", "x"): ("where(2*x > 1, 1, where(2*x < 1, sigmoid(2*x), sigmoid(1)))", None)}),
    "gelu_tanh": (spec({"f": "sum(gelu(x, approximate='tanh'))"}, {"x": "shape: [2, 3]"}, [("f", "x")]), {}),
    # --- several outputs, upstream gradients, schedules -------------------------------------
    "non_scalar_output": (spec({"y": "tanh(W @ x)"}, {"x": "shape: [3]", "W": "shape: [2, 3]"}), {}),
    "schedule_retain": (spec({"h": "tanh(W @ x)", "a": "h.sum()", "b": "(h*h).mean()"},
                             {"x": "shape: [3]", "W": "shape: [3, 3]"},
                             extra="retain_grad: [h]\nbackward:\n  - a.backward(retain_graph=True)\n"
                                   "  - b.backward()\n"), {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_holdout_case(name):
    text, forms = CASES[name]
    d = symgrad.derive(symgrad.loads(text))
    report = d.check(dtype="float64")
    assert report.passed, [(r.output, r.wrt, r.kind, r.message) for r in report.rows if not r.passed]
    for key, (form, hvp) in forms.items():
        if len(key) == 2:
            assert d.gradient(*key).text == form
        else:
            h = d.hessian(*key[:2]) if key[1] == key[2] else d.hessian(*key)
            if form is not None:
                assert h.text == form
            if hvp is not None:
                assert h.hvp_text == hvp


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(symgrad.SpecError, match="approximate"):
        symgrad.loads(spec({"f": "sum(gelu(x, approximate='fast'))"}, {"x": "shape: [3]"}))
