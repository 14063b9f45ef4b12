"""Which PyTorch dtype an expression holds: ``float``, ``long`` (int64) or ``bool``.

Integer and boolean inputs (``dtype: long`` / ``bool``), comparisons and ``one_hot`` give
tensors that are not floating point.  PyTorch promotes them in arithmetic with a float
tensor (``x * m``, ``one_hot(y, C) - p``), keeps them in arithmetic among themselves
(``y + 1`` is long), and refuses some ops on them (``mean``, ``softmax``, a float matmul).
`value_dtype` follows those rules over a SymPy expression, so that the compiled code keeps
an index an integer tensor and casts an integer value to the working dtype only where
PyTorch itself would not promote it.  An op class says what it gives with ``dtype_rule``:
``"same"`` (a view: its first tensor's dtype), ``"promote"`` (``cat``: all its tensors'),
``"long"`` (``one_hot``); by default a tensor op gives a float.
"""
from sympy import Add, Mul, Pow

from ..tensor import Tensor
from .base import TensorOp
from .constants import DetachOp
from .elementwise import Mask, Where
from .shape import ReshapeOp, UnsqueezeOp, SqueezeOp, TransposeOp

_SAME = (ReshapeOp, UnsqueezeOp, SqueezeOp, TransposeOp, DetachOp)
_ORDER = {"bool": 0, "long": 1, "float": 2}


def promote(kinds):
    """PyTorch's promotion of tensor dtypes: bool < long < float."""
    return max(kinds, key=_ORDER.__getitem__, default="float")


def value_dtype(e):
    """``"float"``, ``"long"`` or ``"bool"``: the dtype PyTorch holds for ``e``."""
    if isinstance(e, Tensor):
        return getattr(e, "dtype", "float")
    if isinstance(e, Mask):
        return "bool"
    if isinstance(e, TensorOp):
        rule = "same" if isinstance(e, _SAME) else getattr(e, "dtype_rule", "float")
        if rule == "same":
            return value_dtype(e.tensors[0]) if e.tensors else "float"
        if rule == "promote":
            return promote([value_dtype(a) for a in e.tensors])
        return rule
    if e.is_Number or e.is_Symbol:         # a number, or a dim (a Python int)
        return "long" if e.is_integer else "float"
    if isinstance(e, (Add, Mul)):
        kinds = [value_dtype(a) for a in e.args]
        if isinstance(e, Mul) and all(k == "bool" for k in kinds):
            return "bool"
        return "float" if "float" in kinds else "long"
    if isinstance(e, Pow):
        b = value_dtype(e.base)
        if b != "float" and e.exp.is_Integer and e.exp >= 0:
            return "long"
        return "float"
    if isinstance(e, Where):
        return promote([value_dtype(a) for a in e.args[1:]])
    return "float"


def is_integer_valued(e):
    """Whether ``e`` holds a long or bool tensor (not a float one)."""
    return value_dtype(e) != "float"


def passes_dtype(op):
    """Whether a tensor op gives its tensors' dtype (a view, cat): an integer stays one."""
    return isinstance(op, _SAME) or getattr(op, "dtype_rule", "float") in ("same", "promote")


def index_high(e):
    """The bound of an integer input's values (``high``), seen through views of it; else None."""
    while isinstance(e, TensorOp) and e.tensors and passes_dtype(e):
        e = e.tensors[0]
    return getattr(e, "high", None) if isinstance(e, (Tensor, TensorOp)) else None
