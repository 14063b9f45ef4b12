"""Names for the spec: inputs after parameters' qualified names, nodes after modules and variables.

`Names` hands out identifiers that are valid in the spec (not reserved, not ``grad_...``,
no clash with an earlier name): the first request for ``relu`` gets ``relu``, the next
``relu_2``.  `node_name` picks, for one graph node, the most telling name available, in
this order (a person's choice first, then the code's structure):

1. the variable the traced function itself assigns it to (``h = ...``, ``logits = ...``),
   if that name is still free -- a reassigned ``x`` does not shadow the input ``x``;
2. the module whose call it is the result of (``fc1``, ``blocks.0`` -> ``blocks_0``);
3. for a returned value: ``loss`` (``out`` when it is not a scalar);
4. a variable assigned deeper in the code (``h`` inside a block: ``h``, ``h_2``...);
5. the variable of the traced function's statement that computes it (the earlier turns
   of a loop ``x = x + f(x)``: ``x_2``, ``x_3``);
6. the op (``add``, ``gelu``).
"""
import keyword
import re

RESERVED = {"pi", "True", "False", "None"}


def sanitize(text, prefix="t"):
    """Any text -> a spec identifier: ``fc1.weight`` -> ``fc1_weight``; ``0.weight`` (in an
    nn.Sequential ``net``) -> ``net_0_weight`` with ``prefix="net"``."""
    s = re.sub(r"\W+", "_", str(text)).strip("_") or prefix
    if s[0].isdigit():
        s = "%s_%s" % (prefix, s)
    if keyword.iskeyword(s) or s in RESERVED or s.startswith("__"):
        s = s.lstrip("_") + "_"
    if s.startswith("grad_"):
        s = "g" + s[5:] if len(s) > 5 else "g_"
    return s


class Names:
    """Unique identifiers, handed out in order."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def free(self, base):
        return sanitize(base) not in self.taken

    def take(self, base, prefix="t"):
        base = sanitize(base, prefix)
        name, k = base, 2
        while name in self.taken:
            name = "%s_%d" % (base, k)
            k += 1
        self.taken.add(name)
        return name


def node_name(names, top_var=None, module=None, output=None, deep_var=None, statement_var=None, op="t",
              prefix="t"):
    """The best free name for one node (see the module docstring for the order)."""
    if top_var and names.free(top_var):
        return names.take(top_var)
    for base in (module, output, deep_var, top_var, statement_var):
        if base:
            return names.take(base, prefix)
    return names.take(op)
