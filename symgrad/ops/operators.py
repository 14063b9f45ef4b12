"""The operators of the language as PyTorch records them: ``a * b`` is MulBackward0.

The SymPy meaning of each operator is SymPy's own arithmetic (``+ - * / **``) or
`MatmulOp` (``@``); what is recorded here is what the autograd model and the notes need:
the backward node, whether it saves tensors, and the reason for its rule.
"""
from .nodes import CROSS
from .registry import operator

operator("+", "AddBackward0", reason="add distributes: each term receives the adjoint itself")
operator("-", "SubBackward0", reason="subtract distributes: the second term receives its negative")
operator("*", "MulBackward0", CROSS["MulBackward0"], reason="multiply swaps: each factor receives the adjoint "
                                                           "times the other factor")
operator("/", "DivBackward0", CROSS["DivBackward0"], reason="d(a/b) = da/b - a db/b^2")
operator("**", "PowBackward0", ("self",), reason="d x^n = n x^{n-1} dx", function="pow")
operator("@", "MmBackward0", CROSS["MmBackward0"], function="matmul",
         reason="d(AB) = dA B + A dB, so A receives G B^T and B receives A^T G")
operator("neg", "NegBackward0", reason="negation flips the sign of the adjoint")
operator(".T", "PermuteBackward0", reason="a transpose moves entries: its adjoint is transposed back")
operator(".mT", "TransposeBackward0", reason="a transpose of the last two dims: its adjoint is transposed back")
operator("cmp", None, reason="a comparison is a 0/1 mask: no gradient flows through it")
