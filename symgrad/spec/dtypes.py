"""Integer and boolean inputs (SPEC section 10): ``dtype: long`` with ``high: C``, ``dtype: bool``.

An input's ``dtype`` is ``float`` (the default: the working dtype of a check), ``long``
(class labels, token ids, indices: PyTorch's int64) or ``bool`` (masks).  A long input
needs ``high`` -- an int or a dim name -- and its values lie in ``[0, high)`` (drawn so in a
check, and a given ``value`` must lie there).  Neither kind ever requires grad (PyTorch:
"only Tensors of floating point dtype can require gradients"), and a value ``domain`` is a
float input's.  Each refusal is a located `SpecError`.
"""
from sympy import Integer

from .parse import suggest
from .yamlread import scalar, short as _short

DTYPES = ("float", "long", "bool")
MAX_HIGH = 10 ** 9


def read_dtype(ctx, fields, dims, name):
    """(dtype, high) of an input from its fields; high is an Integer, a dim Symbol or None."""
    dtype = "float"
    if "dtype" in fields:
        node = fields["dtype"][1]
        dtype = scalar(ctx, node)
        if dtype not in DTYPES:
            ctx.fail(node, "dtype of '%s' must be one of %s, got %s%s"
                     % (name, ", ".join(DTYPES), _short(repr(dtype)), suggest(str(dtype), DTYPES)))
    high = None
    if "high" in fields:
        node = fields["high"][1]
        if dtype != "long":
            ctx.fail(fields["high"][0], "'high' of '%s' is for dtype: long (the values lie in [0, high))" % name)
        v = scalar(ctx, node)
        if isinstance(v, str) and v in dims:
            high = dims[v][0]
        elif isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_HIGH:
            high = Integer(v)
        else:
            ctx.fail(node, "high of '%s' must be a positive integer or a declared dim, got %s%s"
                     % (name, _short(repr(v)), suggest(str(v), dims) if isinstance(v, str) else ""))
    elif dtype == "long":
        where = fields["dtype"][1]
        ctx.fail(where, "input '%s' has dtype long: give it 'high: C' (its values lie in [0, C); "
                        "C an integer or a dim name)" % name)
    if dtype != "float":
        rg = fields.get("requires_grad")
        if rg is not None and scalar(ctx, rg[1]) is True:
            ctx.fail(rg[1], "'%s' has dtype %s, which cannot require grad (PyTorch: only Tensors of "
                            "floating point dtype can require gradients)" % (name, dtype))
        if "domain" in fields:
            ctx.fail(fields["domain"][0], "'domain' is for float inputs; '%s' has dtype %s%s"
                     % (name, dtype, " (its values lie in [0, high))" if dtype == "long" else ""))
    return dtype, high


def high_value(high, dims):
    """The int value of ``high`` (None when it is a dim without a value)."""
    if high is None or high.is_Integer:
        return None if high is None else int(high)
    return dims[str(high)][1]


def entry_rule(dtype, high, name):
    """A check of one entry of a given ``value``: (python value, None) or (None, what is wrong)."""
    if dtype == "bool":
        def entry(x):
            if isinstance(x, bool):
                return x, None
            return None, "must be true or false (dtype bool), got %s" % _short(repr(x))
        return entry

    def entry(x):
        if isinstance(x, bool) or not isinstance(x, int):
            return None, "must be an integer (dtype long), got %s" % _short(repr(x))
        if x < 0 or (high is not None and x >= high):
            return None, "must lie in [0, %s) (the high of '%s'), got %d" % (
                "high" if high is None else high, name, x)
        return x, None
    return entry
