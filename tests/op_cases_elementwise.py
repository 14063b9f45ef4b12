"""Op cases of the elementwise functions of SPEC section 10 (merged by `op_cases`).

Each function's first case is its canonical call (its node and saved fields are checked
against PyTorch); later cases broadcast, use the method form and keyword arguments, and put
inputs exactly on ties and kinks (a third element: the value), where the closed form must
give PyTorch's subgradient -- every value below was measured in torch 2.13 (see OPS.md).
"""
R, P, U, N = "real", "positive", "unit", "nonnegative"

CASES = {
    # maximum / minimum: a tie gives 1/2 to each side, then summed over broadcast axes
    "maximum": [("maximum(x, z)", {"x": ([3, 4], R), "z": ([4], R)}),
                ("x.maximum(c) * z", {"x": ([2, 3], R), "c": ([3], R), "z": ([2, 1], R)}),
                ("maximum(x, z)", {"x": ([3], R, [1.0, 2.0, 3.0]), "z": ([3], R, [1.0, 0.0, 5.0])}),
                ("maximum(x, z)", {"x": ([2, 2], R, [[1.0, 2.0], [1.0, 0.0]]), "z": ([2], R, [1.0, 2.0])}),
                ("maximum(x, x)", {"x": ([3], R)})],
    "minimum": [("minimum(x, z)", {"x": ([3, 4], R), "z": ([3, 1], R)}),
                ("minimum(x, z)", {"x": ([3], R, [1.0, 2.0, 3.0]), "z": ([3], R, [1.0, 0.0, 5.0])}),
                ("x.minimum(z)", {"x": ([2, 2], R, [[1.0, 2.0], [1.0, 0.0]]), "z": ([2], R, [1.0, 0.0])})],
    # clamp / clip: the gradient passes AT the bounds; tensor bounds receive it where they bind
    "clamp": [("clamp(x, -0.5, 0.5)", {"x": ([3, 4], R)}),
              ("x.clamp(min=0.0)", {"x": ([4], R)}),
              ("clamp(x, max=z)", {"x": ([2, 3], R), "z": ([3], R)}),
              ("clamp(x, a, b)", {"x": ([2, 3], R), "a": ([3], R), "b": ([2, 1], R)}),
              ("clamp(x, -1.0, 1.0)", {"x": ([5], R, [-1.0, 1.0, 0.0, 2.0, -2.0])}),
              ("clamp(x, min=0.0)", {"x": ([3], R, [0.0, 1.0, -1.0])}),
              ("clamp(x, max=0.0)", {"x": ([3], R, [0.0, 1.0, -1.0])}),
              ("clamp(x, 1.0, -1.0)", {"x": ([5], R, [-2.0, 0.0, 1.0, -1.0, 2.0])}),
              ("clamp(x, a, b)", {"x": ([5], R, [-1.0, 1.0, 0.0, 2.0, -2.0]), "a": ([5], R, [-1.0] * 5),
                                  "b": ([5], R, [1.0] * 5)}),
              ("clamp(x, a, b)", {"x": ([3], R, [-2.0, 0.0, 2.0]), "a": ([3], R, [0.0] * 3), "b": ([3], R, [0.0] * 3)}),
              ("clamp(x, a, b)", {"x": ([3], R, [-2.0, 0.0, 2.0]), "a": ([3], R, [1.0] * 3), "b": ([3], R, [-1.0] * 3)}),
              ("clamp(x, min=a)", {"x": ([3], R, [-2.0, 0.0, 2.0]), "a": ([1], R, [0.0])}),
              ("clamp(x, max=b)", {"x": ([2, 3], R, [[-2.0, 0.0, 2.0], [1.0, 1.0, 3.0]]), "b": ([3], R, [0.0, 1.0, 2.0])}),
              ("clamp(c, x, z)", {"c": ([3], R, [0.0, 1.0, 3.0]), "x": ([3], R, [0.0, 0.0, 0.0]),
                                  "z": ([3], R, [2.0, 1.0, 2.0])})],
    "clip": [("clip(x, -0.5, 0.5)", {"x": ([3, 4], R)}), ("x.clip(max=0.3) * z", {"x": ([3], R), "z": ([2, 3], R)}),
             ("clip(x, -1.0, 1.0)", {"x": ([3], R, [-1.0, 1.0, 0.0])})],
    # hardtanh / relu6: NO gradient at the bounds
    "hardtanh": [("hardtanh(x)", {"x": ([3, 4], R)}), ("hardtanh(x, -0.5, 0.5) * z", {"x": ([2, 3], R), "z": ([3], R)}),
                 ("hardtanh(x, min_val=0.0, max_val=6.0, inplace=False)", {"x": ([4], R)}),
                 ("hardtanh(x)", {"x": ([4], R, [-1.0, 1.0, 0.0, 2.0])}),
                 ("hardtanh(x, 0.0, 6.0)", {"x": ([3], R, [0.0, 6.0, 3.0])})],
    "relu6": [("relu6(x)", {"x": ([3, 4], R)}), ("relu6(x * 4) * z", {"x": ([2, 3], R), "z": ([3], R)}),
              ("relu6(x)", {"x": ([5], R, [0.0, 6.0, 3.0, -1.0, 7.0])})],
    # the elu family: at 0 the negative branch; a large x never overflows the unused branch
    "elu": [("elu(x)", {"x": ([3, 4], R)}), ("elu(x, alpha=0.5) * z", {"x": ([2, 3], R), "z": ([3], R)}),
            ("elu(x)", {"x": ([5], R, [0.0, -0.0, 1.0, -1.0, 800.0])}),
            ("elu(x, 0.5)", {"x": ([2], R, [0.0, -2.0])}), ("elu(x, 2.0, False)", {"x": ([1], R, [0.0])}),
            ("elu(x, -1.0)", {"x": ([3], R, [0.0, -1.0, 1.0])})],
    "selu": [("selu(x)", {"x": ([3, 4], R)}), ("selu(x) * z", {"x": ([3], R, [0.0, -1.0, 800.0]), "z": ([2, 1], R)})],
    "celu": [("celu(x)", {"x": ([3, 4], R)}), ("celu(x, alpha=2.0) * z", {"x": ([2, 3], R), "z": ([3], R)}),
             ("celu(x)", {"x": ([3], R, [0.0, -1.0, 800.0])}), ("celu(x, 0.5)", {"x": ([2], R, [0.0, -1.0])})],
    "mish": [("mish(x)", {"x": ([3, 4], R)}), ("mish(x @ z)", {"x": ([2, 3], R), "z": ([3, 2], R)}),
             ("mish(x)", {"x": ([4], R, [0.0, -30.0, 30.0, 800.0])})],
    "logsigmoid": [("logsigmoid(x)", {"x": ([3, 4], R)}), ("logsigmoid(x) * z", {"x": ([3], R), "z": ([2, 3], R)}),
                   ("logsigmoid(x)", {"x": ([3], R, [0.0, -800.0, 800.0])})],
    "softsign": [("softsign(x)", {"x": ([3, 4], R)}), ("softsign(x * z)", {"x": ([3], R), "z": ([2, 1], R)}),
                 ("softsign(x)", {"x": ([3], R, [0.0, -0.0, 2.0])})],
    "tanhshrink": [("tanhshrink(x)", {"x": ([3, 4], R)}), ("tanhshrink(x @ z)", {"x": ([2, 3], R), "z": ([3], R)})],
    # trigonometric, logarithms, powers
    "asin": [("asin(x)", {"x": ([3, 4], U)}), ("x.asin() * z", {"x": ([3], U), "z": ([2, 1], R)})],
    "acos": [("acos(x)", {"x": ([3, 4], U)}), ("acos(x * z)", {"x": ([3], U), "z": ([2, 1], U)})],
    "atan": [("atan(x)", {"x": ([3, 4], R)}), ("x.atan() * z", {"x": ([3], R), "z": ([2, 3], R)})],
    "atan2": [("atan2(x, z)", {"x": ([3, 4], R), "z": ([4], R)}), ("x.atan2(c)", {"x": ([2, 3], R), "c": ([3], R)}),
              ("atan2(x, z)", {"x": ([4], R, [0.0, 1.0, 0.0, -0.0]), "z": ([4], R, [0.0, 0.0, -1.0, 0.0])}),
              ("atan2(x, z)", {"x": ([3], P), "z": ([3], R)})],
    "log2": [("log2(x)", {"x": ([3, 4], P)}), ("x.log2() * z", {"x": ([3], P), "z": ([2, 1], R)})],
    "log10": [("log10(x)", {"x": ([3, 4], P)}), ("log10(x + z)", {"x": ([3], P), "z": ([2, 1], P)})],
    "exp2": [("exp2(x)", {"x": ([3, 4], R)}), ("x.exp2() * z", {"x": ([3], R), "z": ([2, 1], R)})],
    "reciprocal": [("reciprocal(x)", {"x": ([3, 4], P)}), ("x.reciprocal() * z", {"x": ([3], R), "z": ([2, 1], R)})],
    # special functions
    "lgamma": [("lgamma(x)", {"x": ([3, 4], P)}), ("x.lgamma() * z", {"x": ([3], P), "z": ([2, 1], R)}),
               ("lgamma(x)", {"x": ([3], R, [-0.5, -1.5, 2.5])})],
    "digamma": [("digamma(x)", {"x": ([3, 4], P)}), ("digamma(x * z)", {"x": ([3], P), "z": ([2, 1], P)}),
                ("digamma(x)", {"x": ([2], R, [-0.5, 1.5])})],
    "polygamma": [("polygamma(1, x)", {"x": ([3, 4], P)}), ("polygamma(0, x) * z", {"x": ([3], P), "z": ([2, 1], R)}),
                  ("polygamma(3, x)", {"x": ([2], R, [-0.5, 1.5])})],
    "xlogy": [("xlogy(x, z)", {"x": ([3, 4], R), "z": ([4], P)}), ("xlogy(x, 2.0)", {"x": ([3], R)}),
              ("xlogy(2.0, z)", {"z": ([3], P)}), ("x.xlogy(z) * c", {"x": ([2, 3], P), "z": ([3], P), "c": ([2, 1], R)}),
              ("xlogy(x, c)", {"x": ([3], R, [0.0, 0.0, 1.0]), "c": ([3], N, [0.0, 2.0, 3.0])}),
              ("xlogy(x, x)", {"x": ([3], U)})],
    # PyTorch's subgradients at 0 of the 0.1 functions
    "abs": [("abs(x)", {"x": ([4], R, [0.0, -0.0, 1.0, -2.0])})],
    "sign": [("sign(x) * x", {"x": ([2], R, [0.0, 1.0])})],
    "relu": [("relu(x)", {"x": ([3], R, [0.0, 1.0, -1.0])})],
    "leaky_relu": [("leaky_relu(x, 0.2)", {"x": ([3], R, [0.0, 1.0, -1.0])})],
}
