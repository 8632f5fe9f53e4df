"""A network small enough to compute every map by hand (tests of lessons 05, 06 and 08)."""

import torch
from torch import nn


class TinyGapNet(nn.Module):
    """conv(1x1, 1 -> 2) -> ReLU (in place) -> GAP -> linear(2 -> 3), with fixed weights."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.fc.weight.copy_(W)
            self.fc.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


W = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0]])  # the classifier's weights
X_TINY = torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]])  # A_0 = relu(x), A_1 = relu(-x)
A0 = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
A1 = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
A = torch.stack([A0, A1])
