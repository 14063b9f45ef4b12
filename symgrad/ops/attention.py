"""Scaled dot-product attention: ``softmax(q k^T * scale + mask) v``, as one op.

`SdpaOp` is PyTorch's ``scaled_dot_product_attention`` (its value is PyTorch's function):
``scale`` defaults to ``1/sqrt(E)``; ``attn_mask`` is a bool mask (True attends) or a float
bias; ``is_causal`` attends to ``tril(ones(L, S))`` (top-left aligned); a row that attends
nowhere gives 0 (PyTorch's safe softmax), not NaN.  Its rule is the textbook one over the
attention weights ``P``: ``v`` receives ``P^T g``; the scores receive
``gS = P (g v^T - sum(g o, -1))`` (``o`` the output: ``sum(g v^T P, -1)`` is ``sum(g o, -1)``), so ``q`` receives ``gS k * scale`` and ``k``
receives ``gS^T q * scale``.  ``P`` is ``softmax(q @ k.mT*scale + mask, -1)`` when nothing is
masked out, else the attention of ``q`` and ``k`` over the identity (``v = eye(S)``),
which is ``P`` itself, safe rows included.

PyTorch records one fused node for 4-D inputs on the CPU (same batch dims, value head size
equal to the query's, a mask that does not require grad) and the math decomposition
otherwise: `_record_sdpa` predicts which.
"""
import sympy
from sympy import S, Integer
from sympy.printing.precedence import PRECEDENCE

from ..errors import ShapeError, SpecError
from ..tensor import shape_of, fmt_shape, broadcast
from .base import TensorOp, flag, rank
from .linalg import MatmulOp, T, matmul_chain
from .losses import num_text, number
from .reduce import SumOp, SoftmaxOp
from .registry import register, P, Param
from .kinds import value_dtype
from .shape import EyeOp, materialize

FUSED = "ScaledDotProductFlashAttentionForCpuBackward0"
NO_MASK, BOOL_MASK, FLOAT_MASK = Integer(0), Integer(1), Integer(2)


class SdpaOp(TensorOp):
    """args: q, k, v, the mask (only when there is one), then the mask kind, is_causal, the
    scale and whether the scale was given."""
    spec_name = "scaled_dot_product_attention"

    @property
    def n_tensors(self):
        return len(self.args) - 4

    @property
    def mask(self):
        return self.args[3] if len(self.args) == 8 else S.Zero

    @property
    def mask_kind(self):
        return self.args[-4]

    @property
    def causal(self):
        return bool(self.args[-3])

    @property
    def scale(self):
        return self.args[-2]

    def out_shape(self):
        q, k, v = (shape_of(a) for a in self.tensors[:3])
        return broadcast(q[:-2], k[:-2], v[:-2]) + (q[-2], v[-1])

    def scores(self):
        q, k = self.args[:2]
        s = MatmulOp(q, T(k)) * self.scale
        return s + self.mask if self.mask_kind == FLOAT_MASK else s

    def weights(self):
        """The attention weights P (..., L, S), each row summing to one (or zero if masked out)."""
        if self.causal or self.mask_kind == BOOL_MASK:
            q, k, v = self.args[:3]
            if isinstance(v, EyeOp):
                return self
            return SdpaOp(q, k, EyeOp(shape_of(k)[-2]), *self.args[3:])
        return SoftmaxOp(self.scores(), Integer(len(self.out_shape()) - 1))

    def grad_scores(self, g):
        """P (g v^T - rowsum(g v^T P)), with rowsum(g v^T P) = rowsum(g o), o the output itself."""
        gp = MatmulOp(g, T(self.args[2]))
        last = Integer(len(self.out_shape()) - 1)
        return self.weights() * (gp - SumOp(g * self, sympy.Tuple(last), flag(True)))

    def vjp(self, i, g):
        g = materialize(g, self.out_shape())
        if i == 2:
            return MatmulOp(T(self.weights()), g)
        gs = self.grad_scores(g)
        if i == 0:
            return MatmulOp(gs, self.args[1]) * self.scale
        if i == 1:
            return MatmulOp(T(gs), self.args[0]) * self.scale
        return gs                     # a float mask is added to the scores

    def text_kwargs(self, p):
        out = []
        if self.mask_kind != NO_MASK:
            out.append("attn_mask=%s" % p._print(self.mask))
        if self.causal:
            out.append("is_causal=True")
        if self.args[-1]:
            out.append("scale=%s" % (num_text(self.scale) if self.scale.is_Number else p._print(self.scale)))
        return out

    def text(self, p):
        parts = [p._print(a) for a in self.tensors[:3]] + self.text_kwargs(p)
        return "%s(%s)" % (self.spec_name, ", ".join(parts))

    def torch(self, p):
        parts = [p._print(a) for a in self.tensors[:3]] + self.text_kwargs(p)
        if self.mask_kind == BOOL_MASK:       # generated code may hold a 0/1 mask as numbers
            parts[3] = "attn_mask=(%s).bool()" % p._print(self.mask)
        return "torch.nn.functional.scaled_dot_product_attention(%s)" % ", ".join(parts)

    def weights_latex(self, p):
        s = p._print(self.scores())
        if self.causal:
            return r"\operatorname{softmax}_{\text{causal}}\left(%s\right)" % s
        if self.mask_kind == BOOL_MASK:
            return r"\operatorname{softmax}_{%s}\left(%s\right)" % (p._print(self.mask), s)
        return r"\operatorname{softmax}\left(%s\right)" % s

    def latex(self, p):
        v = self.args[2]
        if isinstance(v, EyeOp):
            return self.weights_latex(p)
        return r"%s %s" % (self.weights_latex(p), p.parenthesize(v, PRECEDENCE["Mul"]))

    def index(self, p, idx):
        j = p.fresh()
        v = self.args[2]
        out = list(idx)
        pidx = out[:-1] + [j]
        w = r"\left(%s\right)_{%s}" % (self.weights_latex(p), "".join(pidx))
        if isinstance(v, EyeOp):
            return r"\left(%s\right)_{%s}" % (self.weights_latex(p), "".join(out))
        vs = shape_of(v)
        batch = out[len(out) - len(vs):-2]
        vidx = ["1" if vs[a] == 1 else b for a, b in enumerate(batch)] + [j, out[-1]]
        return r"\sum_{%s} %s %s" % (j, w, p.index_of(v, vidx, "Mul"))


def fused(q, k, v, m_requires_grad):
    """Whether PyTorch's CPU kernel records its one fused node (else the math decomposition)."""
    shapes = [tuple(a.shape) for a in (q, k, v)]
    if any(len(s) != 4 for s in shapes) or m_requires_grad:
        return False
    return shapes[0][:2] == shapes[1][:2] == shapes[2][:2] and shapes[0][-1] == shapes[2][-1]


def _record_sdpa(w, n, fn, vals, nodes):
    q, k, v, m = vals["query"], vals["key"], vals["value"], vals["attn_mask"]
    mrg = w.is_tensor(m) and m.requires_grad
    if fused(q, k, v, mrg):
        saved = tuple((f, w.text(nodes[a])) for f, a in (("query", "query"), ("key", "key"), ("value", "value")))
        saved += (("output", "its output"), ("logsumexp", "the softmax normalisers"))
        if m is not None:
            saved += (("attn_mask", w.text(nodes["attn_mask"])),)
        return w.record(n, FUSED, [q, k, v], FUSED, saved, (FUSED,))
    rgp = any(w.is_tensor(a) and a.requires_grad for a in (q, k, m))
    rp = len(broadcast(q.shape[:-2], k.shape[:-2])) + 2
    chain = matmul_chain(rp, len(v.shape), rgp)
    fields = ((("mat2", w.text(nodes["value"])),) if rgp else ()) + \
        ((("self", "the attention weights"),) if v.requires_grad else ())
    return w.record(n, chain[0], [q, k, v, m], chain[-1], fields,
                    chain + ("SafeSoftmaxBackward0", "MulBackward1", "MulBackward1"))


@register("scaled_dot_product_attention",
          P("query", "key", "value", Param("attn_mask", "tensor", None), Param("dropout_p", "number", S.Zero),
            Param("is_causal", "bool", False), Param("scale", "number", None), Param("enable_gqa", "bool", False)),
          torch="torch.nn.functional.scaled_dot_product_attention", grad_fn=FUSED,
          saved=("query", "key", "value", "output", "logsumexp"), record=_record_sdpa, on_bool="fail", strict=True,
          ref=lambda ctx, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa:
              ctx.F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, is_causal=is_causal,
                                                 scale=None if scale is None else float(scale)),
          reason="v receives P^T g; the scores receive P (g v^T - rowsum(g v^T P)) (the softmax rule), "
                 "which q and k share through q k^T * scale")
def _sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    if number(dropout_p, "dropout_p") != 0:
        raise SpecError("dropout_p must be 0: attention dropout is random and not in the spec language")
    if enable_gqa:
        raise SpecError("enable_gqa is not in the spec language: repeat the key and value heads instead")
    if attn_mask is not None and is_causal:
        raise SpecError("an explicit attn_mask cannot be combined with is_causal=True (PyTorch refuses it)")
    q, k, v = (shape_of(a) for a in (query, key, value))
    if min(len(q), len(k), len(v)) < 2:
        raise ShapeError("scaled_dot_product_attention: query, key and value must be at least 2-D, got %s, %s "
                         "and %s" % (fmt_shape(q), fmt_shape(k), fmt_shape(v)))
    if q[-1] != k[-1] or k[-2] != v[-2]:
        raise ShapeError("scaled_dot_product_attention: query %s, key %s and value %s do not fit (query and key "
                         "share the head size E, key and value the length S)" % (fmt_shape(q), fmt_shape(k), fmt_shape(v)))
    batch = broadcast(q[:-2], k[:-2], v[:-2])
    kind = NO_MASK
    if attn_mask is not None:
        if value_dtype(attn_mask) == "long":
            raise SpecError("attn_mask must be a bool mask (True attends) or a float bias, not an integer tensor")
        kind = BOOL_MASK if value_dtype(attn_mask) == "bool" else FLOAT_MASK
        want = batch + (q[-2], k[-2])
        if broadcast(shape_of(attn_mask), want) != want:
            raise ShapeError("scaled_dot_product_attention: attn_mask %s does not broadcast to the attention "
                             "weights' shape %s" % (fmt_shape(shape_of(attn_mask)), fmt_shape(want)))
    given = scale is not None
    if not given:
        scale = 1 / sympy.sqrt(q[-1])
    mask = () if attn_mask is None else (attn_mask,)
    return SdpaOp(query, key, value, *mask, kind, flag(is_causal), scale, flag(given))
