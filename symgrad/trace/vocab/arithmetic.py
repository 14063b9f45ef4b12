"""Rules for elementwise functions, arithmetic, reductions and linear algebra."""
from ..expr import Expr, OMIT, attr, binop, call, keep, neg
from .core import RULES, Multi, SAME, Unsupported, dims_arg, op_name, rule, tensors_arg

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
    beta, threshold = c.a["beta"], c.a["threshold"]
    if beta == 1 and threshold == 20:
        return call("softplus", c.a["self"])
    if threshold != 20 * beta and threshold != 20:
        raise Unsupported("softplus with threshold=%r is not in the spec language" % (threshold,))
    # softplus(x, beta) = softplus(beta*x)/beta, linear past the same beta*x > 20
    return binop(call("softplus", binop(beta, "*", c.a["self"])), "/", beta)


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
    whole = _normalize(c)
    return whole if whole is not None else binop(c.a["self"], "/", c.a["other"])


def _normalize(c):
    """F.normalize(x, p, dim, eps), which PyTorch runs as ``x / x.norm(p, dim, keepdim=True)
    .clamp_min(eps).expand_as(x)``: spelled as the one call it was."""
    x, node = c.raw.get("self"), c.raw.get("other")
    steps = []
    for op in ("expand", "clamp_min", "linalg_vector_norm"):
        if not hasattr(node, "target") or op_name(node.target) not in (op, op + "_as") or not node.args:
            return None
        steps.append(node)
        node = node.args[0]
    norm, clamp = steps[2], steps[1]
    if node is not x or len(norm.args) < 4 or not norm.args[3]:
        return None
    p, dims = norm.args[1], norm.args[2]
    if not isinstance(dims, (list, tuple)) or len(dims) != 1 or not isinstance(clamp.args[1], (int, float)):
        return None
    return call("normalize", c.a["self"], p=keep(float(p), 2.0), dim=keep(dims[0], 1),
                eps=keep(float(clamp.args[1]), 1e-12))


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
    dim = dims_arg(c.a.get("dim"))
    keepdim = keep(c.a.get("keepdim", False), False)
    if dim is OMIT and keepdim is not OMIT:
        dim = tuple(range(c.rank()))
    return call(c.op, c.a["self"], dim=dim, keepdim=keepdim)


@rule("var", "std")
def _var(c):
    corr = c.a.get("correction")
    if "unbiased" in c.a:
        corr = 1 if c.a["unbiased"] else 0
    return call(c.op, c.a["self"], dim=dims_arg(c.a.get("dim")), correction=keep(1 if corr is None else corr, 1),
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


@rule("count_nonzero")
def _count_nonzero(c):
    return call("count_nonzero", c.a["self"], dim=dims_arg(c.a.get("dim")))


@rule("polygamma")
def _polygamma(c):
    return call("polygamma", c.a["n"], c.a["self"])


@rule("cumsum")
def _cumsum(c):
    return call("cumsum", c.a["self"], c.a["dim"])


@rule("logsumexp")
def _logsumexp(c):
    return call("logsumexp", c.a["self"], dims_arg(c.a["dim"]), keepdim=keep(c.a["keepdim"], False))


@rule("softmax", "_softmax", "log_softmax", "_log_softmax")
def _softmax(c):
    return call(c.op.lstrip("_"), c.a["self"], dim=c.a["dim"])


@rule("linalg_vector_norm", "norm", "linalg_norm", "frobenius_norm")
def _norm(c):
    p = c.a.get("ord", c.a.get("p", 2))
    p = 2 if p is None else p
    if isinstance(p, str) or not p >= 1 or p == float("inf"):
        raise Unsupported("norm with ord=%r is not in the spec language (a p-norm with finite p >= 1 is)" % (p,))
    return call("norm", c.a["self"], p=keep(p, 2), dim=dims_arg(c.a.get("dim")),
                keepdim=keep(c.a.get("keepdim", False), False))


@rule("linalg_matrix_norm")
def _matrix_norm(c):
    if c.a["ord"] != "fro":
        raise Unsupported("matrix_norm with ord=%r is not in the spec language ('fro' is)" % (c.a["ord"],))
    return call("norm", c.a["self"], dim=dims_arg(c.a["dim"]), keepdim=keep(c.a["keepdim"], False))


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


@rule("linalg_eigh")
def _eigh(c):
    whole = call("eigh", c.a.get("A", c.a.get("self")), UPLO=keep(c.a["UPLO"], "L"))
    return Multi(lambda i, val: attr(whole, (".eigenvalues", ".eigenvectors")[i]))


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
    return call("einsum", c.a["equation"], *tensors_arg(c, "tensors"))


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
