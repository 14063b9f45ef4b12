"""PyTorch's backward nodes that several ops record, and what each saves for which argument.

A function's own node and fields are declared in its block (``saved=`` of its
registration); this table holds the binary nodes that more than one op records -- ``*``,
``outer`` and ``cross_entropy`` all record ``MulBackward0`` -- so their facts live once.
`FIELD_ARG` says which argument a saved field is (for the notes: "saved x").
"""
from .registry import Cross

# binary nodes that save one operand for the other's gradient
CROSS = {
    "MulBackward0": Cross(("other",), ("self",)),
    "DivBackward0": Cross(("other",), ("self", "other")),
    "MmBackward0": Cross(("mat2",), ("self",)),
    "MvBackward0": Cross(("vec",), ("self",)),
    "DotBackward0": Cross(("tensor",), ("self",)),
    "AddmmBackward0": Cross(("mat2",), ("mat1",)),
    "BmmBackward0": Cross(("mat2",), ("self",)),
}

# which argument (0, 1, ...) a saved field refers to; None: a result or a factorisation
FIELD_ARG = {"self": 0, "other": 1, "mat2": 1, "vec": 1, "tensor": 1, "mat1": 0, "exponent": 1,
             "target": 1, "condition": 0, "A": 0, "LU": None, "pivots": None, "inverse": None,
             "result": None}


def cross_saved(node, rg0, rg1):
    """The fields ``node`` saves when argument 0 / 1 require grad."""
    return CROSS[node].fields(rg0, rg1)
