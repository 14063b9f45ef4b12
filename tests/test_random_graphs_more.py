"""Random differential testing over the rest of the op table.

`tests/test_random_graphs.py` draws graphs over the core ops (elementwise, matmul, reductions,
reshapes, softmax, a few losses); this file's generator adds the other families of the op
table to the same draw: more activations and elementwise functions (inverse trig, hyperbolic,
clamp, lgamma ...), binary ones (atan2, maximum, xlogy ...), reductions (amax, prod, std, var,
cumsum), layout (flip, permute, movedim, expand, repeat, cat, stack, narrow, tril, diagonal,
kron, cross, pad), normalisation (layer_norm, rms_norm, normalize, cosine_similarity, cdist),
decompositions (solve, cholesky, matrix_power, matrix_exp, pinv, eigvalsh), more losses, and
einsum.  The property is the same: derive + check in float64 + text round-trip.

SYMGRAD_RG=N scales it like the core test (N times the examples, fresh randomness).
"""
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from test_random_graphs import E, Gen, RG, TORCH_NS, check_spec, specs

TORCH_NS.update({name: getattr(torch, name) for name in [
    "atan", "asin", "acos", "sinh", "cosh", "exp2", "log2", "log10", "reciprocal", "lgamma", "digamma",
    "polygamma", "clamp", "clamp_min", "clip", "atan2", "maximum", "minimum", "logaddexp", "xlogy", "amax",
    "amin", "max", "min", "prod", "std", "var", "cumsum", "flip", "permute", "movedim", "cat", "stack",
    "narrow", "tril", "triu", "diagonal", "diag", "kron", "cross", "cdist", "matrix_power", "matrix_exp",
    "einsum", "cosine_similarity"]})
TORCH_NS.update({name: getattr(F, name) for name in [
    "logsigmoid", "mish", "elu", "celu", "selu", "relu6", "hardtanh", "tanhshrink", "softsign", "pad",
    "layer_norm", "rms_norm", "normalize", "l1_loss", "huber_loss", "smooth_l1_loss", "kl_div",
    "gaussian_nll_loss", "poisson_nll_loss"]})
TORCH_NS.update(solve=torch.linalg.solve, cholesky=torch.linalg.cholesky, pinv=torch.linalg.pinv,
                eigvalsh=torch.linalg.eigvalsh)


class GenMore(Gen):
    """Gen with the rest of the op table."""

    def families(self):
        return super().families() + [self.f_unary2, self.f_unary2, self.f_binary2, self.f_reduce2,
                                     self.f_layout, self.f_layout, self.f_norm, self.f_decomp,
                                     self.f_loss2, self.f_einsum]

    ANY = ["atan", "softsign", "logsigmoid", "mish", "elu", "celu", "selu", "relu6", "hardtanh", "tanhshrink"]
    BOUNDED = ["sinh", "cosh", "exp2"]
    POS = ["log2", "log10", "reciprocal", "lgamma", "digamma"]

    def f_unary2(self, depth, T):
        k = self.choice(range(6))
        if k <= 1:
            fn = self.choice(self.ANY)
            c = self.gen(depth - 1, T)
            return E(self.call(fn, c), T, atom=True, bounded=fn in ("atan", "softsign"))
        if k == 2:
            fn = self.choice(self.BOUNDED)
            return E(self.call(fn, self.bounded(depth - 1, T)), T, atom=True, pos=fn != "sinh")
        if k == 3:
            fn = self.choice(self.POS)
            c = self.gen(depth - 1, T, "pos")
            return E(self.call(fn, c), T, atom=True)
        if k == 4:
            c = self.gen(depth - 1, T, "unit")
            return E(self.call(self.choice(["asin", "acos"]), c), T, atom=True, bounded=True)
        c = self.gen(depth - 1, T)
        fn, args = self.choice([("clamp", "min=-0.5, max=0.5"), ("clamp", "-0.5"), ("clamp", "max=0.3"),
                                ("clamp_min", "0.1"), ("clip", "-1, 1")])
        return E(self.call(fn, c, args), T, atom=True)

    def f_binary2(self, depth, T):
        fn = self.choice(["atan2", "maximum", "minimum", "logaddexp", "xlogy"])
        sa, sb = self.sub_shapes(T)
        a = self.gen(depth - 1, sa)
        b = self.gen(depth - 1, sb, "pos" if fn == "xlogy" else None)
        return E(self.call(fn, a, b.text), T, atom=True)

    def f_reduce2(self, depth, T):
        fn = self.choice(["amax", "amin", "prod", "std", "var", "cumsum", "max", "min"])
        if fn == "cumsum":
            if not T:
                return None
            c = self.gen(depth - 1, T)
            return E(self.call("cumsum", c, "dim=%d" % self.dim_of(len(T))), T, atom=True)
        if fn in ("max", "min"):
            if T != ():
                return None
            c = self.gen(depth - 1, self.shape())
            return E(self.call(fn, c), (), atom=True)
        rc = self.reduce_child(T)
        if rc is None:
            return None
        child, dt, keep = rc
        if fn == "prod":
            if "(" in dt:
                return None
            c = self.bounded(depth - 1, child)
        else:
            c = self.gen(depth - 1, child)
        args = "dim=%s" % dt if self.coin() else dt
        if keep:
            args += ", keepdim=True"
        return E(self.call(fn, c, args), T, atom=True)

    def f_layout(self, depth, T):
        r = len(T)
        k = self.choice(range(12))
        if k == 0 and r:
            dims = sorted({self.choice(range(r)) for _ in range(2)})
            c = self.gen(depth - 1, T)
            return E(self.call("flip", c, "[%s]" % ", ".join(map(str, dims))), T, atom=True)
        if k == 1 and r >= 2:
            p = self.d(st.permutations(list(range(r))))
            if self.coin():
                child = [None] * r
                for i, j in enumerate(p):
                    child[j] = T[i]
                c = self.gen(depth - 1, tuple(child))
                return E(self.call("permute", c, "(%s)" % ", ".join(map(str, p))), T, atom=True)
            src, dst = p[0], p[1]
            child = list(T)
            moved = child.pop(dst)
            child.insert(src, moved)
            c = self.gen(depth - 1, tuple(child))
            return E(self.call("movedim", c, "%d, %d" % (src, dst)), T, atom=True)
        if k == 2 and r:
            child = tuple(1 if self.coin(0.4) else s for s in T)
            c = self.gen(depth - 1, child)
            sizes = ", ".join(str(s) if s != c_s else "-1" for s, c_s in zip(T, child))
            return E("%s.expand(%s)" % (c.m(), sizes), T, atom=True)
        if k == 3 and r and all(isinstance(s, int) for s in T):
            reps = [2 if s % 2 == 0 and self.coin() else 1 for s in T]
            child = tuple(s // m for s, m in zip(T, reps))
            c = self.gen(depth - 1, child)
            return E("%s.repeat(%s)" % (c.m(), ", ".join(map(str, reps))), T, atom=True)
        if k == 4 and r:
            d = self.choice([i for i in range(r) if isinstance(T[i], int) and T[i] >= 2] or [None])
            if d is None:
                return None
            m = self.choice(range(1, T[d]))
            a = self.gen(depth - 1, T[:d] + (m,) + T[d + 1:])
            b = self.gen(depth - 1, T[:d] + (T[d] - m,) + T[d + 1:])
            return E("cat((%s, %s), %s)" % (a.text, b.text, self.choice([str(d), "dim=%d" % (d - r)])), T, atom=True)
        if k == 5 and r and isinstance(T[0], int) and T[0] in (2, 3):
            parts = [self.gen(depth - 1, T[1:]) for _ in range(T[0])]
            return E("stack([%s])" % ", ".join(p.text for p in parts), T, atom=True)
        if k == 6 and r:
            d = self.choice(range(r))
            extra = self.choice([1, 2])
            start = self.choice(range(extra + 1))
            child = T[:d] + ((T[d] + extra) if isinstance(T[d], int) else None,) + T[d + 1:]
            if None in child:
                return None
            c = self.gen(depth - 1, child)
            return E(self.call("narrow", c, "%d, %d, %d" % (d, start, T[d])), T, atom=True)
        if k == 7 and r == 2:
            c = self.gen(depth - 1, T)
            return E(self.call(self.choice(["tril", "triu"]), c, self.choice(["", "1", "-1", "diagonal=1"])), T, atom=True)
        if k == 8 and r == 1:
            if self.coin():
                c = self.gen(depth - 1, (T[0], T[0]))
                return E(self.call(self.choice(["diagonal", "diag"]), c), T, atom=True)
            c = self.gen(depth - 1, (T[0], self.size()))
            return E(self.call("diagonal", c), T, atom=True) if c.shape[1] == T[0] else None
        if k == 9 and r == 2:
            if T[0] == T[1] and self.coin():
                return E(self.call("diag", self.gen(depth - 1, (T[0],))), T, atom=True)
            if all(isinstance(s, int) and s % 2 == 0 for s in T):
                a, b = self.gen(depth - 1, (2, 2)), self.gen(depth - 1, (T[0] // 2, T[1] // 2))
                return E(self.call("kron", a, b.text), T, atom=True)
            return None
        if k == 10 and r and T[-1] == 3:
            a, b = self.gen(depth - 1, T), self.gen(depth - 1, T)
            return E("cross(%s, %s, dim=-1)" % (a.text, b.text), T, atom=True)
        if k == 11 and r and isinstance(T[-1], int) and T[-1] >= 2:
            lo = self.choice(range(T[-1]))
            hi = self.choice(range(T[-1] - lo))
            if lo + hi == 0:
                return None
            c = self.gen(depth - 1, T[:-1] + (T[-1] - lo - hi,))
            return E("pad(%s, (%d, %d))" % (c.text, lo, hi), T, atom=True)
        return None

    def f_norm(self, depth, T):
        r = len(T)
        k = self.choice(range(5))
        if k == 0 and r and T[-1] != 1:
            c = self.gen(depth - 1, T)
            extra = ""
            if self.coin():
                extra = ", %s, %s" % (self.gen(depth - 1, T[-1:]).text, self.gen(depth - 1, T[-1:]).text)
            return E("layer_norm(%s, (%s,)%s)" % (c.text, T[-1], extra), T, atom=True)
        if k == 1 and r:
            c = self.gen(depth - 1, T)
            w = ", %s" % self.gen(depth - 1, T[-1:]).text if self.coin() else ""
            return E("rms_norm(%s, (%s,)%s, eps=1e-5)" % (c.text, T[-1], w), T, atom=True)
        if k == 2 and r:
            c = self.gen(depth - 1, T)
            return E("normalize(%s, dim=%d)" % (c.text, self.dim_of(r)), T, atom=True)
        if k == 3 and r <= 2:
            S = T + (self.choice([2, 3]),)
            a, b = self.gen(depth - 1, S), self.gen(depth - 1, S)
            return E("cosine_similarity(%s, %s, dim=-1)" % (a.text, b.text), T, atom=True)
        if k == 4 and r == 2:
            kk = self.choice([1, 2, 3])
            a, b = self.gen(depth - 1, (T[0], kk)), self.gen(depth - 1, (T[1], kk))
            return E("cdist(%s, %s)" % (a.text, b.text), T, pos=True, atom=True)
        return None

    def f_decomp(self, depth, T):
        r = len(T)
        k = self.choice(range(6))
        if k == 0 and r in (1, 2):
            A = self.gen(depth - 1, (T[0], T[0]), "spd")
            B = self.gen(depth - 1, T)
            return E("solve(%s, %s)" % (A.text, B.text), T, atom=True)
        square = r == 2 and T[0] == T[1]
        if k == 1 and square:
            return E("cholesky(%s)" % self.gen(depth - 1, T, "spd").text, T, atom=True)
        if k == 2 and square:
            c = self.gen(depth - 1, T)
            return E(self.call("matrix_power", c, self.choice(["2", "3"])), T, atom=True)
        if k == 3 and square:
            c = self.bounded(depth - 1, T)
            return E("matrix_exp(0.5 * %s)" % c.text, T, atom=True)
        if k == 4 and r == 2:
            c = self.gen(depth - 1, (T[1], T[0]), "spd" if T[0] == T[1] else None)
            return E("pinv(%s)" % c.text, T, atom=True)
        if k == 5 and r == 1:
            return E("eigvalsh(%s)" % self.gen(depth - 1, (T[0], T[0]), "spd").text, T, atom=True)
        return None

    def f_loss2(self, depth, T):
        if T != ():
            return None
        S = self.shape(self.choice([1, 2]))
        k = self.choice(range(6))
        a = self.gen(depth - 1, S)
        if k == 0:
            return E("l1_loss(%s, %s)" % (a.text, self.gen(depth - 1, S).text), T, atom=True)
        if k == 1:
            return E("huber_loss(%s, %s, delta=0.5)" % (a.text, self.gen(depth - 1, S).text), T, atom=True)
        if k == 2:
            return E("smooth_l1_loss(%s, %s, beta=0.5)" % (a.text, self.gen(depth - 1, S).text), T, atom=True)
        if k == 3:
            t = self.gen(depth - 1, S, "simplex")
            return E("kl_div(log_softmax(%s, dim=-1), %s, reduction='batchmean')" % (a.text, t.text), T, atom=True)
        if k == 4:
            return E("gaussian_nll_loss(%s, %s, %s)" % (a.text, self.gen(depth - 1, S).text,
                                                       self.gen(depth - 1, S, "pos").text), T, atom=True)
        return E("poisson_nll_loss(%s, %s)" % (self.bounded(depth - 1, S).text, self.gen(depth - 1, S, "pos").text),
                 T, atom=True)

    def f_einsum(self, depth, T):
        r = len(T)
        k = self.size()
        if r == 0:
            if self.coin():
                A = self.gen(depth - 1, (k, k))
                return E("einsum('ii->', %s)" % A.text, T, atom=True)
            a, b = self.gen(depth - 1, (k,)), self.gen(depth - 1, (k,))
            return E("einsum('i,i->', %s, %s)" % (a.text, b.text), T, atom=True)
        if r == 1:
            A, b = self.gen(depth - 1, (T[0], k)), self.gen(depth - 1, (k,))
            return E("einsum('ij,j->i', %s, %s)" % (A.text, b.text), T, atom=True)
        if r == 2:
            if self.coin(0.3):
                return E("einsum('ij->ji', %s)" % self.gen(depth - 1, (T[1], T[0])).text, T, atom=True)
            A, B = self.gen(depth - 1, (T[0], k)), self.gen(depth - 1, (k, T[1]))
            return E("einsum('ik,kj->ij', %s, %s)" % (A.text, B.text), T, atom=True)
        A, B = self.gen(depth - 1, (T[0], T[1], k)), self.gen(depth - 1, (T[0], k, T[2]))
        return E("einsum('bij,bjk->bik', %s, %s)" % (A.text, B.text), T, atom=True)


@RG
@given(specs(GenMore), st.integers(0, 3))
def test_random_graph_more_ops_match_autograd(spec, seed):
    check_spec(spec, seed)
