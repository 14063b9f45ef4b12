"""The seed notebook's MLP, written as PyTorch intends, and traced by symgrad.

The notebook wraps tensors in ``nn.Flatten(x)`` and ``nn.ReLU(...)`` -- constructing modules
instead of applying them; here they are layers, applied.  Its lesson is that the layers'
weights are leaves (``mlp.fc1.weight.is_leaf`` is True), so after ``loss.backward()`` each
holds its gradient.  Trace the loss into a spec, or derive it directly:

    symgrad trace examples/notebook_mlp.py:loss --input x=8,1,28,28 --input y=8:long:10 -o mlp.yaml
    symgrad derive examples/notebook_mlp.py:loss --input x=8,1,28,28 --input y=8:long:10

The spec names the inputs after the parameters (``fc1.weight`` -> ``fc1_weight``) and the
nodes after the modules (``flatten``, ``fc1``, ``relu``, ``fc2``, ``relu_2``, ``fc3``).
"""
import torch
from torch import nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(28 * 28, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.flatten(x)
        x = self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))
        return x


torch.manual_seed(0)
mlp = MLP()


def loss(x, y):
    """The mean cross-entropy of the MLP's logits against class labels ``y``."""
    return F.cross_entropy(mlp(x), y)


if __name__ == "__main__":
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    loss(x, y).backward()
    print("mlp.fc1.weight.is_leaf:", mlp.fc1.weight.is_leaf, "| grad shape:", tuple(mlp.fc1.weight.grad.shape))
