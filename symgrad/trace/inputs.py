"""The data inputs of a trace: ``--input`` text or example values -> `InputSpec` -> example tensor.

``NAME=SHAPE[:DTYPE[:HIGH]]`` (SPEC section 13): SHAPE is sizes separated by commas
(``8,1,28,28``; empty or ``()`` for a scalar); DTYPE is ``float`` (the default), ``long``
-- integer data such as class labels, which needs HIGH: values are drawn in ``[0, HIGH)``,
exactly the spec's ``dtype: long`` with ``high:`` -- or ``bool``.  In the API an example
may also be a tensor (its shape and dtype are used, its values with ``with_values``, and
its ``requires_grad``: gradients with respect to it are derived too) or a tuple of sizes.
"""
import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ..errors import SymgradError

DTYPES = ("float", "long", "bool")
MAX_RANK = 8                 # as the spec loader allows
MAX_SIZE = 10 ** 9
MAX_ELEMENTS = 10 ** 8       # an example tensor is really allocated while tracing
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SYNTAX = "NAME=SHAPE[:long:HIGH] (e.g. x=8,784 or y=8:long:10)"


@dataclass
class InputSpec:
    name: str
    shape: Tuple[int, ...]
    dtype: str = "float"          # "float" | "long" | "bool"
    high: Optional[int] = None    # long only: values in [0, high)
    value: Any = None             # an example tensor the caller gave, else None
    requires_grad: bool = False   # an example tensor that requires grad: differentiate w.r.t. it too

    def describe(self):
        """``[8, 1, 28, 28]``, ``[8] (long, in [0, 10))``."""
        s = "[%s]" % ", ".join(map(str, self.shape))
        if self.dtype == "long":
            return s + (" (long, in [0, %d))" % self.high if self.high else " (long)")
        return s + (" (bool)" if self.dtype == "bool" else "")


def parse_option(text):
    """One ``--input`` value -> `InputSpec`; a `SymgradError` saying what is wrong otherwise."""
    name, sep, rest = str(text).partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise SymgradError("--input %r: expected %s" % (text, SYNTAX))
    return parse_spec(name, rest, "--input %r" % text)


def parse_spec(name, text, where=None):
    """``SHAPE[:DTYPE[:HIGH]]`` for the input ``name``."""
    where = where or "input %s=%r" % (name, text)
    parts = [p.strip() for p in text.split(":")]
    if len(parts) > 3:
        raise SymgradError("%s: expected %s" % (where, SYNTAX))
    shape = _shape(parts[0], where)
    dtype = parts[1] if len(parts) > 1 else "float"
    if dtype not in DTYPES:
        raise SymgradError("%s: unknown dtype %r (use float, long or bool)" % (where, dtype))
    high = None
    if dtype == "long":
        if len(parts) < 3 or not parts[2].isdigit() or not 0 < int(parts[2]) <= MAX_SIZE:
            raise SymgradError("%s: a long input needs HIGH, a positive integer: values are drawn in "
                               "[0, HIGH), as in y=8:long:10" % where)
        high = int(parts[2])
    elif len(parts) == 3:
        raise SymgradError("%s: only a long input takes HIGH (as in y=8:long:10)" % where)
    return InputSpec(name, shape, dtype, high)


def _shape(text, where):
    text = text.strip()
    if text.startswith("(") and text.endswith(")") or text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = [t.strip() for t in text.split(",")] if text.strip() else []
    if items and items[-1] == "" and len(items) > 1:      # "8," as in a Python tuple
        items.pop()
    if len(items) > MAX_RANK:
        raise SymgradError("%s: %d dimensions (at most %d)" % (where, len(items), MAX_RANK))
    for t in items:
        if not t.isdigit() or not 0 < int(t) <= MAX_SIZE:
            raise SymgradError("%s: the shape must be positive integers separated by commas, got %r"
                               % (where, text))
    shape = tuple(int(t) for t in items)
    n = 1
    for d in shape:
        n *= d
    if n > MAX_ELEMENTS:
        raise SymgradError("%s: %d elements is too many for an example input (at most %d)"
                           % (where, n, MAX_ELEMENTS))
    return shape


def from_example(name, value):
    """An API example input (tensor, shape text, or tuple of sizes) -> `InputSpec`."""
    import torch
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            dtype = "float"
        elif value.dtype == torch.bool:
            dtype = "bool"
        elif not value.is_complex():
            dtype = "long"
        else:
            raise SymgradError("example input %s: complex tensors are not in the spec language" % name)
        # a long tensor's HIGH is found from its use (the class count of a loss), see `leaves`
        return InputSpec(name, tuple(value.shape), dtype, None, value.detach(),
                         bool(value.requires_grad and dtype == "float"))
    if isinstance(value, str):
        return parse_spec(name, value)
    if isinstance(value, (tuple, list, torch.Size)) and all(isinstance(d, int) and not isinstance(d, bool)
                                                            for d in value):
        return parse_spec(name, ",".join(map(str, value)))
    raise SymgradError("example input %s: expected a tensor, a shape such as '8,784' or '8:long:10', "
                       "or a tuple of sizes; got %s" % (name, type(value).__name__))


def example_tensor(spec, float_dtype):
    """The tensor that stands for ``spec`` while tracing (its own value when it has one)."""
    import torch
    if spec.value is not None:
        v = spec.value
        return v.to(float_dtype) if spec.dtype == "float" else v
    gen = torch.Generator().manual_seed(0)
    if spec.dtype == "long":
        return torch.randint(0, spec.high, spec.shape, generator=gen)
    if spec.dtype == "bool":
        return torch.rand(spec.shape, generator=gen) > 0.5
    return torch.randn(spec.shape, generator=gen, dtype=float_dtype)
