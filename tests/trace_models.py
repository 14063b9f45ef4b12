"""PyTorch models and losses for the `symgrad trace` tests (a user file, as the CLI reads one).

Small sizes, so the end-to-end checks run in a moment; each model stands for a pattern
the tracer must survive.  The functions at the end are wrong on purpose: each must give
one located error.
"""
import torch
from torch import nn
import torch.nn.functional as F

torch.manual_seed(0)


class SmallMLP(nn.Module):
    """The notebook's MLP at 12-8-8-5; forward(x, y) returns the loss (probability targets)."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(12, 8)
        self.fc2 = nn.Linear(8, 8)
        self.fc3 = nn.Linear(8, 5)
        self.relu = nn.ReLU()

    def forward(self, x, y):
        x = self.flatten(x)
        logits = self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))
        return F.cross_entropy(logits, y)


class Shapes(nn.Module):
    """view with x.size(0), reshape, squeeze, unsqueeze, transpose, mean/sum over dims, a residual."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)
        self.out = nn.Linear(6, 1)

    def forward(self, x, t):
        h = x.view(x.size(0), -1)
        h = h + torch.tanh(self.proj(h))
        z = self.out(h).squeeze()
        m = h.reshape(2, -1, 6).mean(dim=1).sum(dim=-1, keepdim=True)
        s = h.unsqueeze(0).transpose(1, 2).sum(dim=(0, 2))
        return F.mse_loss(z, t) + m.mean() + 0.1 * s.sum() + h.flatten().pow(2).mean()


class Frozen(nn.Module):
    """A frozen embedding-like projection: its weight does not require grad."""

    def __init__(self):
        super().__init__()
        self.frozen = nn.Linear(4, 4)
        self.frozen.weight.requires_grad_(False)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return F.softplus(self.head(torch.sigmoid(self.frozen(x)))).sum()


net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


def two_losses(x, t, y):
    """A function of a global model returning two losses; weight decay as a Python sum."""
    z = net(x)
    decay = 0.01 * sum(p.pow(2).sum() for p in net.parameters())
    return F.mse_loss(z, t), F.cross_entropy(z, y) + decay


class ResidualLN(nn.Module):
    """A pre-norm residual block with LayerNorm and GELU, class-label cross-entropy."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(6)
        self.fc1 = nn.Linear(6, 12)
        self.fc2 = nn.Linear(12, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x, y):
        h = x + self.fc2(F.gelu(self.fc1(self.ln(x))))
        logits = self.head(h)
        return F.cross_entropy(logits, y)


class BatchNormNet(nn.Module):
    """BatchNorm in training mode: its running statistics are buffers."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, x):
        return self.bn(self.fc(x)).pow(2).mean()


class Concat(nn.Module):
    """torch.cat of two branches."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.cat([self.a(x), torch.relu(self.b(x))], dim=1)
        return (h ** 2).sum()


class Blocks(nn.Module):
    """A loop over an nn.ModuleList of identical blocks."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(5, 5) for _ in range(3))

    def forward(self, x):
        for block in self.blocks:
            x = x + torch.tanh(block(x))
        return x.pow(2).sum()


class RawParameters(nn.Module):
    """nn.Parameters used directly (x @ W + b), a buffer, log_softmax by hand, a trace."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.randn(5, 3))
        self.b = nn.Parameter(torch.zeros(3))
        self.register_buffer("scale", torch.full((3,), 2.0))

    def forward(self, x, y):
        z = (x @ self.W + self.b) * self.scale
        return -(y * F.log_softmax(z, dim=1)).sum(1).mean() + 0.01 * (self.W.T @ self.W).trace()


class Criteria(nn.Module):
    """Loss modules as attributes, F.linear without bias, a division by the batch size."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 5))
        self.crit = nn.CrossEntropyLoss()
        self.mse = nn.MSELoss(reduction="sum")

    def forward(self, x, y):
        z = F.linear(x, self.weight)
        return self.crit(z, y) + self.mse(z, y) / x.shape[0]


class Activations(nn.Module):
    """Activation modules, dropout in eval mode, binary cross-entropies."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)
        self.act = nn.GELU()
        self.leaky = nn.LeakyReLU(0.2)
        self.drop = nn.Dropout(0.3)

    def forward(self, x, t):
        h = self.drop(self.act(self.fc(x)))
        h = self.leaky(h) + F.silu(h) + F.softplus(h) + torch.exp(-h.abs())
        return F.binary_cross_entropy_with_logits(h, t) + F.binary_cross_entropy(torch.sigmoid(h), t)


head = nn.Linear(5, 2)


def named_losses(x):
    """A dict of losses: the keys name the outputs; a constant tensor of the code."""
    w = torch.tensor([1.0, -2.0, 0.5, 3.0, 1.0])
    z = head(x * w)
    return {"total": z.sum() * torch.tensor(2.0) / 3, "square": z.pow(2).mean()}


# --- wrong on purpose -------------------------------------------------------------------
lin = nn.Linear(4, 3)


def branches(x):
    h = lin(x)
    if h.sum() > 0:
        return h.sum()
    return h.mean()


def unknown_op(x):
    h = lin(x)
    return torch.erfinv(torch.tanh(h)).sum()


def overwritten(x):
    h = lin(x)
    v = h.view(-1)
    h.relu_()
    return (v * 2).sum()


def random_dropout(x):
    return F.dropout(lin(x), 0.5).sum()


def fails(x):
    raise ValueError("this model is broken")


not_callable = 42


class NeedsArguments(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, 1)

    def forward(self, x):
        return self.fc(x).sum()


def saved_then_overwritten(x):
    h = torch.relu(lin(x))
    h += x[:, :3]
    return h.sum()


def builds_its_model(x):
    model = nn.Linear(4, 2)
    return model(x).sum()


W = torch.randn(4, 2, requires_grad=True)


class Holder:
    def __init__(self):
        self.net = nn.Linear(4, 2)


config = Holder()


def global_tensor_and_attribute(x):
    """A global leaf tensor that requires grad, and a module reached through an object."""
    return (x @ W).tanh().sum() + config.net(x).pow(2).sum()
