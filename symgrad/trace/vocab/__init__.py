"""PyTorch's vocabulary: each ATen op of an exported graph -> its spelling in the spec language.

One rule per op (keyed by the ATen name without overload: ``linear``, ``add``, ``sum``), in
the style of HIPS autograd's ``defvjp`` table: a rule reads the call's arguments by
PyTorch's own argument names (`Call.a`, bound from the op's schema with its defaults) and
returns the spec text as an `Expr`.  The spec keeps PyTorch's names and signatures
(``linear(x, fc1_weight, fc1_bias)``, ``layer_norm(x, (C,), w, b, eps=1e-05)``,
``cross_entropy(z, y)``), leaves out arguments equal to their defaults, and never writes a
layer as its decomposition.  An op with no rule, or an argument value a rule cannot say
(dropout in training mode, ``rounding_mode``...), raises `Unsupported` naming it.

A rule may return:
- an `Expr` (most ops);
- `SAME`: the op is the identity on values (``clone``, ``dropout`` in eval mode, a float
  to float ``.to``), so the argument's own text stands for it;
- a `Multi`: an op returning several tensors (``split``, ``max(x, dim)``), whose
  ``operator.getitem`` users are spelled by ``Multi.item``.
"""
from .core import Call, Multi, RULES, SAME, Unsupported, describe, is_inplace, is_view, op_name, spell
from . import arithmetic, shapes, layers  # noqa: F401  (importing each registers its rules)

__all__ = ["Call", "Multi", "RULES", "SAME", "Unsupported", "describe", "is_inplace", "is_view", "op_name", "spell"]
