"""Subscripts and attributes of the expression language: ``x[1:3, 0]``, ``W[y]``, ``x.mT``,
``chunk(x, 4, 1)[2]``, ``max(x, 1).values``.

`index_entries` reads a checked subscript into entries -- ints, slices with integer-literal
bounds, ``None``, ``...`` and integer tensors -- the one reading shared by the builder (here),
the autograd model (``symgrad.autograd.recorded``) and the torch reference
(``symgrad.numeric.reference``), so all three mean the same indexing.  Whether the subscript
was a tuple matters: PyTorch records ``x[:]`` as a slice but ``x[:, :]`` as an alias.

`Subscripts` is the part of the builder that builds them (the ops are
``symgrad.ops.index``), and picks one piece of a call that gives a tuple (``split``,
``chunk``): such a call is only usable subscripted, or by a field name of its result.
"""
import ast

from sympy import Integer

from ..ops.kinds import value_dtype
from ..ops.shape import T, TransposeOp
from ..tensor import shape_of
from .parse import err, call_parts, int_literal

MASK_INDEX = ("indexing with a bool tensor gives a shape that depends on the data: "
              "use where(m, x, 0) or x * m")


def index_entries(node):
    """(entries, single) of a subscript's index: entries ("int", k), ("slice", lo, hi, step),
    ("none",), ("ellipsis",) or ("tensor", ast node); ``single`` when it was not a tuple."""
    single = not isinstance(node, ast.Tuple)
    out = []
    for e in ([node] if single else node.elts):
        k = int_literal(e)
        if k is not None:
            out.append(("int", k))
        elif isinstance(e, ast.Slice):
            out.append(("slice",) + tuple(None if p is None else int_literal(p) for p in (e.lower, e.upper, e.step)))
        elif isinstance(e, ast.Constant) and e.value is None:
            out.append(("none",))
        elif isinstance(e, ast.Constant) and e.value is Ellipsis:
            out.append(("ellipsis",))
        else:
            out.append(("tensor", e))
    return out, single


def tuple_call(node):
    """The op-table function of a call node, when the node is a call (else None)."""
    if isinstance(node, ast.Call):
        return call_parts(node)[1]
    return None


class Subscripts:
    """Subscripts, .T/.mT and fields (a mixin of the builder)."""

    def subscript(self, node, depth):
        base = self.build(node.value, depth + 1)
        if isinstance(base, tuple):
            return self.pick(node, base, int_literal(node.slice))
        if self.kind(node.value) == "number":
            raise err(node, "a plain number cannot be subscripted")
        entries, single = index_entries(node.slice)
        built = []
        for e in entries:
            if e[0] != "tensor":
                built.append(e)
                continue
            v = self.tensor(e[1], depth + 1)
            kind = self.kind(e[1])
            if kind == "bool":
                raise err(e[1], MASK_INDEX)
            if kind != "long":
                raise err(e[1], "an index must be an integer literal, a slice with literal bounds, None, "
                                "... or an integer tensor (dtype: long), got %s" % self.kind_text(e[1]))
            built.append(("tensor", v))
        from ..ops.index import getitem
        return getitem(base, built, single)

    def pick(self, node, pieces, k):
        name = _call_name(node.value)
        if k is None:
            raise err(node.slice, "%s() gives a tuple: pick one piece with an integer, as %s(...)[0]"
                      % (name, name))
        if not -len(pieces) <= k < len(pieces):
            raise err(node.slice, "%s() gives %d piece%s here: [%d] is out of range"
                      % (name, len(pieces), "" if len(pieces) == 1 else "s", k))
        return pieces[k]

    def attribute(self, node, depth):
        base = self.build(node.value, depth + 1)
        if node.attr not in ("T", "mT"):
            fn = tuple_call(node.value)
            fields = tuple(getattr(fn, "fields", ())) if fn is not None else ()
            if not isinstance(base, tuple) or node.attr not in fields:
                raise err(node, "'.%s' is a field of a result such as max(x, 1).values, not of %s"
                          % (node.attr, "this tensor" if not isinstance(base, tuple) else "this result"))
            return base[fields.index(node.attr)]
        if isinstance(base, tuple):
            raise err(node, "%s() gives a tuple: pick one piece first, as [0]" % _call_name(node.value))
        self.bool_rules(node)
        r = len(shape_of(base))
        if node.attr == "T":
            if r > 2:
                raise err(node, ".T needs a tensor of at most 2 dimensions, got %d" % r)
            return T(base)
        if r < 2:
            raise err(node, "tensor.mT is only supported on matrices or batches of matrices, got a "
                            "%d-D tensor" % r)
        return TransposeOp(base, Integer(r - 2), Integer(r - 1))

    def access_kind(self, node, value):
        """The kind of a subscript or attribute: a view keeps its base's; a piece has its own."""
        base = node.value
        if self.kind(base) == "tuple" or isinstance(value, tuple):
            return _dtype_kind(value)
        return self.kind(base) if self.kind(base) in ("bool", "long") else "tensor"


def _dtype_kind(e):
    if isinstance(e, tuple):
        return "tuple"
    return {"long": "long", "bool": "bool"}.get(value_dtype(e), "tensor")


def _call_name(node):
    if isinstance(node, ast.Call):
        return call_parts(node)[0]
    return "this expression"


def kind_of_value(e):
    """'tuple', 'long', 'bool' or 'tensor' for a built value."""
    return _dtype_kind(e)
