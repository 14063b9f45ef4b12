"""What an ATen op's use of a data input tells about it: the class count of an integer
target (``high``), the (0, 1) domain of ``binary_cross_entropy``'s arguments."""
from .core import op_name

# ops that only move an integer tensor's entries: the uses of their result bound its values too
PASS_THROUGH = {"view", "reshape", "_unsafe_view", "unsqueeze", "squeeze", "flatten", "select", "slice", "expand",
                "t", "transpose", "permute", "clone", "contiguous", "alias"}


def highs(d, ph):
    """The class counts (``high``) the uses of ``ph`` (through views of it) imply; fills in
    ``d``'s domain on the way."""
    out, todo, seen = [], [ph], set()
    while todo:
        n = todo.pop()
        for u in n.users:
            if u in seen:
                continue
            seen.add(u)
            if u.op == "call_function" and op_name(u.target) in PASS_THROUGH and u.args and u.args[0] is n:
                todo.append(u)
            else:
                h = from_use(d, n, u)
                if h is not None:
                    out.append(h)
    return out


def from_use(d, ph, u):
    """The ``high`` one use ``u`` of ``ph`` implies (or None); fills in ``d``'s domain."""
    op = op_name(u.target) if u.op == "call_function" else None
    args = list(u.args)

    def arg(i, key):
        return args[i] if len(args) > i else u.kwargs.get(key)

    def size(node, dim):
        return int(node.meta["val"].shape[dim])
    if op in ("cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d") and arg(1, "target") is ph:
        logits = arg(0, "self")
        rank = len(logits.meta["val"].shape)
        if d.dtype == "long":
            return size(logits, 1 if rank > 1 else 0)
    elif op == "binary_cross_entropy" and d.dtype == "float" and ph in (arg(0, "self"), arg(1, "target")):
        d.domain = d.domain or "unit"
    elif d.dtype == "long":
        if op == "one_hot":
            return int(u.meta["val"].shape[-1])
        if op == "embedding" and arg(1, "indices") is ph:
            return size(arg(0, "weight"), 0)
        if op in ("gather", "index_select", "index_add", "scatter_add") and arg(2, "index") is ph:
            return size(arg(0, "self"), arg(1, "dim"))
        if op == "index" and ph in (arg(1, "indices") or []):
            return size(arg(0, "self"), list(arg(1, "indices")).index(ph))
    return None
