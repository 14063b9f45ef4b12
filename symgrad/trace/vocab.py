"""PyTorch's vocabulary: each ATen op of an exported graph -> its spelling in the spec language.

One rule per op (keyed by the ATen name without overload: ``linear``, ``add``, ``sum``), in
the style of HIPS autograd's ``defvjp`` table: a rule reads the call's arguments by
PyTorch's own argument names (`Call.a`, bound from the op's schema with its defaults) and
returns the spec text as an `Expr`.  The spec keeps PyTorch's names and signatures
(``linear(x, fc1_weight, fc1_bias)``, ``layer_norm(x, (C,), w, b, eps=1e-05)``,
``cross_entropy(z, y)``), leaves out arguments equal to their defaults, and never writes a
layer as its decomposition.  An op with no rule, or an argument value a rule cannot say
(dropout in training mode, ``rounding_mode``...), raises `Unsupported` naming it.

A rule may return:
- an `Expr` (most ops);
- `SAME`: the op is the identity on values (``clone``, ``dropout`` in eval mode, a float
  to float ``.to``), so the argument's own text stands for it;
- a `Multi`: an op returning several tensors (``split``, ``max(x, dim)``), whose
  ``operator.getitem`` users are spelled by ``Multi.item``.
"""
from dataclasses import dataclass
from typing import Callable

from .expr import Expr, OMIT, attr, binop, call, keep, literal, neg

RULES = {}
REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}
INT64_MAX = 2 ** 63 - 1
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


def _dims(d):
    """A reduction's dim list as PyTorch users write it: ``1``, ``(0, 1)``, or `OMIT` for all."""
    if d is None or d == [] or d == ():
        return OMIT
    d = list(d) if isinstance(d, (list, tuple)) else [d]
    return d[0] if len(d) == 1 else tuple(d)


def _reduction(r):
    return keep(REDUCTIONS.get(r, r) if isinstance(r, int) else r, "mean")


def _tensors(c, name):
    return [literal(t) for t in c.a[name]]


# --- elementwise ------------------------------------------------------------------------
SAME_NAME = ("exp log log1p expm1 sqrt rsqrt abs sin cos tan tanh sigmoid relu silu sign erf square sinh cosh "
             "asin acos atan log2 log10 exp2 reciprocal lgamma digamma mish selu relu6").split()


def _unary(c):
    return call(c.op, c.a["self"])


for _n in SAME_NAME:
    RULES[_n] = _unary


@rule("log_sigmoid")
def _logsigmoid(c):
    return call("logsigmoid", c.a["self"])


@rule("gelu")
def _gelu(c):
    return call("gelu", c.a["self"], approximate=keep(c.a["approximate"], "none"))


@rule("leaky_relu")
def _leaky_relu(c):
    return call("leaky_relu", c.a["self"], negative_slope=keep(c.a["negative_slope"], 0.01))


@rule("softplus")
def _softplus(c):
    return call("softplus", c.a["self"], beta=keep(c.a["beta"], 1), threshold=keep(c.a["threshold"], 20))


@rule("elu")
def _elu(c):
    if c.a["scale"] != 1 or c.a["input_scale"] != 1:
        raise Unsupported("elu with scale or input_scale is not in the spec language")
    return call("elu", c.a["self"], alpha=keep(float(c.a["alpha"]), 1.0))


@rule("celu")
def _celu(c):
    return call("celu", c.a["self"], alpha=keep(float(c.a["alpha"]), 1.0))


@rule("hardtanh")
def _hardtanh(c):
    lo, hi = float(c.a["min_val"]), float(c.a["max_val"])
    if (lo, hi) == (0.0, 6.0):
        return call("relu6", c.a["self"])
    return call("hardtanh", c.a["self"], min_val=keep(lo, -1.0), max_val=keep(hi, 1.0))


@rule("clamp", "clip")
def _clamp(c):
    return call("clamp", c.a["self"], min=keep(c.a.get("min"), None), max=keep(c.a.get("max"), None))


@rule("clamp_min")
def _clamp_min(c):
    return call("clamp", c.a["self"], min=c.a["min"])


@rule("clamp_max")
def _clamp_max(c):
    return call("clamp", c.a["self"], max=c.a["max"])


@rule("maximum", "minimum", "atan2", "logaddexp", "xlogy", "heaviside")
def _binary_fn(c):
    second = "values" if c.op == "heaviside" else "other"
    return call(c.op, c.a["self"], c.a[second])


@rule("where")
def _where(c):
    return call("where", c.a["condition"], c.a["self"], c.a["other"])


@rule("masked_fill")
def _masked_fill(c):
    return call("where", c.a["mask"], c.a["value"], c.a["self"])


# --- arithmetic ---------------------------------------------------------------------------
def _scaled(alpha, x):
    return x if alpha == 1 else binop(alpha, "*", x)


@rule("add")
def _add(c):
    x, y, alpha = c.a["self"], c.a["other"], c.a.get("alpha", 1)
    if not isinstance(y, Expr) and y == 0 and tuple(c.val("self").shape) == tuple(c.out.shape) \
            and c.val("self").dtype == c.out.dtype:
        return SAME                     # Python's sum() starts from 0: `0 + t` is t
    return binop(x, "+", _scaled(alpha, y))


@rule("sub")
def _sub(c):
    return binop(c.a["self"], "-", _scaled(c.a.get("alpha", 1), c.a["other"]))


@rule("rsub")
def _rsub(c):
    return binop(c.a["other"], "-", _scaled(c.a.get("alpha", 1), c.a["self"]))


@rule("mul")
def _mul(c):
    x, y = c.a["self"], c.a["other"]
    if _is_number(y) and not _is_number(x):
        x, y = y, x                     # 0.0001*reg, as people write it
    return binop(x, "*", y)


def _is_number(v):
    if isinstance(v, Expr):
        try:
            float(v.text)
        except ValueError:
            return False
    return not isinstance(v, (list, tuple, str))


@rule("div", "true_divide")
def _div(c):
    if c.a.get("rounding_mode") is not None:
        raise Unsupported("division with rounding_mode=%r is not in the spec language" % c.a["rounding_mode"])
    return binop(c.a["self"], "/", c.a["other"])


@rule("pow", "float_power")
def _pow(c):
    return binop(c.a["self"], "**", c.a["exponent"])


@rule("neg")
def _neg(c):
    return neg(c.a["self"])


@rule("positive", "clone", "alias", "lift_fresh_copy", "contiguous", "view_as_real_copy")
def _identity(c):
    return SAME


@rule("gt", "lt", "ge", "le")
def _compare(c):
    return binop(c.a["self"], {"gt": ">", "lt": "<", "ge": ">=", "le": "<="}[c.op], c.a["other"])


@rule("matmul", "mm", "bmm")
def _matmul(c):
    other = "mat2" if c.op in ("mm", "bmm") else "other"
    return binop(c.a["self"], "@", c.a[other])


@rule("addmm")
def _addmm(c):
    prod = _scaled(c.a["alpha"], binop(c.a["mat1"], "@", c.a["mat2"]))
    return binop(_scaled(c.a["beta"], c.a["self"]), "+", prod)


# --- reductions -----------------------------------------------------------------------------
@rule("sum", "mean", "prod", "amax", "amin")
def _reduce(c):
    dim = _dims(c.a.get("dim"))
    keepdim = keep(c.a.get("keepdim", False), False)
    if dim is OMIT and keepdim is not OMIT:
        dim = tuple(range(c.rank()))
    return call(c.op, c.a["self"], dim=dim, keepdim=keepdim)


@rule("var", "std")
def _var(c):
    corr = c.a.get("correction")
    if "unbiased" in c.a:
        corr = 1 if c.a["unbiased"] else 0
    return call(c.op, c.a["self"], dim=_dims(c.a.get("dim")), correction=keep(1 if corr is None else corr, 1),
                keepdim=keep(c.a.get("keepdim", False), False))


@rule("max", "min")
def _max(c):
    if "other" in c.a:
        return call("maximum" if c.op == "max" else "minimum", c.a["self"], c.a["other"])
    if "dim" not in c.a:
        return call(c.op, c.a["self"])
    text = call(c.op, c.a["self"], c.a["dim"], keepdim=keep(c.a["keepdim"], False))

    def item(i, val):
        if i != 0:
            raise Unsupported("the indices of %s(x, dim) (an argmax) are not in the spec language" % c.op)
        return text
    return Multi(item)


@rule("cumsum")
def _cumsum(c):
    return call("cumsum", c.a["self"], c.a["dim"])


@rule("logsumexp")
def _logsumexp(c):
    return call("logsumexp", c.a["self"], _dims(c.a["dim"]), keepdim=keep(c.a["keepdim"], False))


@rule("softmax", "_softmax", "log_softmax", "_log_softmax")
def _softmax(c):
    return call(c.op.lstrip("_"), c.a["self"], dim=c.a["dim"])


@rule("linalg_vector_norm", "norm", "linalg_norm", "frobenius_norm")
def _norm(c):
    p = c.a.get("ord", c.a.get("p", 2))
    p = 2 if p is None else p
    dim = _dims(c.a.get("dim"))
    keepdim = c.a.get("keepdim", False)
    x = c.a["self"]
    if dim is OMIT and not keepdim and p == 2:
        return call("norm", x)
    if p == 2:
        return call("sqrt", call("sum", binop(x, "**", 2), dim=dim, keepdim=keep(keepdim, False)))
    if p == 1:
        return call("sum", call("abs", x), dim=dim, keepdim=keep(keepdim, False))
    raise Unsupported("norm with ord=%r is not in the spec language (2 and 1 are)" % (p,))


# --- linear algebra -------------------------------------------------------------------------
def _fn(name, *params):
    def f(c):
        return call(name, *[c.a[p] for p in params])
    return f


for _aten, _name, _params in [
        ("trace", "trace", ("self",)), ("det", "det", ("self",)), ("linalg_det", "det", ("A",)),
        ("logdet", "logdet", ("self",)), ("inverse", "inverse", ("self",)), ("linalg_inv", "inverse", ("A",)),
        ("outer", "outer", ("self", "vec2")), ("ger", "outer", ("self", "vec2")),
        ("dot", "dot", ("self", "tensor")), ("linalg_solve", "solve", ("A", "B")),
        ("matrix_exp", "matrix_exp", ("self",)), ("linalg_matrix_exp", "matrix_exp", ("self",)),
        ("kron", "kron", ("self", "other")), ("linalg_eigvalsh", "eigvalsh", ("self",)),
        ("matrix_power", "matrix_power", ("self", "n")), ("linalg_matrix_power", "matrix_power", ("self", "n")),
        ("linalg_pinv", "pinv", ("self",)), ("pinverse", "pinv", ("self",))]:
    RULES[_aten] = _fn(_name, *_params)


@rule("cholesky", "linalg_cholesky")
def _cholesky(c):
    if c.a.get("upper"):
        raise Unsupported("cholesky with upper=True is not in the spec language")
    return call("cholesky", c.a["self"])


@rule("linalg_slogdet", "slogdet")
def _slogdet(c):
    x = c.a.get("A", c.a.get("self"))

    def item(i, val):
        if i != 1:
            raise Unsupported("the sign of slogdet is not in the spec language (its log-abs-det is)")
        return call("slogdet", x)
    return Multi(item)


@rule("diag", "triu", "tril")
def _diag(c):
    return call(c.op, c.a["self"], c.a["diagonal"]) if c.a["diagonal"] else call(c.op, c.a["self"])


@rule("diagonal")
def _diagonal(c):
    return call("diagonal", c.a["self"], offset=keep(c.a["offset"], 0), dim1=keep(c.a["dim1"], 0),
                dim2=keep(c.a["dim2"], 1))


@rule("linalg_cross", "cross")
def _cross(c):
    return call("cross", c.a["self"], c.a["other"], dim=keep(c.a.get("dim"), None))


@rule("cdist")
def _cdist(c):
    return call("cdist", c.a["x1"], c.a["x2"], p=keep(float(c.a["p"]), 2.0))


@rule("einsum")
def _einsum(c):
    return call("einsum", c.a["equation"], *_tensors(c, "tensors"))


@rule("t", "numpy_T", "mT")
def _t(c):
    r = c.rank()
    if r < 2:
        return SAME
    if r == 2:
        return attr(c.a["self"], ".T")
    if c.op == "mT":
        return call("transpose", c.a["self"], -2, -1)
    return call("permute", c.a["self"], tuple(reversed(range(r))))


@rule("transpose")
def _transpose(c):
    return call("transpose", c.a["self"], c.a["dim0"], c.a["dim1"])


@rule("permute")
def _permute(c):
    dims = tuple(d % c.rank() for d in c.a["dims"])
    if dims == (1, 0):
        return attr(c.a["self"], ".T")
    return call("permute", c.a["self"], dims)


@rule("movedim")
def _movedim(c):
    return call("movedim", c.a["self"], c.a["source"], c.a["destination"])


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
    return call("expand", c.a["self"], c.shape())


@rule("cat", "concat", "concatenate", "stack")
def _cat(c):
    name = "stack" if c.op == "stack" else "cat"
    return call(name, tuple(_tensors(c, "tensors")), dim=keep(c.a["dim"], 0))


@rule("narrow")
def _narrow(c):
    return call("narrow", c.a["self"], c.a["dim"], c.a["start"], c.a["length"])


@rule("flip")
def _flip(c):
    return call("flip", c.a["self"], tuple(c.a["dims"]))


@rule("repeat")
def _repeat(c):
    return call("repeat", c.a["self"], tuple(c.a["repeats"]))


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
    parts = _tensors(c, "tensors")
    vals = [t.meta.get("val") for t in c.raw["tensors"]]

    def item(i, val):
        if tuple(vals[i].shape) == tuple(val.shape):
            return parts[i]
        return call("expand", parts[i], tuple(int(d) for d in val.shape))
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


# --- layers and losses ----------------------------------------------------------------------------
def _optional(*pairs):
    """Positional tensors up to the first missing one, then keywords: layer_norm(x, s, w, bias=b)."""
    pos, kw, gap = [], {}, False
    for name, v in pairs:
        if v is None:
            gap = True
        elif gap:
            kw[name] = v
        else:
            pos.append(v)
    return pos, kw


@rule("linear")
def _linear(c):
    pos, kw = _optional(("weight", c.a["weight"]), ("bias", c.a["bias"]))
    return call("linear", c.a["input"], *pos, **kw)


@rule("layer_norm")
def _layer_norm(c):
    pos, kw = _optional(("weight", c.a["weight"]), ("bias", c.a["bias"]))
    return call("layer_norm", c.a["input"], tuple(c.a["normalized_shape"]), *pos, **kw, eps=c.a["eps"])


@rule("rms_norm")
def _rms_norm(c):
    pos, kw = _optional(("weight", c.a["weight"]))
    return call("rms_norm", c.a["input"], tuple(c.a["normalized_shape"]), *pos, **kw,
                eps=keep(c.a["eps"], None))


@rule("batch_norm")
def _batch_norm(c):
    return call("batch_norm", c.a["input"], c.a["running_mean"], c.a["running_var"], c.a["weight"], c.a["bias"],
                training=c.a["training"], momentum=keep(c.a["momentum"], 0.1), eps=keep(c.a["eps"], 1e-05))


@rule("dropout", "feature_dropout", "alpha_dropout")
def _dropout(c):
    if c.a["train"] and c.a["p"] > 0:
        raise Unsupported("%s in training mode is random and not in the spec language: call .eval() on "
                          "the model (or pass training=False)" % c.op)
    return SAME


@rule("scaled_dot_product_attention")
def _sdpa(c):
    if c.a["dropout_p"]:
        raise Unsupported("scaled_dot_product_attention with dropout_p > 0 is random and not in the spec language")
    if c.a.get("enable_gqa"):
        raise Unsupported("scaled_dot_product_attention with enable_gqa is not in the spec language")
    return call("scaled_dot_product_attention", c.a["query"], c.a["key"], c.a["value"],
                attn_mask=keep(c.a["attn_mask"], None), is_causal=keep(c.a["is_causal"], False),
                scale=keep(c.a["scale"], None))


@rule("cosine_similarity")
def _cosine_similarity(c):
    return call("cosine_similarity", c.a["x1"], c.a["x2"], dim=keep(c.a["dim"], 1), eps=keep(c.a["eps"], 1e-08))


def _loss(name, *extra):
    """A loss ``name(input, target, ..., reduction=...)`` with optional keyword arguments."""
    def f(c):
        first = c.a.get("self", c.a.get("input"))
        kw = {k: keep(c.a.get(k, d), d) for k, d in extra}
        return call(name, first, c.a["target"], **kw, reduction=_reduction(c.a.get("reduction", 1)))
    return f


RULES["mse_loss"] = _loss("mse_loss")
RULES["l1_loss"] = _loss("l1_loss")
RULES["smooth_l1_loss"] = _loss("smooth_l1_loss", ("beta", 1.0))
RULES["huber_loss"] = _loss("huber_loss", ("delta", 1.0))
RULES["kl_div"] = _loss("kl_div", ("log_target", False))
RULES["binary_cross_entropy"] = _loss("binary_cross_entropy", ("weight", None))
RULES["binary_cross_entropy_with_logits"] = _loss("binary_cross_entropy_with_logits", ("weight", None),
                                                  ("pos_weight", None))
RULES["cross_entropy_loss"] = _loss("cross_entropy", ("weight", None), ("ignore_index", -100),
                                    ("label_smoothing", 0.0))
RULES["nll_loss"] = RULES["nll_loss_nd"] = RULES["nll_loss2d"] = _loss("nll_loss", ("weight", None),
                                                                       ("ignore_index", -100))


@rule("poisson_nll_loss")
def _poisson(c):
    return call("poisson_nll_loss", c.a["input"], c.a["target"], log_input=keep(c.a["log_input"], True),
                full=keep(c.a["full"], False), eps=keep(c.a["eps"], 1e-08), reduction=_reduction(c.a["reduction"]))
