"""More PyTorch models for `symgrad trace`, written as a user would: attention, recurrent
cells, embeddings, pooling, concatenation and indexing, linear algebra, normalisation.

Small sizes, so each end-to-end check (tests/test_trace_models_more.py) runs in a moment;
each model stands for a pattern of the 0.2 language that the tracer must spell by
PyTorch's own names.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

torch.manual_seed(0)


# --- attention ---------------------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        B, T, C = x.shape
        H = self.heads
        q = self.q(x).view(B, T, H, C // H).transpose(1, 2)
        k = self.k(x).view(B, T, H, C // H).transpose(1, 2)
        v = self.v(x).view(B, T, H, C // H).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Token and position embeddings, one pre-norm block, a tied-free head; next-token loss."""

    def __init__(self, vocab=11, d=8, heads=2, ctx=5):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(ctx, d) * 0.1)
        self.block = Block(d, heads)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.tok(idx) + self.pos[:T]
        x = self.ln_f(self.block(x))
        logits = self.head(x)
        return F.cross_entropy(logits.view(B * T, -1), targets.view(-1))


class ManualAttention(nn.Module):
    """Attention written out: qkv split, q @ k.transpose(-2, -1) / sqrt(d), softmax, h[:, -1, :]."""

    def __init__(self, d=6):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, 2)

    def forward(self, x, y):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C))
        att = F.softmax(att, dim=-1)
        h = att @ v
        return F.cross_entropy(self.out(h[:, -1, :]), y)


class MaskedAttention(ManualAttention):
    """nanoGPT's causal mask, ``masked_fill(mask == 0, float('-inf'))``: the spec language has
    neither ``==`` nor infinities, so this one is refused at its line."""

    def __init__(self, d=6, ctx=4):
        super().__init__(d)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)).view(1, ctx, ctx))

    def forward(self, x, y):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C))
        att = att.masked_fill(self.mask[:, :T, :T] == 0, float("-inf"))
        return F.cross_entropy(self.out((F.softmax(att, dim=-1) @ v)[:, -1, :]), y)


class EncoderLayer(nn.Module):
    """The real nn.TransformerEncoderLayer (dropout 0, batch_first), mean-pooled, a classifier."""

    def __init__(self, d=8, heads=2):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(d, heads, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d, 3)

    def forward(self, x, y):
        return F.cross_entropy(self.head(self.enc(x).mean(dim=1)), y)


# --- recurrent -----------------------------------------------------------------------------
class LSTM(nn.Module):
    """An LSTM cell from gates.chunk(4, 1), unrolled over x[:, t]; the last hidden state regressed."""

    def __init__(self, n_in=3, hidden=4):
        super().__init__()
        self.hidden = hidden
        self.ih = nn.Linear(n_in, 4 * hidden)
        self.hh = nn.Linear(hidden, 4 * hidden, bias=False)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x, target):
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden)
        c = torch.zeros_like(h)
        for t in range(T):
            gates = self.ih(x[:, t]) + self.hh(h)
            i, f, g, o = gates.chunk(4, 1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
        return F.mse_loss(self.out(h).squeeze(-1), target)


class GRUByHand(nn.Module):
    """A GRU step with unbind of a stacked gate tensor and torch.stack of the hidden states."""

    def __init__(self, n_in=3, hidden=4):
        super().__init__()
        self.w = nn.Linear(n_in, 3 * hidden)
        self.u = nn.Linear(hidden, 3 * hidden)

    def forward(self, x):
        h = torch.zeros(x.shape[0], 4, dtype=x.dtype)
        states = []
        for xt in x.unbind(1):
            r, z, n = self.w(xt).chunk(3, -1)
            hr, hz, hn = self.u(h).chunk(3, -1)
            r, z = torch.sigmoid(r + hr), torch.sigmoid(z + hz)
            h = (1 - z) * torch.tanh(n + r * hn) + z * h
            states.append(h)
        return torch.stack(states, dim=1).pow(2).mean()


# --- embeddings and pooling ---------------------------------------------------------------------
class BagOfWords(nn.Module):
    """nn.Embedding, mean pooling over the sequence, a classifier; token ids and labels are long."""

    def __init__(self, vocab=13, d=5, classes=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.fc = nn.Linear(d, classes)

    def forward(self, tokens, y):
        return F.cross_entropy(self.fc(self.emb(tokens).mean(dim=1)), y)


class SetEncoder(nn.Module):
    """Deep sets: phi per element, max-pooling (amax) and the max over a dim, rho, cross-entropy."""

    def __init__(self):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 6))
        self.rho = nn.Linear(12, 4)

    def forward(self, x, y):
        h = self.phi(x)
        pooled = torch.cat([h.amax(dim=1), h.max(dim=1).values * 0.5 + h.mean(1)], dim=-1)
        return F.cross_entropy(self.rho(pooled), y)


class Gathering(nn.Module):
    """W[y] rows, x[:, 0], gather of the target's logit, index_select, one_hot."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.randn(5, 4))
        self.fc = nn.Linear(4, 5)

    def forward(self, x, y):
        z = self.fc(x[:, 0] + self.W[y])
        picked = z.gather(1, y.unsqueeze(1)).squeeze(1)
        rows = torch.index_select(self.W, 0, y)
        return -picked.mean() + z.logsumexp(1).mean() + (rows * F.one_hot(y, 4)).sum()


# --- shapes ----------------------------------------------------------------------------------------
class Mixer(nn.Module):
    """torch.cat, x[:, 0], x.permute, einsum, expand, repeat, flip, .mT, var/std, cumsum."""

    def __init__(self):
        super().__init__()
        self.token = nn.Linear(4, 4)
        self.channel = nn.Linear(3, 3)
        self.W = nn.Parameter(torch.randn(3, 3))
        self.cls = nn.Parameter(torch.zeros(1, 1, 3))

    def forward(self, x):
        B = x.shape[0]
        h = torch.cat([self.cls.expand(B, -1, -1), x], dim=1)          # [B, 4, 3]
        h = h + self.token(h.permute(0, 2, 1)).permute(0, 2, 1)
        h = h + self.channel(h)
        s = torch.einsum("btc,cd->btd", h, self.W)
        first = s[:, 0]
        tail = s[:, 1:].flip(1).cumsum(dim=1)
        g = (h.mT @ h).repeat(1, 2, 1)
        return first.var(dim=0).sum() + tail.std() + g.mean() + s.amin(dim=(1, 2)).mean()


# --- linear algebra ---------------------------------------------------------------------------------
class GaussianNLL(nn.Module):
    """A multivariate Gaussian's negative log-likelihood through cholesky and solve."""

    def __init__(self, d=3):
        super().__init__()
        self.A = nn.Parameter(torch.randn(d, d) * 0.3)
        self.mu = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        d = self.A.shape[0]
        cov = self.A @ self.A.T + torch.eye(d)
        L = torch.linalg.cholesky(cov)
        r = x - self.mu
        sol = torch.linalg.solve(cov, r.T)
        logdet = 2 * torch.log(torch.diagonal(L)).sum()
        return 0.5 * (r.T * sol).sum() / x.shape[0] + 0.5 * logdet + torch.linalg.slogdet(cov)[1] * 0.0


# --- normalisation and similarity ---------------------------------------------------------------------
class Contrastive(nn.Module):
    """F.normalize of two projections, a temperature-scaled similarity matrix, cosine_similarity."""

    def __init__(self):
        super().__init__()
        self.f = nn.Linear(5, 4)
        self.g = nn.Linear(5, 4)

    def forward(self, a, b, y):
        za = F.normalize(self.f(a), dim=1)
        zb = F.normalize(self.g(b), dim=1)
        logits = za @ zb.T / 0.5
        return F.cross_entropy(logits, y) + (1 - F.cosine_similarity(self.f(a), self.g(b))).mean()


class BatchNormDecay(nn.Module):
    """BatchNorm1d in training mode, and weight decay over all parameters as a Python sum."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))

    def forward(self, x, y):
        decay = sum(p.pow(2).sum() for p in self.parameters())
        return F.cross_entropy(self.net(x), y) + 1e-3 * decay


class RMSNormLosses(nn.Module):
    """rms_norm, activations of the 0.2 language, and its regression losses."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.norm = nn.RMSNorm(4)

    def forward(self, x, t):
        h = self.norm(self.fc(x))
        h = F.elu(h) + F.selu(h) + F.mish(h) + F.hardtanh(h) + F.relu6(h) + F.logsigmoid(h) \
            + F.softsign(h) + F.tanhshrink(h) + torch.clamp(h, -0.5, 0.5) + torch.maximum(h, t)
        return F.smooth_l1_loss(h, t) + F.huber_loss(h, t, delta=0.5) + F.l1_loss(h, t) \
            + F.kl_div(F.log_softmax(h, 1), F.softmax(t, 1), reduction="batchmean")


class Odds(nn.Module):
    """Less common calls: arange, F.pad, eigh, count_nonzero, index_add/scatter_add, softplus
    with beta, a Frobenius matrix norm, polygamma."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.randn(4, 4))

    def forward(self, x, y):
        h = x @ self.W
        spread = torch.zeros(5, 4, dtype=x.dtype).index_add(0, y, h)
        spread = spread.scatter_add(0, y.unsqueeze(1).expand(-1, 4), h * h)
        evals = torch.linalg.eigh(self.W @ self.W.T + torch.eye(4, dtype=x.dtype)).eigenvalues
        return (h * torch.arange(4, dtype=x.dtype)).sum() / torch.count_nonzero(x > 0) \
            + F.pad(h, (1, 0, 0, 2), value=0.5).pow(2).mean() + spread.pow(2).sum() + evals.log().sum() \
            + F.softplus(h, beta=2).sum() + torch.linalg.matrix_norm(self.W) + torch.polygamma(1, h.exp() + 1).sum()
