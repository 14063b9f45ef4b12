"""A pre-norm residual block (LayerNorm, Linear, GELU, Linear, skip connection) under a
classifier head, and a function returning two losses of one forward pass.

    symgrad trace examples/residual_block.py:losses --input x=8,16 --input y=8:long:4 --input target=8
    symgrad derive examples/residual_block.py:losses --input x=8,16 --input y=8:long:4 --input target=8

``losses`` returns the classification loss (with weight decay over every parameter, a
Python ``sum`` over ``model.parameters()``) and a regression loss on the block's features:
two outputs, in return order, so the spec's ``backward`` schedule runs the first with
``retain_graph=True`` -- the notebook's two-losses lesson.
"""
import torch
from torch import nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, d=16, hidden=32):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        h = self.fc2(F.gelu(self.fc1(self.ln(x))))
        return x + h


class Classifier(nn.Module):
    def __init__(self, d=16, classes=4):
        super().__init__()
        self.block = ResidualBlock(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.block(x))


torch.manual_seed(0)
model = Classifier()


def losses(x, y, target):
    """Cross-entropy against class labels plus weight decay; and the features' mean against a target."""
    feats = model.block(x)
    logits = model.head(feats)
    decay = 1e-4 * sum((p ** 2).sum() for p in model.parameters())
    ce = F.cross_entropy(logits, y) + decay
    return ce, F.mse_loss(feats.mean(dim=1), target)
