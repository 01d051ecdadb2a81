"""Augmentation of whole batches on the device: shifts, rotations, scaling, erasing, flips.

Every transform is drawn per image but computed for the batch at once (one `affine_grid` +
`grid_sample` for all geometric changes, masks for erasing), so augmenting costs a few
tensor operations per step instead of a Python loop over images. Both datasets have a black
background, so whatever moves into view is filled with 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class Augment:
    """What to vary; all zero means no augmentation."""

    shift: int = 0  # translate by up to N whole pixels along each axis
    rotate: float = 0.0  # rotate by up to ± N degrees
    scale: float = 0.0  # zoom by a factor in [1 - N, 1 + N]
    erase: float = 0.0  # probability of blanking one random rectangle (random erasing)
    flip: bool = False  # mirror half the images left to right (clothes, never digits)

    @property
    def geometric(self) -> bool:
        return bool(self.rotate or self.scale)

    def __bool__(self) -> bool:
        return bool(self.shift or self.geometric or self.erase or self.flip)


def augment(x: torch.Tensor, how: Augment) -> torch.Tensor:
    """Augmented copies of float images (N, 1, H, W); the random draws use torch's generator."""
    if how.geometric or (how.shift and how.flip):
        x = _affine(x, how)
    elif how.shift:
        x = shift_images(x, how.shift)
    elif how.flip:
        x = torch.where(torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5, x.flip(-1), x)
    if how.erase:
        x = _erase(x, how.erase)
    return x


def _affine(x: torch.Tensor, how: Augment) -> torch.Tensor:
    """One sampling pass for rotation, scale, shift and flip: theta maps output to input."""
    n, _, h, w = x.shape

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.empty(n, device=x.device).uniform_(low, high)

    angle = uniform(-how.rotate, how.rotate) * (math.pi / 180)
    zoom = uniform(1 - how.scale, 1 + how.scale)
    mirror = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if how.flip else torch.ones_like(zoom)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # Whole-pixel offsets, as without rotation or scale (shift_images): --shift means one thing.
    # One pixel is 2 / size in affine_grid's coordinates.
    dx, dy = (torch.randint(-how.shift, how.shift + 1, (n,), device=x.device) * (2 / size)
              for size in (w, h))  # fmt: skip
    # (N, 2, 3) in affine_grid's normalized [-1, 1] coordinates: mirror, then rotate and zoom.
    theta = torch.stack([torch.stack([cos * mirror, -sin, dx], 1),
                         torch.stack([sin * mirror, cos, dy], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _erase(x: torch.Tensor, p: float) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017): with probability p, one rectangle of 2-33% of the
    area and aspect ratio 0.3-3.3 is set to 0, so the net cannot rely on any single part."""
    n, _, h, w = x.shape
    area = torch.empty(n, device=x.device).uniform_(0.02, 0.33) * h * w
    ratio = torch.exp(torch.empty(n, device=x.device).uniform_(math.log(0.3), math.log(1 / 0.3)))
    eh = (area * ratio).sqrt().clamp(1, h).floor()
    ew = (area / ratio).sqrt().clamp(1, w).floor()
    top = (torch.rand(n, device=x.device) * (h - eh + 1)).floor()
    left = (torch.rand(n, device=x.device) * (w - ew + 1)).floor()
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
    )
    chosen = (torch.rand(n, device=x.device) < p).view(n, 1, 1)
    return x.masked_fill((inside & chosen).unsqueeze(1), 0.0)


def shift_images(images: torch.Tensor, shift: int) -> torch.Tensor:
    """Move each image (..., H, W) by its own random whole-pixel offset of up to `shift`
    pixels along each axis, filling with background: digits and clothes stay what they are
    when moved a little, so the net learns to ignore position instead of memorizing pixels."""
    *lead, h, w = images.shape
    flat = images.reshape(-1, h, w)
    n = len(flat)
    padded = F.pad(flat, (shift, shift, shift, shift))
    dy, dx = torch.randint(0, 2 * shift + 1, (2, n, 1, 1), device=images.device)
    rows = torch.arange(h, device=images.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=images.device).view(1, 1, w) + dx
    return padded[torch.arange(n, device=images.device).view(n, 1, 1), rows, cols].reshape(
        images.shape
    )
