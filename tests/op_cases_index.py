"""Op cases of shape and indexing (issue 13): subscripts, gathers and scatters, joins, moves,
diagonals, einsum.  The first case of a function is its canonical call (its node and saved
fields are checked against PyTorch).  Domains "long:C" are integer inputs with values in
[0, C), "bool" bool inputs; a value puts a case on repeated indices, which accumulate.
"""
R, P, U = "real", "positive", "unit"

CASES = {
    # subscripts (an operator, not a function): views, and advanced indexing by an integer input
    "subscript": [
        ("x[1]", {"x": ([3, 4], R)}), ("x[:, 0]", {"x": ([3, 4], R)}), ("x[1:3]", {"x": ([3, 4], R)}),
        ("x[..., None] * z", {"x": ([3, 4], R), "z": ([4, 2], R)}), ("x[:, ::2]", {"x": ([3, 4], R)}),
        ("x[-1, -2] * x[0]", {"x": ([3, 4], R)}), ("x[1:3, 1]", {"x": ([3, 4], R)}),
        ("x[:, None, 1:]", {"x": ([3, 4], R)}), ("x[:]", {"x": ([3, 4], R)}), ("x[...]", {"x": ([3, 4], R)}),
        ("x[:, :]", {"x": ([3, 4], R)}), ("x[None, :, 0]", {"x": ([3, 4], R)}), ("x[1:100]", {"x": ([3, 4], R)}),
        ("x[-2:] @ z", {"x": ([3, 4], R), "z": ([4, 2], R)}), ("x[..., 0]", {"x": ([2, 3, 4], R)}),
        ("x[0, 1] * x", {"x": ([3, 4], R)}), ("x[::2, 1:] + x[1:, :3]", {"x": ([3, 4], R)}),
        ("x[1:][:, 0] * x[0][1:3]", {"x": ([3, 4], R)}),
        ("W[c]", {"W": ([5, 3], R), "c": ([4], "long:5")}),
        ("W[c]", {"W": ([5, 3], R), "c": ([2, 3], "long:5")}),
        ("x[:, c]", {"x": ([3, 4], R), "c": ([5], "long:4")}),
        ("x[c]", {"x": ([3], R), "c": ([4], "long:3", [0, 0, 2, 0])}),        # repeated: grad [3, 0, 1]
        ("x[c, c2]", {"x": ([3, 4], R), "c": ([5], "long:3"), "c2": ([5], "long:4")}),
        ("x[c] * x[1]", {"x": ([3, 4], R), "c": ([], "long:3")}),
        ("x[..., c]", {"x": ([2, 3], R), "c": ([], "long:3")}),
    ],
    "one_hot": [("one_hot(c, 3) * x", {"x": ([4, 3], R), "c": ([4], "long:3")}),
                ("sum((softmax(x, dim=1) - one_hot(c, 3))**2)", {"x": ([4, 3], R), "c": ([4], "long:3")})],
    "gather": [("gather(x, 1, c)", {"x": ([3, 4], R), "c": ([3, 2], "long:4")}),
               ("x.gather(0, c)", {"x": ([3], R), "c": ([3], "long:3", [2, 2, 0])}),
               ("log_softmax(x, 1).gather(1, c[:, None])", {"x": ([4, 3], R), "c": ([4], "long:3")})],
    "index_select": [("index_select(x, 0, c)", {"x": ([3, 4], R), "c": ([5], "long:3")}),
                     ("x.index_select(1, c) * 2", {"x": ([3, 4], R), "c": ([3], "long:4", [1, 1, 1])}),
                     ("index_select(x, 1, c)", {"x": ([2, 4], R), "c": ([], "long:4")})],
    "index_add": [("index_add(x, 0, c, z)", {"x": ([3, 4], R), "z": ([5, 4], R), "c": ([5], "long:3")}),
                  ("index_add(x, 1, c, z)", {"x": ([2, 3], R), "z": ([2, 4], R), "c": ([4], "long:3", [0, 0, 2, 0])})],
    "scatter_add": [("scatter_add(x, 1, c, z)", {"x": ([3, 4], R), "z": ([3, 2], R), "c": ([3, 2], "long:4")})],
    "index_put": [("index_put(x, (c,), z, accumulate=True)", {"x": ([3, 4], R), "z": ([5, 4], R), "c": ([5], "long:3")}),
                  ("index_put(x, (c,), z)", {"x": ([3, 4], R), "z": ([2, 4], R), "c": ([2], "long:3", [0, 2])})],
    "select_scatter": [("select_scatter(x, z, 1, 0)", {"x": ([3, 4], R), "z": ([3], R)})],
    "slice_scatter": [("slice_scatter(x, z, 1, 0, 4, 2)", {"x": ([3, 4], R), "z": ([3, 2], R)}),
                      ("slice_scatter(x, z, start=1)", {"x": ([3, 2], R), "z": ([2, 2], R)})],
}
