"""Held-out style second-order cases: Matrix Cookbook Hessians (quadratic forms, least
squares, a^T X^-1 b, logdet and det of a general X, trace forms), cross Hessians (MLP,
logistic regression with a bias) and ML models (softmax regression, MLP HVPs, matrix
factorisation, ridge, Gaussian log-likelihoods, layer_norm, attention, cross_entropy).

Every case has symbolic dims: each check row passes in float64 against torch.func.hessian
and double backward, the closed forms are the same text at two sizes of the dims (shape
generic: the derivation never looks at sizes), and where a textbook form exists the
Hessian's (or its HVP's) text is exactly it.  Also the bugs these cases found: the compiled
module lacked ``import math`` when only its Hessians needed it (gelu, layer_norm), a bool
mask in a matrix product printed as ``ones_like(mask)*mask`` (still bool in PyTorch).
"""
import pytest

import symgrad

C = "requires_grad: false"


def spec(nodes, inputs, hessians, dims=(3, 4, 5), outputs=None):
    n, m, k = dims
    lines = ["dims: {n: %d, m: %d, k: %d}" % (n, m, k), "inputs:"]
    lines += ["  %s: {%s}" % kv for kv in inputs.items()]
    lines += ["nodes:"] + ["  %s: %s" % kv for kv in nodes.items()]
    if outputs:
        lines.append("outputs: [%s]" % ", ".join(outputs))
    lines.append("hessians: [%s]" % ", ".join("[%s]" % ", ".join(h) for h in hessians))
    return "\n".join(lines) + "\n"


SM = "softmax(Q @ K.T/2, dim=1)"
P_ATT = "softmax(q @ transpose(kk, 1, 2)/sqrt(m), dim=2)"

# name -> (nodes, inputs, hessians, {(x, y): (Hessian text or None, HVP text or None)}, outputs)
CASES = {
    # --- the Matrix Cookbook -----------------------------------------------------------------
    "xAx": ({"q": "x @ A @ x"}, {"x": "shape: [n]", "A": "shape: [n, n], " + C}, [("q", "x")],
            {("x", "x"): ("A + A.T", "(A + A.T) @ v_x")}),
    "xSx_spd": ({"q": "x @ A @ x"}, {"x": "shape: [n]", "A": "shape: [n, n], domain: spd, " + C}, [("q", "x")],
                {("x", "x"): ("2*A", "2*A @ v_x")}),
    "xAx_cross_A": ({"q": "x @ A @ x"}, {"x": "shape: [n]", "A": "shape: [n, n]"},
                    [("q", "x"), ("q", "x", "A"), ("q", "A")],
                    {("x", "A"): (None, "outer(v_x, x) + outer(v_x, x).T"), ("A", "A"): ("zeros((n, n, n, n))", None)}),
    "least_squares": ({"f": "sum((A @ x - b)**2)"}, {"A": "shape: [k, n], " + C, "x": "shape: [n]",
                                                    "b": "shape: [k], " + C}, [("f", "x")],
                      {("x", "x"): ("2*A.T @ A", "2*A.T @ (A @ v_x)")}),
    "least_squares_A": ({"f": "sum((A @ x - b)**2)"}, {"A": "shape: [k, n]", "x": "shape: [n]",
                                                      "b": "shape: [k], " + C}, [("f", "A"), ("f", "x", "A")],
                        {("A", "A"): (None, "2*outer(v_A @ x, x)")}),
    "a_inv_b": ({"f": "a @ inverse(X) @ b"}, {"X": "shape: [n, n]", "a": "shape: [n], " + C,
                                             "b": "shape: [n], " + C}, [("f", "X")], {}),
    "b_inv_b_spd": ({"f": "b @ inverse(X) @ b"}, {"X": "shape: [n, n], domain: spd", "b": "shape: [n], " + C},
                    [("f", "X")], {}),
    "logdet_general": ({"f": "logdet(X)"}, {"X": "shape: [n, n]"}, [("f", "X")],
                       {("X", "X"): ("-reshape(inverse(X), (1, n, n, 1))*reshape(inverse(X).T, (n, 1, 1, n))",
                                     "-(inverse(X) @ v_X @ inverse(X)).T")}),
    "logdet_spd": ({"f": "logdet(X)"}, {"X": "shape: [n, n], domain: spd"}, [("f", "X")],
                   {("X", "X"): (None, "-inverse(X) @ v_X.T @ inverse(X)")}),
    "det_general": ({"f": "det(X)"}, {"X": "shape: [n, n]"}, [("f", "X")],
                    {("X", "X"): (None, "f*(sum(v_X*inverse(X).T)*inverse(X).T - (inverse(X) @ v_X @ inverse(X)).T)")}),
    "det_spd": ({"f": "det(X)"}, {"X": "shape: [n, n], domain: spd"}, [("f", "X")],
                {("X", "X"): (None, "f*(sum(inverse(X)*v_X)*inverse(X) - inverse(X) @ v_X.T @ inverse(X))")}),
    "trace_XtAX": ({"f": "trace(X.T @ A @ X)"}, {"X": "shape: [n, m]", "A": "shape: [n, n], " + C}, [("f", "X")],
                   {("X", "X"): ("reshape(A + A.T, (n, 1, n, 1))*reshape(eye(m), (1, m, 1, m))", "(A + A.T) @ v_X")}),
    "trace_XBXtA": ({"f": "trace(X @ B @ X.T @ A)"}, {"X": "shape: [n, m]", "A": "shape: [n, n], " + C,
                                                     "B": "shape: [m, m], " + C}, [("f", "X")],
                    {("X", "X"): (None, "A.T @ v_X @ B.T + A @ (v_X @ B)")}),
    "trace_AXBX": ({"f": "trace(A @ X @ B @ X)"}, {"X": "shape: [n, n]", "A": "shape: [n, n], " + C,
                                                  "B": "shape: [n, n], " + C}, [("f", "X")],
                   {("X", "X"): (None, "(B @ v_X @ A).T + (A @ v_X @ B).T")}),
    "trace_inv_A": ({"f": "trace(inverse(X) @ A)"}, {"X": "shape: [n, n]", "A": "shape: [n, n], " + C},
                    [("f", "X")], {}),
    "trace_inv_A_spd": ({"f": "trace(inverse(X) @ A)"}, {"X": "shape: [n, n], domain: spd", "A": "shape: [n, n], " + C},
                        [("f", "X")], {}),
    "logdet_gram": ({"f": "logdet(X.T @ X)"}, {"X": "shape: [m, n]"}, [("f", "X")], {}),
    "x_fourth": ({"f": "sum(x**4)"}, {"x": "shape: [n]"}, [("f", "x")], {("x", "x"): ("12*x**2*eye(n)", "12*x**2*v_x")}),
    "cube_matrix": ({"f": "sum(X**3)"}, {"X": "shape: [n, m]"}, [("f", "X")], {("X", "X"): (None, "6*X*v_X")}),
    "squared_norm_squared": ({"f": "(x @ x)**2"}, {"x": "shape: [n]"}, [("f", "x")],
                             {("x", "x"): ("4*(2*outer(x, x) + (x @ x)*eye(n))", None)}),
    "gaussian_kernel": ({"f": "exp(-x @ x / 2)"}, {"x": "shape: [n]"}, [("f", "x")],
                        {("x", "x"): ("f*(outer(x, x) - eye(n))", "f*(sum(v_x*x)*x - v_x)")}),
    "rayleigh": ({"f": "(x @ A @ x)/(x @ x)"}, {"x": "shape: [n]", "A": "shape: [n, n], domain: spd, " + C},
                 [("f", "x")], {}),
    "norm": ({"f": "norm(x)"}, {"x": "shape: [n]"}, [("f", "x")], {}),
    "einsum_bilinear": ({"f": "einsum('i,ij,j->', x, A, y)"}, {"x": "shape: [n]", "A": "shape: [n, m], " + C,
                                                             "y": "shape: [m]"}, [("f", "x", "y"), ("f", "x")], {}),
    "logsumexp": ({"f": "logsumexp(x, 0)"}, {"x": "shape: [n]"}, [("f", "x")],
                  {("x", "x"): ("eye(n)*softmax(x, dim=0) - outer(softmax(x, dim=0), softmax(x, dim=0))", None)}),
    "logsumexp_named": ({"s": "softmax(x, 0)", "f": "logsumexp(x, 0)"}, {"x": "shape: [n]"}, [("f", "x")],
                        {("x", "x"): ("eye(n)*s - outer(s, s)", "(v_x - sum(s*v_x, dim=0, keepdim=True))*s")}, ["f"]),
    # --- cross Hessians -------------------------------------------------------------------------
    "mlp_cross": ({"h": "tanh(W @ x)", "f": "sum(h**2)"}, {"x": "shape: [n]", "W": "shape: [m, n]"},
                  [("f", "x"), ("f", "x", "W")],
                  {("x", "x"): ("2*((1 - h**2)*(1 - 3*h**2)*W.T) @ W", None)}),
    "mlp_bias_cross": ({"f": "sum(tanh(W @ x + b))"}, {"x": "shape: [n]", "W": "shape: [m, n]", "b": "shape: [m]"},
                       [("f", "x", "W"), ("f", "W", "b"), ("f", "b")], {}),
    "tanh_regression_cross": ({"f": "sum(tanh(X @ w))"}, {"X": "shape: [k, n]", "w": "shape: [n]"},
                              [("f", "X", "w"), ("f", "w", "X")], {}),
    "logistic_bias": ({"p": "sigmoid(X @ w + b)", "L": "binary_cross_entropy(p, y)"},
                      {"X": "shape: [k, n], " + C, "y": "shape: [k], domain: unit, " + C, "w": "shape: [n]", "b": ""},
                      [("L", "w"), ("L", "w", "b"), ("L", "b")],
                      {("w", "w"): ("((1 - p)*p*X.T) @ X/k", "X.T @ ((1 - p)*(X @ v_w)*p)/k"),
                       ("w", "b"): ("X.T @ ((1 - p)*p)/k", None), ("b", "b"): ("mean((1 - p)*p)", None)}),
    "logistic_logits_bias": ({"L": "binary_cross_entropy_with_logits(X @ w + b, y)"},
                             {"X": "shape: [k, n], " + C, "y": "shape: [k], domain: unit, " + C, "w": "shape: [n]",
                              "b": ""}, [("L", "w"), ("L", "w", "b")], {}),
    # --- ML models ------------------------------------------------------------------------------
    "softmax_regression": ({"L": "cross_entropy(X @ W, y)"}, {"X": "shape: [k, n], " + C,
                                                              "y": "shape: [k], dtype: long, high: m",
                                                              "W": "shape: [n, m]"}, [("L", "W")], {}),
    "cross_entropy_indices": ({"L": "cross_entropy(z, y)"}, {"z": "shape: [k, m]", "y": "shape: [k], dtype: long, high: m"},
                              [("L", "z")],
                              {("z", "z"): (None, "(v_z - sum(softmax(z, dim=1)*v_z, dim=1, keepdim=True))*softmax(z, dim=1)/k")}),
    "logsumexp_rows": ({"f": "sum(logsumexp(x @ W, 1))"}, {"x": "shape: [k, n], " + C, "W": "shape: [n, m]"},
                       [("f", "W")], {}),
    "mlp_tanh": ({"h": "tanh(x @ W1 + b1)", "L": "cross_entropy(h @ W2, y)"},
                 {"x": "shape: [k, n], " + C, "y": "shape: [k], dtype: long, high: 2", "W1": "shape: [n, m]",
                  "W2": "shape: [m, 2]", "b1": "shape: [m]"}, [("L", "W1"), ("L", "W1", "W2"), ("L", "W2")], {}),
    "mlp_relu": ({"h": "relu(x @ W1)", "L": "sum((h @ W2 - t)**2)"},
                 {"x": "shape: [k, n], " + C, "t": "shape: [k, 2], " + C, "W1": "shape: [n, m]", "W2": "shape: [m, 2]"},
                 [("L", "W1"), ("L", "W2"), ("L", "W1", "W2")], {("W2", "W2"): (None, "2*h.T @ (h @ v_W2)")}),
    "mlp_gelu": ({"h": "gelu(x @ W1)", "L": "mse_loss(h @ W2, t)"},
                 {"x": "shape: [k, n], " + C, "t": "shape: [k, 2], " + C, "W1": "shape: [n, m]", "W2": "shape: [m, 2]"},
                 [("L", "W1"), ("L", "W1", "W2")], {}),
    "mlp_relu_biases": ({"h": "relu(x @ W1 + b1)", "L": "cross_entropy(h @ W2 + b2, y)"},
                        {"x": "shape: [k, n], " + C, "y": "shape: [k], dtype: long, high: m", "W1": "shape: [n, m]",
                         "b1": "shape: [m]", "W2": "shape: [m, m]", "b2": "shape: [m]"},
                        [("L", "W2", "b2"), ("L", "b1", "W2")], {}),
    "matrix_factorisation": ({"f": "sum((U @ V.T - Y)**2)"}, {"U": "shape: [k, 2]", "V": "shape: [m, 2]",
                                                             "Y": "shape: [k, m], " + C}, [("f", "U"), ("f", "U", "V")],
                             {("U", "U"): ("2*reshape(eye(k), (k, 1, k, 1))*reshape(V.T @ V, (1, 2, 1, 2))",
                                           "2*v_U @ V.T @ V"),
                              ("U", "V"): (None, "2*((V @ U.T - Y.T) @ v_U + V @ v_U.T @ U)")}),
    "matrix_factorisation_mse": ({"f": "mse_loss(U @ V.T, Y)"}, {"U": "shape: [k, 2]", "V": "shape: [m, 2]",
                                                                "Y": "shape: [k, m], " + C}, [("f", "V")],
                                 {("V", "V"): (None, "2*v_V @ U.T @ U/(k*m)")}),
    "ridge": ({"f": "sum((X @ w - y)**2) + lam*sum(w**2)"}, {"X": "shape: [k, n], " + C, "y": "shape: [k], " + C,
                                                            "w": "shape: [n]", "lam": "domain: positive, " + C},
              [("f", "w")], {("w", "w"): ("2*(lam*eye(n) + X.T @ X)", "2*(lam*v_w + X.T @ (X @ v_w))")}),
    "ridge_matrix": ({"f": "sum((X @ W - Y)**2) + 0.5*sum(W**2)"}, {"X": "shape: [k, n], " + C, "Y": "shape: [k, m], " + C,
                                                                   "W": "shape: [n, m]"}, [("f", "W")],
                     {("W", "W"): (None, "2*X.T @ (X @ v_W) + v_W")}),
    "softplus_ridge": ({"f": "sum(softplus(X @ w)) + sum(w**2)/2"}, {"X": "shape: [k, n], " + C, "w": "shape: [n]"},
                       [("f", "w")], {("w", "w"): ("eye(n) + ((1 - sigmoid(X @ w))*sigmoid(X @ w)*X.T) @ X", None)}),
    "gaussian_mu": ({"r": "x - mu", "f": "-0.5*r @ inverse(S) @ r - 0.5*logdet(S)"},
                    {"x": "shape: [n], " + C, "mu": "shape: [n]", "S": "shape: [n, n], domain: spd, " + C}, [("f", "mu")],
                    {("mu", "mu"): ("-inverse(S)", "-inverse(S) @ v_mu")}),
    "gaussian_cholesky": ({"S": "L @ L.T + eye(n)", "r": "x - mu", "f": "-0.5*r @ solve(S, r) - 0.5*logdet(S)"},
                          {"x": "shape: [n], " + C, "mu": "shape: [n]", "L": "shape: [n, n]"},
                          [("f", "L"), ("f", "mu", "L")], {}),
    "gaussian_cholesky_tril": ({"Lt": "tril(L)", "S": "Lt @ Lt.T", "r": "x - mu",
                                "f": "-0.5*r @ inverse(S) @ r - sum(log(diagonal(Lt)**2))/2"},
                               {"x": "shape: [n], " + C, "mu": "shape: [n]", "L": "shape: [n, n]"},
                               [("f", "L"), ("f", "mu", "L")], {}),
    "layer_norm": ({"f": "sum(layer_norm(x, [m], g, b)**2 * c)"},
                   {"x": "shape: [k, m]", "g": "shape: [m]", "b": "shape: [m]", "c": "shape: [k, m], " + C},
                   [("f", "x"), ("f", "g"), ("f", "x", "g")], {}),
    "attention": ({"a": "softmax(Q @ K.T / 2, -1) @ V", "f": "sum(a**2)"},
                  {"Q": "shape: [k, m]", "K": "shape: [k, m]", "V": "shape: [k, m]"},
                  [("f", "Q"), ("f", "V"), ("f", "Q", "K")],
                  {("V", "V"): ("2*reshape(eye(m), (1, m, 1, m))*reshape(%s.T @ %s, (k, 1, k, 1))" % (SM, SM),
                                "2*%s.T @ (%s @ v_V)" % (SM, SM))}),
    "attention_regression": ({"P": "softmax(Q @ K.T, -1)", "f": "sum((P @ V - T)**2)"},
                             {"Q": "shape: [k, m]", "K": "shape: [k, m]", "V": "shape: [k, m]", "T": "shape: [k, m], " + C},
                             [("f", "V"), ("f", "K"), ("f", "V", "Q")],
                             {("V", "V"): ("2*reshape(eye(m), (1, m, 1, m))*reshape(P.T @ P, (k, 1, k, 1))", None)}),
    "sdpa_batch_of_one": ({"a": "scaled_dot_product_attention(q, kk, v)", "f": "sum(a*a)"},
                          {"q": "shape: [1, k, m]", "kk": "shape: [1, k, m]", "v": "shape: [1, k, m]"},
                          [("f", "v"), ("f", "q")], {}),
    "sdpa_heads": ({"a": "scaled_dot_product_attention(q, kk, v)", "f": "sum(a*a)"},
                   {"q": "shape: [2, k, m]", "kk": "shape: [2, k, m]", "v": "shape: [2, k, m]"},
                   [("f", "v"), ("f", "q", "kk")], {}),
    "logdet_batched": ({"f": "sum(logdet(X))"}, {"X": "shape: [2, n, n], domain: spd"}, [("f", "X")],
                       {("X", "X"): (None, "-transpose(inverse(X), 1, 2) @ transpose(v_X, 1, 2) @ transpose(inverse(X), 1, 2)")}),
}


def _derive(name, dims=(3, 4, 5)):
    nodes, inputs, hessians, _, *outputs = CASES[name]
    return symgrad.derive(symgrad.loads(spec(nodes, inputs, hessians, dims, outputs[0] if outputs else None)))


def _hessian(d, f, x, y):
    return d.hessian(f, x) if x == y else d.hessian(f, x, y)


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_holdout(name):
    d = _derive(name)
    report = d.check(dtype="float64")
    assert report.passed, [(r.output, r.wrt, r.kind, r.message) for r in report.rows if not r.passed]
    f = CASES[name][2][0][0]
    for (x, y), (form, hvp) in CASES[name][3].items():
        h = _hessian(d, f, x, y)
        if form is not None:
            assert h.text == form
        if hvp is not None:
            assert h.hvp_text == hvp


@pytest.mark.parametrize("name", ["a_inv_b", "mlp_tanh", "gaussian_cholesky", "attention", "layer_norm", "sdpa_heads"])
def test_second_order_forms_are_shape_generic(name):
    """The same closed forms at two sizes of the dims: nothing is expanded into entries."""
    small, big = _derive(name), _derive(name, (30, 40, 50))
    for f, x, y in small.problem.hessians:
        a, b = _hessian(small, f, x, y), _hessian(big, f, x, y)
        assert (a.text, a.hvp_text) == (b.text, b.hvp_text)


def test_solve_of_a_batch_of_vectors_is_an_inverse():
    """d2f/dmu dL through solve(S, r): the batch of solves at every basis direction of mu is
    inverse(S), not solve(unsqueeze(S, 0), unsqueeze(eye(n), 2)) squeezed back."""
    h = _derive("gaussian_cholesky").hessian("f", "mu", "L")
    assert "inverse(S)" in h.text and "eye" not in h.text and "squeeze(solve" not in h.text


def test_attention_batch_of_one_keeps_identities_out_of_products():
    h = _derive("sdpa_batch_of_one").hessian("f", "v")
    assert "@ (reshape(eye" not in h.text and h.text.startswith("2*reshape(eye(m)")


def test_gelu_hessian_keeps_its_common_factor():
    """gelu'(z)*(A @ W2 @ W2.T) stays a product: cancel() once expanded it term by term."""
    h = _derive("mlp_gelu").hessian("L", "W1")
    assert h.text.count("erf(") == 2 and len(h.text) < 600


def test_bool_mask_in_a_product_prints_as_numbers():
    h = _derive("mlp_relu_biases").hessian("L", "b1", "W2")
    assert "ones_like((h > 0)" not in h.text


NORMS = {   # before: hvp 732/496/814 chars, Hessian 1560/907/2092 with (100000*var + 1)**(3/2)
    "layer_norm": ("layer_norm(x, (k,), w)", 760, 1200),
    "rms_norm": ("rms_norm(x, (k,), w)", 540, 720),
    "batch_norm": ("batch_norm(x, None, None, w, None, True)", 860, 1450),
}


@pytest.mark.parametrize("op", sorted(NORMS))
def test_norm_layer_second_order_keeps_var_plus_eps(op):
    """The radicand var + eps (mean(x**2) + eps) is never multiplied out by cancel() or
    factor_terms(), and (x - mean(x))/(var + eps) reads as layer_norm(x)/sqrt(var + eps)."""
    call, hvp_max, text_max = NORMS[op]
    src = ("dims: {n: 3, k: 4}\ninputs:\n  x: {shape: [n, k]}\n  w: {shape: [k]}\n"
           "nodes:\n  y: %s\n  f: sum(y**3)\nhessians: [[f, x]]\n" % call)
    h = symgrad.derive(symgrad.loads(src)).hessian("f", "x")
    for text in (h.hvp_text, h.text):
        assert "100000*" not in text and "4503599627370496*" not in text and "sqrt(10)" not in text
        assert "(x - mean(x" not in text
    assert len(h.hvp_text) <= hvp_max and len(h.text) <= text_max
