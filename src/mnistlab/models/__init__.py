"""Models by name: the registry, a `Model` wrapper that predicts from raw images, `summary`.

Adding a model is one `MODELS` entry: where its builder lives and the hyper-parameters
`mnistlab train` uses when a flag is not given. Builders are imported on first use, so
loading a NumPy run never imports torch.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.models.numpy_net import DEFAULTS, NumpyNet


@dataclass(frozen=True)
class ModelSpec:
    builder: str  # "module:function" returning the network; its keyword arguments = model_args
    defaults: dict  # training hyper-parameters used when a flag is not given; "model_args":
    # keyword arguments for the builder (mean and std come from the training images)
    about: str  # one line for --help and the summary title
    per_dataset: dict = field(default_factory=dict)  # dataset name → defaults that differ there
    bf16: bool = False  # computes under bf16 autocast when mnistlab.precision's path is bf16
    per_precision: dict = field(default_factory=dict)  # "bf16"/"fp32" → defaults that differ


# Each model's recipe: its accuracy and training time per CPU kind are in the README
# (Performance) and bench/accuracy.py. Times differ by up to 5× between CPU kinds, so a
# recipe fixes epochs, not seconds; `--budget` fixes seconds instead (mnistlab.budget).
MODELS: dict[str, ModelSpec] = {
    "numpy": ModelSpec(
        "mnistlab.models:numpy_net",
        dict(epochs=5, batch_size=128, lr=0.1, optimizer="momentum", schedule="cosine"),
        "from-scratch NumPy MLP 784 → 256 ReLU → 10, manual backprop",
    ),
    "mlp": ModelSpec(
        "mnistlab.models.torch_nets:mlp",
        dict(epochs=10, batch_size=128, lr=1e-3, optimizer="adamw", schedule="cosine"),
        "PyTorch MLP 784 → 512 ReLU → 256 ReLU → 10",
    ),
    "cnn": ModelSpec(
        "mnistlab.models.torch_nets:cnn",
        dict(epochs=10, batch_size=128, lr=1e-3, optimizer="adamw", schedule="cosine"),
        "classic tutorial CNN: conv 2×2 → max-pool → dense 256 → 10",
        # Shifts of up to 2 px: MNIST 98.65% → 98.95%, but Fashion-MNIST 91.56% → 89.91%
        # (it underfits in 10 epochs), so on for digits only.
        per_dataset={"mnist": dict(augment=2)},
    ),
    "lenet5": ModelSpec(
        "mnistlab.models.torch_nets:lenet5",
        dict(
            epochs=12,
            batch_size=64,
            lr=0.05,
            optimizer="momentum",
            schedule="cosine",
            weight_decay=5e-4,
        ),  # fmt: skip
        "LeNet-5 (LeCun et al. 1998): C1 S2 C3 S4 C5 F6, scaled tanh",
    ),
    "fast": ModelSpec(  # tuned for time to 99% test accuracy; evidence: models/fast.py
        "mnistlab.models.fast:fast",
        dict(
            epochs=1,  # 99.2% after one pass; a second adds ~0.1% for twice the time
            batch_size=256,
            lr=0.01,  # the one-cycle peak
            optimizer="adam",
            betas=[0.7, 0.9],  # a short memory suits a run this short
            schedule="onecycle",
            label_smoothing=0.1,  # +0.2% test accuracy at no cost
            val_size=0,  # train on all 60,000 images; the test set is evaluated once, at the end
        ),
        "time-to-99% CNN: 5×5/2 conv → 3×3 conv → max-pool → dense 256, bf16",
        bf16=True,
        # Without bf16 units a step costs ~2.5× more: narrower, with a fixed whitened stem
        # (no gradient through the first layer), ~40% less time to 99% (models/fast.py).
        per_precision={"fp32": dict(model_args={"widths": [16, 48], "whitened_stem": True})},
    ),
    "best": ModelSpec(  # the most accurate; evidence: models/best.py and bench/accuracy.py
        "mnistlab.models.best:best",
        dict(
            epochs=30,
            batch_size=256,
            lr=0.2,
            optimizer="momentum",
            schedule="onecycle",
            weight_decay=5e-4,
            label_smoothing=0.1,
            val_size=0,  # all 60,000 images; the test set is evaluated once, at the end
            augment=2,
            rotate=10.0,
            scale=0.1,
        ),
        "compact residual CNN (3 stages, 2 residual blocks), augmentation, bf16",
        bf16=True,
        per_dataset={
            "fashion-mnist": dict(
                rotate=0.0,
                scale=0.05,
                erase=0.5,
                flip=True,
                model_args={"flip_tta": True, "shift_tta": True},  # +0.33 points
            )
        },
    ),
}
MODEL_NAMES = tuple(MODELS)


def numpy_net(
    hidden: list[int] | tuple[int, ...] = DEFAULTS["hidden"],
    activation: str = DEFAULTS["activation"],
    mean: float | None = None,
    std: float | None = None,
    seed: int = 0,
) -> NumpyNet:
    """The NumPy MLP; mean/std (the training set's) replace its built-in MNIST constants."""
    net = NumpyNet(hidden=tuple(hidden), activation=activation, seed=seed)
    if mean is not None:
        net.buffers["input_mean"][...] = mean
    if std is not None:
        net.buffers["input_std"][...] = std
    return net


def pixel_stats(images: np.ndarray) -> dict:
    """{"mean", "std"} of uint8 pixels scaled to [0, 1], exact, from a 256-bin histogram."""
    counts = np.bincount(np.asarray(images).ravel(), minlength=256).astype(np.float64)
    values = np.arange(256) / 255.0
    mean = float(counts @ values / counts.sum())
    return {"mean": mean, "std": float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))}


def get_model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise MnistlabError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return MODELS[name]


@dataclass
class Model:
    """A network plus what rebuilds it; predicts from raw images like a saved run would."""

    name: str
    net: Any  # torch.nn.Module, or NumpyNet for "numpy"
    model_args: dict = field(default_factory=dict)

    @property
    def is_torch(self) -> bool:
        return not isinstance(self.net, NumpyNet)

    def num_parameters(self) -> int:
        if self.is_torch:
            return sum(p.numel() for p in self.net.parameters())
        return self.net.num_parameters()

    def predict_proba(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities float32 (N, 10) for uint8 0..255 or float [0, 1] (N, 28, 28)."""
        x = _as_unit_float(images)
        chunks = [np.zeros((0, 10), np.float32)]
        if not self.is_torch:
            flat = x.reshape(len(x), 784)
            for i in range(0, len(x), batch_size):
                chunks.append(self.net.predict_proba(flat[i : i + batch_size]))
            return np.concatenate(chunks)
        import torch

        device = next(self.net.parameters()).device
        self.net.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[i : i + batch_size]).to(device).unsqueeze(1)
                chunks.append(torch.softmax(self.net(xb), dim=1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32)


def _as_unit_float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MnistlabError(f"images must have shape (N, 28, 28), got {list(images.shape)}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return np.ascontiguousarray(images, dtype=np.float32)


def build_model(name: str, seed: int = 0, **model_args) -> Model:
    """A freshly initialized model (`seed` fixes the initial weights); bad args → MnistlabError."""
    module, func = get_model_spec(name).builder.split(":")
    builder = getattr(importlib.import_module(module), func)
    try:
        inspect.signature(builder).bind(**model_args)
    except TypeError as e:
        raise MnistlabError(f"model {name!r} does not take these arguments: {e}") from None
    if "seed" in inspect.signature(builder).parameters:
        return Model(name, builder(seed=seed, **model_args), dict(model_args))
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Model(name, builder(**model_args), dict(model_args))


def init_from_data(model: Model, images: np.ndarray) -> None:
    """Data-dependent initialization before training, for networks that have one (`fast`'s
    whitened stem); the weights it sets are saved with the rest, so loading needs no data."""
    init = getattr(model.net, "init_from_data", None)
    if init is not None:
        init(images)


def summary(model: Model) -> list[dict]:
    """Keras-like rows: layer, output shape (without the batch axis), trainable parameters."""
    if not model.is_torch:
        return _numpy_summary(model.net)
    import torch

    net, rows = model.net, []
    x, was_training = torch.zeros(1, 1, 28, 28, device=next(net.parameters()).device), net.training
    net.eval()  # batch-norm and dropout layers must not update or drop on the probe image
    with torch.no_grad():
        for layer in net.children():
            x = layer(x)
            rows.append(
                {
                    "layer": _layer_label(layer),
                    "output_shape": list(x.shape[1:]),
                    "params": sum(p.numel() for p in layer.parameters()),
                }
            )
    net.train(was_training)
    return rows


def _numpy_summary(net: NumpyNet) -> list[dict]:
    mean, std = (float(net.buffers[k][0]) for k in ("input_mean", "input_std"))
    rows = [
        {"layer": f"Normalize(mean={mean:.4f}, std={std:.4f})", "output_shape": [784], "params": 0}
    ]
    for i in range(1, net.n_layers + 1):
        n_in, n_out = net.params[f"W{i}"].shape
        act = f" + {net.activation}" if i < net.n_layers else ""
        params = net.params[f"W{i}"].size + net.params[f"b{i}"].size
        rows.append(
            {
                "layer": f"Dense({n_in} → {n_out}){act}",
                "output_shape": [n_out],
                "params": int(params),
            }
        )
    return rows


def _layer_label(layer) -> str:
    """Short names for the table: "Conv2d(1 → 32, 2×2)" rather than PyTorch's full repr."""
    from torch import nn

    extra = layer.extra_repr()
    if isinstance(layer, nn.Linear):
        extra = f"{layer.in_features} → {layer.out_features}"
    elif isinstance(layer, nn.Conv2d):
        extra = (
            f"{layer.in_channels} → {layer.out_channels}, {'×'.join(map(str, layer.kernel_size))}"
        )
    elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
        extra = str(layer.kernel_size)
    elif isinstance(layer, nn.Flatten):
        extra = ""
    return f"{type(layer).__name__}({extra})" if extra else type(layer).__name__
