"""The shape of every AST node of a spec text, as the autograd walker needs it.

Building the SymPy expression of a text is what costs; `shapes_of` builds each distinct
text structure once (names standing for their shapes), so a chain of nodes made from a
few templates is built a few times, not once per node.  `Recorder` is the SymPy builder
that remembers what it built for each AST node (``symgrad.autograd.recorded`` asks it
for the pieces of a split and the op a call became).
"""
import ast

from ..errors import SpecError
from ..spec.expr import Builder
from ..tensor import shape_of


_SHAPES = {}            # the structure of a node's text (names as their shapes) -> its shapes


def shapes_of(body, env):
    """id(AST node) -> shape of what it computes, for every node of one text.

    Building the SymPy expression of a text is what costs; texts that differ only in
    names of the same shapes (a chain built from a few templates) are built once: the
    shapes are kept by the text's structure, in the order `ast.walk` visits it.
    """
    key = _structure(body, env)
    order = list(ast.walk(body))
    have = _SHAPES.get(key)
    if have is None:
        rec = Recorder(env)
        try:
            rec.build(body)
        except SpecError:
            pass
        have = []
        for k, node in enumerate(order):
            e = rec.seen.get(id(node))
            if e is not None:
                try:
                    have.append((k, tuple(shape_of(e))))
                except Exception:
                    pass
        if len(_SHAPES) > 10_000:
            _SHAPES.clear()
        _SHAPES[key] = have
    return {id(order[k]): shape for k, shape in have}


def _structure(node, env):
    """A hashable picture of an AST in which a name stands for what it is: a tensor by its
    class, shape and domain, a dim by itself, anything else (a function, pi) by its text."""
    if isinstance(node, list):
        return tuple(_structure(v, env) for v in node)
    if not isinstance(node, ast.AST):
        return (type(node).__name__, node)
    out = [type(node).__name__]
    for name, value in ast.iter_fields(node):
        if name == "ctx":
            continue
        if isinstance(node, ast.Name) and name == "id":
            v = env.get(value)
            value = (type(v).__name__, v.tshape, v.domain) if hasattr(v, "tshape") else \
                (value if v is None else v)
        out.append(_structure(value, env))
    return tuple(out)


class Recorder(Builder):
    """The SymPy builder, remembering the expression (hence the shape) of every tensor node."""

    def __init__(self, env):
        super().__init__(env)
        self.seen = {}

    def build(self, node, depth=0):
        out = super().build(node, depth)
        self.seen[id(node)] = out
        return out
