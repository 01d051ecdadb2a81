"""`best`: the most accurate single network we train on a CPU, a compact residual CNN.

    Normalize → Conv-BN-ReLU (c1) @28×28 → MaxPool → Conv-BN-ReLU (c2) @14×14 → Residual(c2)
              → Conv-BN-ReLU (c3) → MaxPool → @7×7 → Residual(c3) → global max-pool → Dense 10

Residual(c) is two Conv-BN-ReLU layers added back to their input (He et al. 2016), the
layout of the fast CIFAR-10 ResNets (Myrtle.ai's ResNet-9, Keller Jordan's airbench) cut
down to 28×28 single-channel images. Only one convolution runs at full resolution, as in
`fast`: on a CPU large activations cost more than FLOPs. Like `fast`, it computes in bf16
with channels-last weights where the CPU has bf16 units (mnistlab.precision). The recipe is
the "best" entry of mnistlab.models.MODELS: 30 epochs, or as many as `--budget` allows on
the machine at hand; in bf16 on 2 Xeon cores with AMX, 30 epochs reach 99.70% on MNIST.

The float32 recipe (CPUs without bf16 units; `recipe` "best/fp32" in config.json) makes each
epoch cheaper, since there a budget, not the recipe's 30 epochs, sets the length of a run:
`widen_after_pool` moves the 64 → 128 convolution to 7×7, and `--grow-from 16` trains on
16×16 images first, growing to 28×28 by 3/4 of the epochs (mnistlab.training.loop.grown_size).
Even so, half an hour of an AVX2-only CPU does not bring Fashion-MNIST to 94.5%: the
variants tried on top of it all landed within the spread of seeds.

Test-time augmentation lives inside the model (`Averaged`), so evaluation, `predict`, the
server and the ONNX export all use it: on Fashion-MNIST the prediction averages each image,
its mirror image and their 1-pixel shifts (10 passes); on digits the shifts did not pay for
their time, and a mirrored digit is no digit.

What was tried and what it was worth, per CPU: docs/decisions/best.md. Results:
bench/results/accuracy.jsonl, tta.jsonl and train.jsonl (the `--budget` runs).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mnistlab.models.fast import Bf16Sequential
from mnistlab.models.torch_nets import Normalize


def conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class Residual(nn.Sequential):
    """x + f(x) with f two Conv-BN-ReLU layers of the same width."""

    def __init__(self, channels: int) -> None:
        super().__init__(*conv_bn(channels, channels), *conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + super().forward(x)


class Scale(nn.Module):
    """Logits × a constant below 1: the max-pooled features are large, and unscaled logits
    make the first steps at a high learning rate diverge (Myrtle.ai's ResNet-9 uses 0.125)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"{self.factor:g}"


class Averaged(Bf16Sequential):
    """Test-time augmentation: in eval mode, the prediction for an image is the mean of the
    class probabilities over transformed copies of it (its mirror image with `flip_tta`, its
    1-pixel shifts up, down, left and right with `shift_tta`), returned as log-probabilities,
    which are logits of exactly those probabilities. Training sees each image once."""

    def __init__(
        self, *layers: nn.Module, flip_tta: bool = False, shift_tta: bool = False, bf16: bool = True
    ) -> None:
        super().__init__(*layers, bf16=bf16)
        self.flip_tta, self.shift_tta = flip_tta, shift_tta

    def forward(self, x: Tensor) -> Tensor:
        if self.training or not (self.flip_tta or self.shift_tta):
            return super().forward(x)
        moves = SHIFTS if self.shift_tta else SHIFTS[:1]
        views = [translate(x, dy, dx) for dy, dx in moves]
        views += [v.flip(-1) for v in views] if self.flip_tta else []
        # One view at a time: ten views at once would take ten times the activations.
        mean = sum(super(Averaged, self).forward(v).softmax(1) for v in views) / len(views)
        return mean.clamp_min(1e-12).log()


SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (rows, columns); the first is no shift


def best(
    mean: float = 0.0,
    std: float = 1.0,
    widths: tuple[int, int, int] | list[int] = (32, 64, 128),
    flip_tta: bool = False,
    shift_tta: bool = False,
    bf16: bool = True,
    widen_after_pool: bool = False,
) -> nn.Sequential:
    """The `best` network; `widths` are the channels at 28×28, 14×14 and 7×7. With
    `widen_after_pool` the c2 → c3 convolution runs after the second max-pool, on a quarter
    of the pixels, for a cheaper step (the float32 recipe)."""
    c1, c2, c3 = widths
    widen, pool = conv_bn(c2, c3), [nn.MaxPool2d(2)]
    net = Averaged(
        Normalize(mean, std),
        *conv_bn(1, c1),
        nn.MaxPool2d(2),
        *conv_bn(c1, c2),
        Residual(c2),
        *(pool + widen if widen_after_pool else widen + pool),
        Residual(c3),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(c3, 10, bias=False),
        Scale(0.125),
        flip_tta=flip_tta,
        shift_tta=shift_tta,
        bf16=bf16,
    )
    return net.to(memory_format=torch.channels_last)


def translate(x: Tensor, dy: int, dx: int) -> Tensor:
    """Images (..., H, W) moved by (dy, dx) pixels, down and right for positive values; what
    moves into view is background (0). Shifts of at most a few pixels."""
    if not (dy or dx):
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + h, left : left + w]
