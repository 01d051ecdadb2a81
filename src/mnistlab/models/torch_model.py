"""`TorchModel`: the Model operations for torch networks (imported only when one is built)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from mnistlab import precision
from mnistlab.errors import MnistlabError
from mnistlab.models.model import Model


class TorchModel(Model):
    net: nn.Module

    @classmethod
    def build(cls, name: str, builder: Callable, seed: int, model_args: dict) -> TorchModel:
        with torch.random.fork_rng(devices=[]):  # the caller's random stream is left alone
            torch.manual_seed(seed)
            return cls(name, builder(**model_args), model_args)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode and no gradients; the mode it had (training, mid-epoch) comes back."""
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.net.train(was_training)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        xb = torch.from_numpy(x).to(self.device).unsqueeze(1)
        return torch.softmax(self.net(xb).float(), dim=1).cpu().numpy()

    def _look(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The layers up to the last Linear give the features, the rest the logits, under the
        autocast the network's own forward uses (mnistlab.models.fast.Bf16Sequential), so
        the probabilities are its forward's; a network that averages views in eval mode
        (`best`'s test-time augmentation) gives its averaged probabilities."""
        xb = torch.from_numpy(x).to(self.device).unsqueeze(1)
        bf16 = getattr(self.net, "bf16", False) and precision.compute_path(xb.device.type) == "bf16"
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=bf16):
            h, logits, maps = through(self.net, xb)
        averaged = getattr(self.net, "flip_tta", False) or getattr(self.net, "shift_tta", False)
        proba = torch.softmax(self.net(xb).float() if averaged else logits.float(), dim=1)
        return tuple(a.float().cpu().numpy() for a in (proba, h, logits, maps))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

    def load_arrays(self, arrays: dict[str, np.ndarray], source: object) -> None:
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in arrays.items()}
        try:
            self.net.load_state_dict(tensors, strict=True)
        except RuntimeError as e:
            detail = " ".join(str(e).split())[:300]
            raise MnistlabError(f"{source} does not fit the {self.name} model: {detail}") from None

    def to(self, device: str) -> TorchModel:
        self.net.to(device)
        return self

    def summary(self) -> list[dict]:
        rows, x = [], torch.zeros(1, 1, 28, 28, device=self.device)
        with self._inference():  # batch norm and dropout must not update or drop on the probe
            for layer in self.net.children():
                x = layer(x)
                rows.append({"layer": layer_label(layer), "output_shape": list(x.shape[1:]),
                             "params": sum(p.numel() for p in layer.parameters())})  # fmt: skip
        return rows

    def first_layer(self) -> tuple[str, np.ndarray]:
        modules = list(self.net.modules())
        conv = next((m for m in modules if isinstance(m, nn.Conv2d)), None)
        if conv is not None:
            return "conv", conv.weight.detach().cpu().numpy()[:, 0]
        linear = next((m for m in modules if isinstance(m, nn.Linear)), None)
        if linear is None:
            raise MnistlabError(f"model {self.name!r} has no Conv2d or Linear layer to show")
        return "dense", linear.weight.detach().cpu().numpy()

    def first_learned_layer(self) -> np.ndarray | None:
        """After a fixed first convolution, the next convolution's kernels seen from the pixels:
        each composed with the fixed kernels it reads, as if the ReLU between were not there.
        With `fast`'s stem of filter pairs (f, -f) that is exactly the linear part of what a
        kernel responds to, since w₊·relu(z) + w₋·relu(-z) = (w₊ - w₋)/2 · z + (w₊ + w₋)/2 · |z|.
        """
        convs = [m for m in self.net.modules() if isinstance(m, nn.Conv2d)]
        if not convs or convs[0].weight.requires_grad:
            return None
        if len(convs) < 2:
            raise MnistlabError(f"model {self.name!r} has no trained convolution to show")
        fixed, learned = convs[0], convs[1]
        with torch.no_grad():  # (K, C, 3, 3) ⊛ᵀ (C, 1, 5, 5), stride 2 → (K, 1, 9, 9)
            pixels = nn.functional.conv_transpose2d(
                learned.weight.float(), fixed.weight.float(), stride=fixed.stride
            )
        return pixels[:, 0].cpu().numpy()


def through(net: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(penultimate activations, logits, last convolutional map pooled to 2x2 and flattened)
    of a Sequential network, layer by layer; the map is (N, 0) for a network without one.
    The export traces this same function (mnistlab.prediction.export)."""
    layers = list(net)
    last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Linear))
    h, spatial = images, None
    for layer in layers[:last]:
        h = layer(h)
        if h.dim() == 4 and h.shape[1] > 1 and h.shape[-1] > 1:  # channels, not the image
            spatial = h
    logits = h
    for layer in layers[last:]:
        logits = layer(logits)
    if spatial is None:
        return h, logits, h.new_zeros((len(h), 0))
    return h, logits, quadrants(spatial)


def quadrants(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, C*4): each channel's mean over its four (overlapping, for odd
    sizes) quarters, as adaptive_avg_pool2d(maps, 2) gives, in slices any ONNX runtime runs."""
    height, width = maps.shape[-2:]
    rows = (slice(0, (height + 1) // 2), slice(height // 2, height))
    cols = (slice(0, (width + 1) // 2), slice(width // 2, width))
    return torch.stack([maps[..., r, c].mean((-2, -1)) for r in rows for c in cols], -1).flatten(1)


def layer_label(layer: nn.Module) -> str:
    """Short names for the table: "Conv2d(1 → 32, 2×2)" rather than PyTorch's full repr."""
    extra = layer.extra_repr()
    if isinstance(layer, nn.Linear):
        extra = f"{layer.in_features} → {layer.out_features}"
    elif isinstance(layer, nn.Conv2d):
        kernel = "×".join(map(str, layer.kernel_size))
        extra = f"{layer.in_channels} → {layer.out_channels}, {kernel}"
    elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
        extra = str(layer.kernel_size)
    elif isinstance(layer, nn.Flatten):
        extra = ""
    return f"{type(layer).__name__}({extra})" if extra else type(layer).__name__
