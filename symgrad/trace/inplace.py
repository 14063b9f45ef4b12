"""In-place ops (``relu_``, ``h += x``): when their out-of-place spelling is exact.

A spec has no mutation: ``h.relu_()`` is written ``relu(h)`` and later uses read the new
node.  That is exactly what PyTorch computes when nothing reads the overwritten value
afterwards -- neither the tensor itself nor a view sharing its memory (a ``view``,
``select`` or transpose of it, or the tensor it is a view of).  `check_inplace` refuses the
other cases at the user's line.  The remaining risk, an op that overwrites a value autograd
saved for its backward, is settled by running PyTorch itself (`capture.backward_runs`).
"""
from .vocab import Unsupported, describe, is_inplace, is_view, op_name


def inplace_ops(graph):
    """The call nodes that write into their first argument, in graph order."""
    return [n for n in graph.nodes if n.op == "call_function" and hasattr(n.target, "_schema")
            and is_inplace(n.target._schema)]


def check_inplace(node, live):
    """Refuse an in-place op whose overwritten value is read afterwards by what the losses
    depend on (the out-of-place spelling would give those readers the old value)."""
    target = node.args[0]
    if target.op == "placeholder":
        base = target
    else:
        base = target
        while base.op == "call_function" and is_view(base.target):
            base = base.args[0]
    family = _views_of(base)
    order = {n: i for i, n in enumerate(node.graph.nodes)}
    for alias in family:
        for u in alias.users:
            if u is not node and order[u] > order[node] and u not in family and u in live:
                raise Unsupported("%s overwrites a tensor that is used again afterwards: write it out of place "
                                  "(h = %s(h) rather than %s(h))" % (describe(node.target), op_name(node.target)
                                                                      .rstrip("_"), op_name(node.target)))


def _views_of(base):
    """``base`` and every view of it (views of views too)."""
    out, stack = set(), [base]
    while stack:
        n = stack.pop()
        if n in out:
            continue
        out.add(n)
        stack.extend(u for u in n.users if u.op == "call_function" and is_view(u.target) and u.args[0] is n)
    return out


