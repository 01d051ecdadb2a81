"""What every layer makes of one image: each convolution's feature maps, each dense layer's
units (as poloclub's CNN Explainer shows one input layer by layer).

A layer is shown by its `keep` strongest channels or units: a convolution's channels ranked
by their mean positive response (what the next ReLU lets through), a dense layer's units by
their activation. The shape says how many there are in all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistlab.models.model import Model, NumpyModel, as_unit_float

KEEP = 16  # channels or units shown per layer


@dataclass
class LayerMaps:
    name: str  # "conv 1: Conv2d(1 → 32, 5×5)", "dense 1: Dense(784 → 100) + relu"
    shape: list[int]  # the layer's whole output for one image: [C, H, W] or [units]
    maps: np.ndarray  # float32: the strongest channels' maps (K, H, W), or units' values (K,)
    channels: list[int]  # which channels or units `maps` holds, strongest first
    strength: list[float]  # each one's mean positive response (conv) or activation (dense)

    @property
    def kind(self) -> str:
        return "conv" if len(self.shape) == 3 else "dense"


def layer_maps(model: Model, image: np.ndarray, keep: int = KEEP) -> list[LayerMaps]:
    """The layers' responses to one image (28, 28), uint8 or float in [0, 1], in order."""
    x = as_unit_float(np.asarray(image)[None])
    if isinstance(model, NumpyModel):
        return _numpy_layers(model, x, keep)
    return _torch_layers(model, x, keep)


def _strongest(name: str, output: np.ndarray, keep: int) -> LayerMaps:
    """LayerMaps of one image's output (C, H, W) or (units,), its `keep` strongest first."""
    output = np.asarray(output, np.float32)
    strength = np.maximum(output, 0).mean(axis=(1, 2)) if output.ndim == 3 else output
    order = np.argsort(-strength, kind="stable")[:keep]
    return LayerMaps(name, list(output.shape), output[order], [int(i) for i in order],
                     [float(strength[i]) for i in order])  # fmt: skip


def _numpy_layers(model: NumpyModel, x: np.ndarray, keep: int) -> list[LayerMaps]:
    net = model.net
    with np.errstate(over="ignore", invalid="ignore"):
        outs = net._forward(x.reshape(1, -1))
    rows = model.summary()[1:]  # after the Normalize row, one per Dense layer
    return [_strongest(f"dense {i}: {rows[i - 1]['layer']}", outs[i][0], keep)
            for i in range(1, net.n_layers)]  # fmt: skip


def _torch_layers(model: Model, x: np.ndarray, keep: int) -> list[LayerMaps]:
    """Forward hooks on every Conv2d and every Linear but the last (which gives the logits);
    a network that averages views (`best`) is read on its first view, the image as it is."""
    import torch
    from torch import nn

    from mnistlab.models.torch_model import layer_label

    modules = [(n, m) for n, m in model.net.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if modules and isinstance(modules[-1][1], nn.Linear):
        modules = modules[:-1]
    seen: dict[str, np.ndarray] = {}
    counts = {"conv": 0, "dense": 0}
    names = {}
    for path, module in modules:
        kind = "conv" if isinstance(module, nn.Conv2d) else "dense"
        counts[kind] += 1
        names[path] = f"{kind} {counts[kind]}: {layer_label(module)}"

    def keeper(path: str):
        def hook(module, inputs, output):
            seen.setdefault(path, output[0].detach().float().cpu().numpy())

        return hook

    handles = [m.register_forward_hook(keeper(path)) for path, m in modules]
    try:
        with model._inference():
            model.net(torch.from_numpy(x).to(next(model.net.parameters()).device).unsqueeze(1))
    finally:
        for handle in handles:
            handle.remove()
    return [_strongest(names[path], seen[path], keep) for path, _ in modules if path in seen]
