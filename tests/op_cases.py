"""Sample calls for every function of the op table, on several shapes (broadcasting too).

Each case: (expression for node y, {input: (shape, domain)}).  Inputs named c* do not
require grad.  `tests/test_ops.py` derives each, compiles it and checks it against
torch.autograd in float64; a function of the op table without a case fails the suite.

Cases of a group of ops may live in a module ``tests/op_cases_<group>.py`` of their own
(a dict ``CASES``); they are merged here.
"""
import glob
import importlib
import os

R, P, U = "real", "positive", "unit"

CASES = {
    "exp": [("exp(x)", {"x": ([3, 4], R)}), ("x.exp() * z", {"x": ([3, 1], R), "z": ([4], R)})],
    "log": [("log(x)", {"x": ([5], P)}), ("log(x + z)", {"x": ([2, 3], P), "z": ([3], P)})],
    "log1p": [("log1p(x)", {"x": ([4], P)})],
    "expm1": [("expm1(x) * x", {"x": ([2, 2], R)})],
    "sqrt": [("sqrt(x)", {"x": ([3], P)}), ("x.sqrt() / z", {"x": ([2, 3], P), "z": ([2, 1], P)})],
    "rsqrt": [("rsqrt(x)", {"x": ([3, 2], P)})],
    "abs": [("abs(x)", {"x": ([6], R)})],
    "sin": [("sin(x) * cos(z)", {"x": ([3], R), "z": ([2, 3], R)})],
    "cos": [("cos(x)", {"x": ([2, 3], R)})],
    "tan": [("tan(x)", {"x": ([4], U)})],
    "tanh": [("tanh(x)", {"x": ([3, 4], R)}), ("tanh(x @ z)", {"x": ([2, 3], R), "z": ([3, 4], R)})],
    "sigmoid": [("sigmoid(x)", {"x": ([5], R)}), ("x.sigmoid() * z", {"x": ([2, 1], R), "z": ([2, 3], R)})],
    "relu": [("relu(x)", {"x": ([3, 4], R)}), ("relu(x + z)", {"x": ([3, 1], R), "z": ([1, 4], R)})],
    "softplus": [("softplus(x)", {"x": ([4], R)}),
                 # beta x at, below and above the threshold: PyTorch's first and second derivative
                 ("softplus(x, beta=2, threshold=1)", {"x": ([5], R, [-3.0, 0.0, 0.5, 1.0, 30.0])}),
                 ("softplus(x, 0.5)", {"x": ([2, 3], R)})],
    "gelu": [("gelu(x)", {"x": ([2, 3], R)}), ("gelu(x, approximate='tanh')", {"x": ([2, 3], R)})],
    "silu": [("silu(x)", {"x": ([2, 3], R)})],
    "leaky_relu": [("leaky_relu(x)", {"x": ([5], R)}), ("leaky_relu(x, negative_slope=0.2)", {"x": ([2, 3], R)})],
    "square": [("square(x) + x", {"x": ([3], R)})],
    "pow": [("pow(x, 3)", {"x": ([4], R)}), ("pow(x, z)", {"x": ([3], P), "z": ([2, 3], R)}),
            ("x ** 0.5 + 2 ** x", {"x": ([3], P)})],
    "sign": [("sign(x) * x", {"x": ([4], R)})],
    "erf": [("erf(x)", {"x": ([4], R)})],
    "sinh": [("sinh(x) * z", {"x": ([2, 3], R), "z": ([3], R)})],
    "cosh": [("cosh(x)", {"x": ([3], R)}), ("sum(cosh(x @ z))", {"x": ([2, 3], R), "z": ([3], R)})],
    "logaddexp": [("logaddexp(x, z)", {"x": ([2, 3], R), "z": ([3], R)}), ("logaddexp(x, c)", {"x": ([4], R), "c": ([4], R)})],
    "heaviside": [("heaviside(c, 0.5) * x", {"x": ([4], R), "c": ([4], R)})],
    "where": [("where(x > 0, x, z)", {"x": ([2, 3], R), "z": ([3], R)}),
              ("where(c > 0, x * 2, 0.5)", {"x": ([4], R), "c": ([4], R)})],
    "sum": [("sum(x)", {"x": ([3, 4], R)}), ("x.sum(dim=1)", {"x": ([3, 4], R)}),
            ("sum(x * z, dim=(0, 2), keepdim=True)", {"x": ([2, 3, 4], R), "z": ([4], R)}),
            ("x.sum(-1)", {"x": ([2, 5], R)})],
    "mean": [("mean(x)", {"x": ([3, 4], R)}), ("x.mean(dim=0, keepdim=True) * x", {"x": ([3, 4], R)})],
    "logsumexp": [("logsumexp(x, dim=1)", {"x": ([3, 4], R)}), ("logsumexp(x, 0, keepdim=True)", {"x": ([3, 2], R)})],
    "norm": [("norm(x)", {"x": ([3, 4], R)}), ("x.norm() * x", {"x": ([5], R)})],
    "softmax": [("softmax(x, dim=1)", {"x": ([2, 4], R)}), ("softmax(x, 0) * z", {"x": ([4], R), "z": ([4], R)})],
    "log_softmax": [("log_softmax(x, dim=-1)", {"x": ([3, 4], R)})],
    "matmul": [("x @ z", {"x": ([2, 3], R), "z": ([3, 4], R)}), ("matmul(x, z)", {"x": ([3], R), "z": ([3, 2], R)}),
               ("x @ z", {"x": ([2, 3], R), "z": ([3], R)}), ("x @ z", {"x": ([4], R), "z": ([4], R)}),
               ("x @ z", {"x": ([2, 2, 3], R), "z": ([3, 4], R)})],
    "transpose": [("transpose(x, 0, 1)", {"x": ([2, 3], R)}), ("x.transpose(0, 2) * 2", {"x": ([2, 3, 4], R)}),
                  ("x.T @ x", {"x": ([3, 2], R)})],
    "t": [("t(x) @ z", {"x": ([2, 3], R), "z": ([2, 2], R)})],
    "trace": [("trace(x)", {"x": ([3, 3], R)}), ("trace(c @ x)", {"x": ([3, 3], R), "c": ([3, 3], R)})],
    "det": [("det(x)", {"x": ([3, 3], "spd")}), ("det(x)", {"x": ([3, 3], R)}),
            ("det(x) * z", {"x": ([2, 3, 3], R), "z": ([2], R)})],                # a batch, as torch.det
    "logdet": [("logdet(x)", {"x": ([3, 3], "spd")}), ("logdet(x)", {"x": ([2, 3, 3], "spd")})],
    "inverse": [("inverse(x)", {"x": ([3, 3], "spd")}), ("trace(c @ inverse(x))", {"x": ([2, 2], "spd"), "c": ([2, 2], R)}),
                ("inverse(x) @ z", {"x": ([2, 3, 3], "spd"), "z": ([3, 2], R)})],
    "outer": [("outer(x, z)", {"x": ([3], R), "z": ([4], R)})],
    "dot": [("dot(x, z)", {"x": ([3], R), "z": ([3], R)})],
    "reshape": [("reshape(x, (3, 2))", {"x": ([2, 3], R)}), ("x.reshape(-1) * z", {"x": ([2, 3], R), "z": ([6], R)})],
    "flatten": [("flatten(x)", {"x": ([2, 3], R)}), ("flatten(x, start_dim=1)", {"x": ([2, 3, 2], R)})],
    "unsqueeze": [("unsqueeze(x, 1) * z", {"x": ([3], R), "z": ([3, 4], R)})],
    "squeeze": [("squeeze(x)", {"x": ([3, 1], R)}), ("x.squeeze(0)", {"x": ([1, 4], R)})],
    "detach": [("detach(x) * x", {"x": ([3], R)})],
    "ones": [("x * ones((2, 3))", {"x": ([3], R)}), ("x + ones(2, 3)", {"x": ([3], R)})],
    "zeros": [("x + zeros((2, 3))", {"x": ([3], R)})],
    "full": [("x * full((2, 3), 0.5)", {"x": ([3], R)})],
    "ones_like": [("x * ones_like(x) + x", {"x": ([3], R)})],
    "zeros_like": [("x + zeros_like(x)", {"x": ([2, 2], R)})],
    "eye": [("x * eye(3)", {"x": ([3, 3], R)})],
    "linear": [("linear(x, w, b)", {"x": ([4, 3], R), "w": ([2, 3], R), "b": ([2], R)}),
               ("linear(x, w)", {"x": ([3], R), "w": ([2, 3], R)})],
    "mse_loss": [("mse_loss(x, c)", {"x": ([4, 2], R), "c": ([4, 2], R)}),
                 ("mse_loss(x, z, reduction='sum')", {"x": ([3], R), "z": ([3], R)})],
    "cross_entropy": [("cross_entropy(x, c)", {"x": ([4, 3], R), "c": ([4, 3], "simplex")}),
                      ("cross_entropy(x, c)", {"x": ([5], R), "c": ([5], "simplex")})],
    "binary_cross_entropy": [("binary_cross_entropy(x, c)", {"x": ([4], U), "c": ([4], U)})],
    "binary_cross_entropy_with_logits": [("binary_cross_entropy_with_logits(x, c)", {"x": ([3, 2], R), "c": ([3, 2], U)})],
}

CASES["matmul"] += [("x @ z", {"x": ([2, 3, 4], R), "z": ([4], R)}),
                    ("x @ z", {"x": ([3], R), "z": ([2, 3, 4], R)}),
                    ("x @ z", {"x": ([2, 1, 2, 3], R), "z": ([4, 3, 2], R)})]


def _merge_groups():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "op_cases_*.py"))):
        mod = importlib.import_module(os.path.basename(path)[:-3])
        for name, cases in mod.CASES.items():
            CASES.setdefault(name, []).extend(cases)


_merge_groups()
