"""The PyTorch networks, each a short list of layers (tinygrad's beautiful_mnist style).

Every net takes float32 images (N, 1, 28, 28) in [0, 1] and returns logits (N, 10). The
first layer standardizes the pixels with the training set's mean and std, which are model
arguments stored in config.json, so a saved run predicts correctly with no outside help.
All outputs are raw class scores trained with softmax cross-entropy: the classic tutorials'
sigmoid output layer (trained as ten independent yes/no questions) is a known mistake.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Normalize(nn.Module):
    """(x - mean) / std with the dataset's pixel statistics, kept as plain floats."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean:.4f}, std={self.std:.4f}"


def mlp(mean: float = 0.0, std: float = 1.0) -> nn.Sequential:
    """The tutorials' dense network: 784 → 512 ReLU → 256 ReLU → 10 (535,818 parameters)."""
    return nn.Sequential(
        Normalize(mean, std),
        nn.Flatten(),
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )  # fmt: skip


def cnn(mean: float = 0.0, std: float = 1.0) -> nn.Sequential:
    """The classic tutorial CNN: one 2×2 conv, max-pool, one dense layer (1,387,434 parameters).

    Nearly all parameters sit in the 5408 → 256 dense layer (32 maps of 13×13 after pooling).
    """
    return nn.Sequential(
        Normalize(mean, std),
        nn.Conv2d(1, 32, kernel_size=2), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 13 * 13, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )  # fmt: skip


class LeCunTanh(nn.Module):
    """The paper's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (Appendix A).

    Chosen so that f(±1) = ±1 and the gain is near 1 around 0: unit-variance inputs stay
    unit-variance, and the targets ±1 sit where the curvature is largest, not in saturation.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2 / 3))


class Subsample(nn.Module):
    """S2 / S4: each 2×2 block averaged, times a trainable coefficient plus a trainable bias,
    one pair per feature map (the paper sums the four inputs; the factor 4 is absorbed in
    the coefficient, which starts at 1 so the layer starts as plain average pooling)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{len(self.weight)}"


def lenet5(mean: float = 0.0, std: float = 1.0) -> nn.Sequential:
    """LeNet-5 as LeCun, Bottou, Bengio & Haffner (1998) describe it, section II.B.

    Our reading, layer by layer (61,750 parameters):
    - input: the 28×28 image padded by 2 to 32×32, so strokes reach the centre of the
      receptive fields of the top feature detectors; padded before standardizing, so the
      border is background (the paper maps background to -0.1 and ink to 1.175, mean ≈ 0 and
      variance ≈ 1: the dataset's mean/std standardization does the same job).
    - C1: 6 maps, 5×5 convolution → 6@28×28. S2: trainable subsampling → 6@14×14.
    - C3: 16 maps, 5×5 → 16@10×10. The paper connects each C3 map to a subset of S2's maps
      (Table I) to keep 1998's connection count down and to break symmetry; we connect all
      6, because random initialization already breaks symmetry (2,416 instead of 1,516
      parameters). S4: trainable subsampling → 16@5×5.
    - C5: 120 maps, 5×5 convolution over the 5×5 input → 120@1×1. F6: 84 units.
    - every C/S/F layer is followed by the paper's scaled tanh (not ReLU / max-pool, the
      modern variant): this model is the paper's network, not a modernized LeNet.
    - output: the paper's 10 Euclidean RBF units with fixed 7×12 bitmap targets and its MAP
      loss are replaced by a trainable Linear 84 → 10 trained with softmax cross-entropy,
      the choice every model here shares (the paper itself notes cross-entropy works too).
    """
    return nn.Sequential(
        nn.ZeroPad2d(2),
        Normalize(mean, std),
        nn.Conv2d(1, 6, 5), LeCunTanh(),  # C1
        Subsample(6), LeCunTanh(),  # S2
        nn.Conv2d(6, 16, 5), LeCunTanh(),  # C3
        Subsample(16), LeCunTanh(),  # S4
        nn.Conv2d(16, 120, 5), LeCunTanh(),  # C5
        nn.Flatten(),
        nn.Linear(120, 84), LeCunTanh(),  # F6
        nn.Linear(84, 10),  # output: class scores
    )  # fmt: skip
