"""Second-order cases: the Matrix Cookbook and ML models, as spec texts with ``hessians:``.

Each: name -> YAML.  `tests/test_hessians.py` checks every Hessian and HVP of each against
``torch.func.hessian`` and double backward in float64, and their texts against PyTorch.
"""

CASES = {
    # --- the Matrix Cookbook ---------------------------------------------------------------
    "quadratic": """
inputs: {x: {shape: [4]}, A: {shape: [4, 4], requires_grad: false}}
nodes: {q: x @ A @ x}
hessians: [[q, x]]
""",
    "quadratic_spd": """
inputs: {x: {shape: [3]}, S: {shape: [3, 3], domain: spd, requires_grad: false}}
nodes: {q: x @ S @ x}
hessians: [[q, x]]
""",
    "bilinear_matrix": """
inputs: {a: {shape: [3], requires_grad: false}, X: {shape: [3, 4]}, b: {shape: [4], requires_grad: false}}
nodes: {f: a @ X @ b}
hessians: [[f, X]]
""",
    "trace_quadratic": """
inputs: {X: {shape: [3, 2]}, A: {shape: [3, 3], requires_grad: false}}
nodes: {f: trace(X.T @ A @ X)}
hessians: [[f, X]]
""",
    "trace_AXBXt": """
inputs: {X: {shape: [3, 2]}, A: {shape: [3, 3], requires_grad: false}, B: {shape: [2, 2], requires_grad: false}}
nodes: {f: trace(A @ X @ B @ X.T)}
hessians: [[f, X]]
""",
    "frobenius": """
inputs: {X: {shape: [2, 3]}}
nodes: {f: sum(X**2)}
hessians: [[f, X]]
""",
    "logdet_spd": """
dims: {n: 3}
inputs: {X: {shape: [n, n], domain: spd}}
nodes: {L: logdet(X)}
hessians: [[L, X]]
""",
    "det": """
inputs: {X: {shape: [3, 3], domain: spd}}
nodes: {f: det(X)}
hessians: [[f, X]]
""",
    "trace_inverse": """
inputs: {X: {shape: [3, 3], domain: spd}, A: {shape: [3, 3], requires_grad: false}}
nodes: {f: trace(A @ inverse(X))}
hessians: [[f, X]]
""",
    "inverse_general": """
inputs: {X: {shape: [3, 3]}, a: {shape: [3], requires_grad: false}, b: {shape: [3], requires_grad: false}}
nodes: {M: X + 4*eye(3), f: a @ inverse(M) @ b}
hessians: [[f, X]]
""",
    "norm": """
inputs: {x: {shape: [4]}}
nodes: {f: norm(x)}
hessians: [[f, x]]
""",
    "exp_sum": """
inputs: {x: {shape: [3]}}
nodes: {f: sum(exp(x))}
hessians: [[f, x]]
""",
    "logsumexp": """
inputs: {x: {shape: [5]}}
nodes: {s: 'softmax(x, 0)', f: 'logsumexp(x, 0)'}
outputs: [f]
hessians: [[f, x]]
""",
    "scalar": """
inputs: {a: {}, b: {}}
nodes: {f: sin(a)*exp(a*b)}
hessians: [[f, a], [f, a, b], [f, b, a]]
""",
    "mahalanobis_cross": """
inputs: {x: {shape: [3]}, mu: {shape: [3]}, P: {shape: [3, 3], domain: spd}}
nodes: {r: x - mu, f: r @ P @ r/2 - logdet(P)/2}
hessians: [[f, x], [f, x, mu], [f, mu, P], [f, P]]
""",
    # --- ML models -------------------------------------------------------------------------
    "logistic": """
dims: {n: 8, k: 3}
inputs:
  X: {shape: [n, k], requires_grad: false}
  y: {shape: [n], requires_grad: false, domain: unit}
  w: {shape: [k]}
nodes:
  p: sigmoid(X @ w)
  L: binary_cross_entropy(p, y)
hessians: [[L, w]]
""",
    "logistic_logits_bias": """
dims: {n: 6, k: 3}
inputs:
  X: {shape: [n, k], requires_grad: false}
  y: {shape: [n], requires_grad: false, domain: unit}
  w: {shape: [k]}
  b: {}
nodes:
  L: binary_cross_entropy_with_logits(X @ w + b, y)
hessians: [[L, w], [L, w, b], [L, b]]
""",
    "least_squares": """
dims: {n: 6, k: 3}
inputs:
  X: {shape: [n, k], requires_grad: false}
  y: {shape: [n], requires_grad: false}
  w: {shape: [k]}
nodes:
  L: sum((X @ w - y)**2)
hessians: [[L, w]]
""",
    "ridge_matrix": """
dims: {n: 5}
inputs:
  X: {shape: [n, 3], requires_grad: false}
  Y: {shape: [n, 2], requires_grad: false}
  W: {shape: [3, 2]}
nodes:
  L: mse_loss(X @ W, Y) + sum(W**2)/10
hessians: [[L, W]]
""",
    "softmax_regression": """
dims: {n: 4}
inputs:
  X: {shape: [n, 3], requires_grad: false}
  Y: {shape: [n, 2], requires_grad: false, domain: simplex}
  W: {shape: [2, 3]}
  b: {shape: [2]}
nodes:
  z: linear(X, W, b)
  L: cross_entropy(z, Y)
hessians: [[L, W], [L, W, b], [L, b]]
""",
    "mlp_tanh": """
dims: {n: 4}
inputs:
  x: {shape: [n, 3], requires_grad: false}
  W1: {shape: [3, 5]}
  b1: {shape: [5]}
  W2: {shape: [5, 2]}
  y: {shape: [n, 2], requires_grad: false, domain: simplex}
nodes:
  h: tanh(x @ W1 + b1)
  z: h @ W2
  L: cross_entropy(z, y)
hessians: [[L, W1], [L, W1, W2], [L, W2, W1], [L, b1], [L, W2, b1]]
""",
    "mlp_relu_sigmoid": """
dims: {n: 4}
inputs:
  x: {shape: [n, 3], requires_grad: false}
  W1: {shape: [4, 3]}
  W2: {shape: [1, 4]}
  y: {shape: [n, 1], requires_grad: false, domain: unit}
nodes:
  h: relu(linear(x, W1))
  p: sigmoid(linear(h, W2))
  L: binary_cross_entropy(p, y)
hessians: [[L, W1], [L, W2], [L, W1, W2]]
""",
    "matrix_factorisation": """
inputs:
  U: {shape: [4, 2]}
  V: {shape: [3, 2]}
  Y: {shape: [4, 3], requires_grad: false}
nodes:
  f: sum((U @ V.T - Y)**2)
hessians: [[f, U], [f, U, V], [f, V]]
""",
    "node_wrt": """
inputs: {x: {shape: [3]}, W: {shape: [2, 3], requires_grad: false}}
nodes: {h: W @ x, f: sum(exp(h)) + sum(x**3)}
wrt: [x, h]
hessians: [[f, h], [f, x], [f, x, h], [f, h, x]]
""",
}
CASES["input_not_in_wrt"] = """
inputs: {x: {shape: [3]}, W: {shape: [2, 3]}}
nodes: {f: sum(tanh(W @ x)**2)}
wrt: [W]
hessians: [[f, x], [f, x, W], [f, W, x]]
"""
