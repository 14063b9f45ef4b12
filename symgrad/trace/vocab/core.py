"""The machinery of the vocabulary: `Call` (an ATen call's arguments by PyTorch's names),
the rule registry, `spell`, and what a rule may return (`SAME`, `Multi`, `Unsupported`)."""
from dataclasses import dataclass
from typing import Callable

from ..expr import OMIT, keep, literal

RULES = {}
REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}
SAME = object()


class Unsupported(Exception):
    """The op (or this use of it) has no spelling in the spec language."""


@dataclass
class Multi:
    """Several results: ``item(i, val)`` spells result ``i`` (``val``: its fake tensor)."""
    item: Callable


class Call:
    """One ATen call: its arguments bound to the schema's names, as `Expr`s or Python values."""

    def __init__(self, node, spell):
        self.node = node
        self.target = node.target
        schema = node.target._schema
        self.inplace = is_inplace(schema)
        self.op = op_name(node.target)
        if self.inplace and self.op.endswith("_"):
            self.op = self.op[:-1]          # relu_ is spelled as relu (see build.check_inplace)
        self.a = {}
        self.raw = {}
        args, kwargs = list(node.args), dict(node.kwargs)
        for i, arg in enumerate(schema.arguments):
            if i < len(args) and not arg.kwarg_only:
                v = args[i]
            elif arg.name in kwargs:
                v = kwargs[arg.name]
            elif arg.has_default_value():
                v = arg.default_value
            else:
                continue
            self.raw[arg.name] = v
            self.a[arg.name] = spell(v)

    @property
    def out(self):
        """The fake tensor of the result (shape, dtype)."""
        return self.node.meta.get("val")

    def val(self, name):
        """The fake tensor of a tensor argument."""
        v = self.raw[name]
        return v.meta.get("val") if hasattr(v, "meta") else None

    def rank(self, name="self"):
        return len(self.val(name).shape)

    def shape(self):
        return tuple(int(d) for d in self.out.shape)


def is_inplace(schema):
    """True when the op writes into its first argument (``relu_``, ``add_``)."""
    info = schema.arguments[0].alias_info if schema.arguments else None
    return bool(info is not None and info.is_write)


def is_view(target):
    """True when the op's result shares memory with its input (``view``, ``select``, ``t``)."""
    schema = getattr(target, "_schema", None)
    if schema is None or not schema.returns:
        return False
    info = schema.returns[0].alias_info
    return info is not None and not info.is_write


def op_name(target):
    """``aten.add.Tensor`` -> ``add``; ``aten.relu_.default`` -> ``relu_``."""
    packet = getattr(target, "overloadpacket", None)
    return getattr(packet, "__name__", None) or getattr(target, "__name__", str(target))


def rule(*names):
    def deco(f):
        for n in names:
            RULES[n] = f
        return f
    return deco


def spell(c):
    """The spec text of an ATen call (an `Expr`, `SAME` or a `Multi`)."""
    f = RULES.get(c.op)
    if f is None:
        raise Unsupported("%s is not in the spec language" % describe(c.target))
    return f(c)


def describe(target):
    """How to name an op to a user: ``torch.erfinv (aten.erfinv.default)``."""
    name = str(target)
    short = op_name(target).rstrip("_")
    return "'%s' (%s)" % (short, name) if name.startswith("aten.") else "'%s'" % name


def dims_arg(d):
    """A reduction's dim list as PyTorch users write it: ``1``, ``(0, 1)``, or `OMIT` for all."""
    if d is None or d == [] or d == ():
        return OMIT
    d = list(d) if isinstance(d, (list, tuple)) else [d]
    return d[0] if len(d) == 1 else tuple(d)


def reduction_arg(r):
    return keep(REDUCTIONS.get(r, r) if isinstance(r, int) else r, "mean")


def tensors_arg(c, name):
    return [literal(t) for t in c.a[name]]
