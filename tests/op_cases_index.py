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

CASES.update({
    "cat": [("cat((x, z), 1)", {"x": ([3, 2], R), "z": ([3, 4], R)}),
            ("concat([x, z, x], dim=0) * 2", {"x": ([2, 3], R), "z": ([1, 3], R)}),
            ("cat((x, c), -1)", {"x": ([3, 2], R), "c": ([3, 1], R)}),
            ("cat((x[:, :2], x[:, 1:]), 1)", {"x": ([3, 3], R)})],
    "concat": [("concat([x, z, x], dim=0)", {"x": ([2, 3], R), "z": ([1, 3], R)})],
    "stack": [("stack((x, z))", {"x": ([3, 4], R), "z": ([3, 4], R)}),
              ("stack([x, z, x], dim=-1)", {"x": ([2, 3], R), "z": ([2, 3], R)})],
    "split": [("split(x, 2, dim=1)[0]", {"x": ([3, 4], R)}),
              ("split(x, 3, 1)[1] * 2", {"x": ([3, 4], R)}),
              ("split(x, [1, 3], dim=1)[1]", {"x": ([3, 4], R)}),
              ("x.split(2, 1)[0] * x.split(2, 1)[1]", {"x": ([3, 4], R)})],
    "chunk": [("chunk(x, 4, dim=1)[2]", {"x": ([3, 8], R)}),
              ("x.chunk(2, -1)[1] + x.chunk(2, -1)[0]", {"x": ([3, 4], R)}),
              ("chunk(x, 4)[2] * chunk(x, 4)[0]", {"x": ([6], R)})],
    "narrow": [("narrow(x, 1, 1, 2)", {"x": ([3, 4], R)}), ("x.narrow(0, 0, 2) * 3", {"x": ([3, 4], R)}),
               ("narrow(x, 1, -2, 2)", {"x": ([3, 4], R)})],
    "expand": [("x.expand(3, 4)", {"x": ([3, 1], R)}), ("x.expand((2, 3, 4))", {"x": ([3, 4], R)}),
               ("x.expand(-1, 5) * z", {"x": ([3, 1], R), "z": ([3, 5], R)})],
    "repeat": [("x.repeat(2, 3)", {"x": ([3, 4], R)}), ("x.repeat(2, 1, 2)", {"x": ([3, 4], R)}),
               ("x.repeat(3) * z", {"x": ([2], R), "z": ([6], R)})],
    "permute": [("permute(x, (2, 0, 1))", {"x": ([2, 3, 4], R)}), ("x.permute(2, 0, 1) * z", {"x": ([2, 3, 4], R), "z": ([4, 2, 3], R)}),
                ("x.permute(-1, 0, 1)", {"x": ([2, 3, 4], R)}), ("x.permute(1, 0) @ z", {"x": ([3, 2], R), "z": ([3, 2], R)})],
    "movedim": [("movedim(x, 0, -1)", {"x": ([2, 3, 4], R)}), ("movedim(x, (0, 1), (2, 0))", {"x": ([2, 3, 4], R)}),
                ("x.movedim(2, 0)", {"x": ([2, 3, 4], R)})],
    "moveaxis": [("moveaxis(x, 1, 0)", {"x": ([2, 3], R)})],
    "flip": [("flip(x, [1])", {"x": ([3, 4], R)}), ("x.flip(0, 1) * x", {"x": ([3, 4], R)}), ("x.flip(0)", {"x": ([3], R)})],
})
CASES["subscript"] += [("x.mT", {"x": ([2, 3, 4], R)}), ("x.mT @ x", {"x": ([3, 2], R)})]

# the layout a view leaves decides what a later reshape records (a view, or a copy)
CASES["subscript"] += [("reshape(x[:, 1:3], (6,))", {"x": ([3, 4], R)}), ("reshape(x[1:3], (8,))", {"x": ([3, 4], R)}),
                       ("flatten(x[:, 0])", {"x": ([3, 4], R)}), ("reshape(x[0], (2, 2))", {"x": ([3, 4], R)}),
                       ("reshape(x[:, None, 1], (3,))", {"x": ([3, 4], R)}),
                       ("linear(x[:, :, 1:], w)", {"x": ([2, 3, 4], R), "w": ([2, 3], R)}),
                       ("reshape(x.mT, (6,))", {"x": ([2, 3], R)}), ("reshape(x.mT, (3,))", {"x": ([1, 3], R)})]
CASES["permute"] += [("reshape(x.permute(1, 0, 2), (24,))", {"x": ([2, 3, 4], R)}),
                     ("reshape(x.permute(1, 0, 2), (12,))", {"x": ([1, 3, 4], R)}),
                     ("reshape(x.permute(0, 2, 1), (2, 12))", {"x": ([2, 3, 4], R)}),
                     ("reshape(x.permute(2, 0, 1), (4, 6))", {"x": ([2, 3, 4], R)})]
CASES["narrow"] += [("reshape(narrow(x, 0, 1, 2), (8,))", {"x": ([3, 4], R)}),
                    ("reshape(narrow(x, 1, 1, 2), (6,))", {"x": ([3, 4], R)})]
CASES["chunk"] += [("reshape(chunk(x, 2, 0)[1], (4,))", {"x": ([4, 2], R)}),
                   ("reshape(chunk(x, 2, 1)[1], (4,))", {"x": ([2, 4], R)})]
CASES["expand"] += [("reshape(x.expand(3, 4), (12,))", {"x": ([3, 1], R)})]

CASES.update({
    "diag": [("diag(x)", {"x": ([3], R)}), ("diag(x, 1) * z", {"x": ([3], R), "z": ([4, 4], R)}),
             ("diag(x)", {"x": ([3, 4], R)}), ("diag(x, diagonal=-1)", {"x": ([3, 3], R)}),
             ("x.diag(-1) @ z", {"x": ([2], R), "z": ([3, 2], R)})],
    "diagonal": [("diagonal(x)", {"x": ([3, 4], R)}), ("diagonal(x, 0, -2, -1)", {"x": ([2, 3, 3], R)}),
                 ("x.diagonal(offset=1) * 2", {"x": ([3, 4], R)}), ("diagonal(x, -1, 1, 0)", {"x": ([4, 3], R)}),
                 ("reshape(diagonal(x, 0, 0, 2), (6,))", {"x": ([2, 3, 3], R)})],
    "diagonal_scatter": [("diagonal_scatter(x, z)", {"x": ([3, 4], R), "z": ([3], R)}),
                         ("diagonal_scatter(x, z, 1)", {"x": ([3, 3], R), "z": ([2], R)})],
    "triu": [("triu(x)", {"x": ([3, 4], R)}), ("triu(x, 1) @ z", {"x": ([3, 3], R), "z": ([3, 2], R)}),
             ("x.triu(diagonal=-1)", {"x": ([2, 3, 3], R)})],
    "tril": [("tril(x)", {"x": ([3, 4], R)}), ("tril(x, -1) * x", {"x": ([3, 3], R)})],
})

CASES["einsum"] = [
    ("einsum('ij,jk->ik', x, z)", {"x": ([2, 3], R), "z": ([3, 4], R)}),
    ("einsum('ij,jk->ik', x, c)", {"x": ([2, 3], R), "c": ([3, 4], R)}),
    ("einsum('bij,bjk->bik', x, z)", {"x": ([2, 2, 3], R), "z": ([2, 3, 4], R)}),
    ("einsum('bhqd,bhkd->bhqk', x, z)", {"x": ([2, 2, 3, 4], R), "z": ([2, 2, 5, 4], R)}),
    ("einsum('ij,jk', x, z)", {"x": ([2, 3], R), "z": ([3, 4], R)}),
    ("einsum('ii', x)", {"x": ([3, 3], R)}), ("einsum('ii->i', x)", {"x": ([3, 3], R)}),
    ("einsum('ij->', x)", {"x": ([2, 3], R)}), ("einsum('ij->ji', x)", {"x": ([2, 3], R)}),
    ("einsum('i,j->ij', x, z)", {"x": ([2], R), "z": ([3], R)}), ("einsum('i,i->', x, z)", {"x": ([3], R), "z": ([3], R)}),
    ("einsum('ij,ij->ij', x, z)", {"x": ([2, 3], R), "z": ([2, 3], R)}),
    ("einsum('i,ij,j->', x, w, z)", {"x": ([2], R), "w": ([2, 3], R), "z": ([3], R)}),
    ("einsum('...ij,jk->...ik', x, z)", {"x": ([5, 2, 3], R), "z": ([3, 4], R)}),
    ("einsum('ij, jk -> ik', [x, z])", {"x": ([2, 3], R), "z": ([3, 4], R)}),
    ("einsum('ij,ij->i', x, z)", {"x": ([2, 3], R), "z": ([1, 3], R)}),
    ("einsum('iij->j', x) * 2", {"x": ([3, 3, 2], R)}),
]
# an adjoint that is constant along a dim (it broadcasts): each rule must widen it where it matters
CASES["diag"] += [("sum(diag(x), 0)", {"x": ([4], R)}), ("sum(diag(x).flip(0), 0)", {"x": ([4], R)})]
CASES["flip"] += [("sum(x.flip(0), 0)", {"x": ([3, 4], R)})]
CASES["permute"] += [("sum(x.permute(1, 0), 1)", {"x": ([3, 4], R)})]
CASES["subscript"] += [("sum(x[1:], 0)", {"x": ([3, 4], R)}), ("sum(W[c], 0)", {"W": ([5, 3], R), "c": ([4], "long:5")})]
CASES["einsum"] += [("sum(einsum('ij,jk->ik', x, z), 0)", {"x": ([2, 3], R), "z": ([3, 4], R)})]
CASES["cat"] += [("sum(cat((x, z), 1), 0)", {"x": ([3, 2], R), "z": ([3, 4], R)})]
CASES["stack"] += [("sum(stack((x, z), 1), 0)", {"x": ([3, 2], R), "z": ([3, 2], R)})]
CASES["gather"] += [("sum(gather(x, 1, c), 0)", {"x": ([3, 4], R), "c": ([3, 2], "long:4")})]
CASES["repeat"] += [("sum(x.repeat(2, 1), 0)", {"x": ([3, 4], R)})]
CASES["diagonal"] += [("sum(diagonal(x, 0, 0, 2), 0)", {"x": ([3, 2, 3], R)})]
CASES["triu"] += [("sum(triu(x), 0)", {"x": ([3, 3], R)})]
# a negative index counts from the end (x[:, -1]); the adjoint wraps it before index_add
CASES["subscript"] += [("x[:, c - 1]", {"x": ([3, 4], R), "c": ([5], "long:4", [0, 1, 0, 3, 2])}),
                       ("W[c - 2]", {"W": ([3, 2], R), "c": ([4], "long:3", [0, 2, 1, 0])})]
CASES["arange"] = [("x[arange(4), c]", {"x": ([4, 3], R), "c": ([4], "long:3")}),
                   ("-mean(log_softmax(x, 1)[arange(4), c])", {"x": ([4, 3], R), "c": ([4], "long:3", [0, 2, 2, 1])}),
                   ("x[arange(1, 4)]", {"x": ([5, 2], R)}), ("x[:, arange(0, 4, 2)] * 2", {"x": ([3, 4], R)})]
CASES["float"] = [("one_hot(c, 3).float() * x", {"x": ([4, 3], R), "c": ([4], "long:3")}),
                  ("x * (x > 0).float()", {"x": ([4], R)}), ("mean(m.float() * x, 0)", {"x": ([3, 2], R), "m": ([3, 2], "bool")})]
CASES["double"] = [("x @ one_hot(c, 3).double().T", {"x": ([2, 3], R), "c": ([4], "long:3")}),
                   ("softmax(x, 1) - one_hot(c, 3).double()", {"x": ([4, 3], R), "c": ([4], "long:3")})]
