"""Rules for shapes, indexing, constants and dtype conversions."""
from ..expr import OMIT, attr, binop, call, keep, literal, method
from .core import Multi, SAME, Unsupported, describe, rule, tensors_arg

# --- shape ------------------------------------------------------------------------------------
@rule("view", "reshape", "_unsafe_view", "unflatten", "view_as", "reshape_as")
def _reshape(c):
    size = c.a.get("size", c.a.get("shape"))
    if not isinstance(size, (list, tuple)):
        size = c.shape()
    return call("reshape", c.a["self"], tuple(size))


@rule("flatten")
def _flatten(c):
    start, end = c.a["start_dim"], c.a["end_dim"]
    if end != -1:
        return call("flatten", c.a["self"], start, end)
    return call("flatten", c.a["self"], start) if start != 0 else call("flatten", c.a["self"])


@rule("unsqueeze")
def _unsqueeze(c):
    return call("unsqueeze", c.a["self"], c.a["dim"])


@rule("squeeze")
def _squeeze(c):
    dim = c.a.get("dim")
    if dim is None:
        return call("squeeze", c.a["self"])
    return call("squeeze", c.a["self"], tuple(dim) if isinstance(dim, (list, tuple)) and len(dim) > 1
                else dim[0] if isinstance(dim, (list, tuple)) else dim)


@rule("expand", "expand_as", "broadcast_to")
def _expand(c):
    return method(c.a["self"], "expand", *c.shape())


@rule("cat", "concat", "concatenate", "stack")
def _cat(c):
    name = "stack" if c.op == "stack" else "cat"
    return call(name, tuple(tensors_arg(c, "tensors")), dim=keep(c.a["dim"], 0))


@rule("pad", "constant_pad_nd")
def _pad(c):
    mode = c.a.get("mode", "constant")
    if mode != "constant":
        raise Unsupported("pad with mode=%r is not in the spec language (mode='constant' is)" % mode)
    value = c.a.get("value")
    return call("pad", c.a["self"], tuple(c.a["pad"]), value=keep(value, None) if value else OMIT)


@rule("narrow")
def _narrow(c):
    return call("narrow", c.a["self"], c.a["dim"], c.a["start"], c.a["length"])


@rule("flip")
def _flip(c):
    return call("flip", c.a["self"], tuple(c.a["dims"]))


@rule("repeat")
def _repeat(c):
    return method(c.a["self"], "repeat", *c.a["repeats"])


@rule("split", "split_with_sizes", "chunk", "unbind")
def _split(c):
    x, dim = c.a["self"], c.a.get("dim", 0)
    if c.op == "unbind":
        return Multi(lambda i, val: _subscript(x, dim % c.rank(), str(i)))
    if c.op == "chunk":
        whole = call("chunk", x, c.a["chunks"], dim=keep(dim, 0))
    else:
        size = c.a.get("split_size", c.a.get("split_sizes"))
        whole = call("split", x, tuple(size) if isinstance(size, (list, tuple)) else size, dim=keep(dim, 0))
    return Multi(lambda i, val: attr(whole, "[%d]" % i))


@rule("broadcast_tensors")
def _broadcast_tensors(c):
    parts = tensors_arg(c, "tensors")
    vals = [t.meta.get("val") for t in c.raw["tensors"]]

    def item(i, val):
        if tuple(vals[i].shape) == tuple(val.shape):
            return parts[i]
        return method(parts[i], "expand", *(int(d) for d in val.shape))
    return Multi(item)


# --- indexing -----------------------------------------------------------------------------------
def _subscript(x, dim, index):
    return attr(x, "[%s]" % ", ".join([":"] * dim + [index]))


@rule("select")
def _select(c):
    return _subscript(c.a["self"], c.a["dim"] % c.rank(), str(c.a["index"]))


@rule("slice")
def _slice(c):
    dim = c.a["dim"] % c.rank()
    size = int(c.val("self").shape[dim])
    start, end, step = c.a["start"], c.a["end"], c.a["step"]
    if start in (None, 0) and (end is None or end >= size) and step == 1:
        return SAME                     # pos[:T] with T the whole length: pos itself
    text = "%s:%s" % ("" if start in (None, 0) else start, "" if end is None or end >= size else end)
    if step != 1:
        text += ":%d" % step
    return _subscript(c.a["self"], dim, text)


@rule("index")
def _index(c):
    parts = [":" if i is None else literal(i).text for i in c.a["indices"]]
    return attr(c.a["self"], "[%s]" % ", ".join(parts))


@rule("gather")
def _gather(c):
    return call("gather", c.a["self"], c.a["dim"], c.a["index"])


@rule("index_select")
def _index_select(c):
    return call("index_select", c.a["self"], c.a["dim"], c.a["index"])


@rule("index_add", "scatter_add")
def _scatter_add(c):
    src = "source" if c.op == "index_add" else "src"
    if c.a.get("alpha", 1) != 1:
        raise Unsupported("index_add with alpha is not in the spec language")
    return call(c.op, c.a["self"], c.a["dim"], c.a["index"], c.a[src])


@rule("one_hot")
def _one_hot(c):
    return call("one_hot", c.a["self"], c.shape()[-1])


@rule("embedding")
def _embedding(c):
    if c.a["padding_idx"] not in (None, -1):
        raise Unsupported("an embedding with padding_idx is not in the spec language")
    return attr(c.a["weight"], "[%s]" % c.a["indices"].text)


# --- constants and conversions ----------------------------------------------------------------------
@rule("zeros", "ones", "new_zeros", "new_ones")
def _const(c):
    return call(c.op.replace("new_", ""), c.shape())


@rule("full", "new_full")
def _full(c):
    return call("full", c.shape(), c.a["fill_value"])


@rule("zeros_like", "ones_like")
def _like(c):
    return call(c.op, c.a["self"])


@rule("full_like")
def _full_like(c):
    return call("full", c.shape(), c.a["fill_value"])


@rule("scalar_tensor")
def _scalar_tensor(c):
    return literal(c.a["s"])


@rule("arange")
def _arange(c):
    start, end, step = c.a.get("start", 0), c.a["end"], c.a.get("step", 1)
    if not all(isinstance(v, int) for v in (start, end, step)):
        raise Unsupported("arange with non-integer bounds is not in the spec language")
    if step != 1:
        return call("arange", start, end, step)
    return call("arange", end) if start == 0 else call("arange", start, end)


@rule("eye")
def _eye(c):
    n, m = c.shape()
    if n != m:
        raise Unsupported("a non-square eye(n, m) is not in the spec language")
    return call("eye", n)


@rule("to", "_to_copy", "type_as")
def _to(c):
    src, dst = c.val("self").dtype, c.out.dtype
    if src == dst or src.is_floating_point and dst.is_floating_point:
        return SAME                     # a spec is dtype-generic: float to float changes nothing
    if dst.is_floating_point:
        return binop(1.0, "*", c.a["self"])    # bool/long -> float, as 1.0*(x > 0)
    raise Unsupported("a conversion from %s to %s is not in the spec language" % (src, dst))


@rule("detach")
def _detach(c):
    if not getattr(c.val("self"), "requires_grad", True):
        return SAME                     # nothing to stop: the value never required grad
    return call("detach", c.a["self"])


@rule("empty", "empty_like", "rand", "randn", "randint", "rand_like", "randn_like", "normal", "uniform", "bernoulli",
      "multinomial", "randperm")
def _fresh(c):
    raise Unsupported("%s makes a new random or uninitialized tensor while tracing: a spec has no randomness "
                      "(a model built inside the traced function? build it outside, at module level)"
                      % describe(c.target))
