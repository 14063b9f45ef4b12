"""What an ATen op's use of a data input tells about it: the class count of an integer
target (``high``), the (0, 1) domain of ``binary_cross_entropy``'s arguments."""
from .core import op_name


def from_use(d, ph, u):
    """Fill in ``d``'s high or domain from one use ``u`` of its placeholder ``ph``."""
    op = op_name(u.target) if u.op == "call_function" else None
    args = list(u.args)

    def arg(i, key):
        return args[i] if len(args) > i else u.kwargs.get(key)

    def size(node, dim):
        return int(node.meta["val"].shape[dim])
    if op in ("cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d") and arg(1, "target") is ph:
        logits = arg(0, "self")
        rank = len(logits.meta["val"].shape)
        if d.dtype == "long" and d.high is None:
            d.high = size(logits, 1 if rank > 1 else 0)
    elif op == "binary_cross_entropy" and d.dtype == "float" and ph in (arg(0, "self"), arg(1, "target")):
        d.domain = d.domain or "unit"
    elif d.dtype == "long" and d.high is None:
        if op == "one_hot":
            d.high = int(u.meta["val"].shape[-1])
        elif op == "embedding" and arg(1, "indices") is ph:
            d.high = size(arg(0, "weight"), 0)
        elif op in ("gather", "index_select") and arg(2, "index") is ph:
            d.high = size(arg(0, "self"), arg(1, "dim"))
        elif op == "index" and ph in (arg(1, "indices") or []):
            d.high = size(arg(0, "self"), list(arg(1, "indices")).index(ph))
