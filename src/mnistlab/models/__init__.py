"""Models by name: each model's recipe (`MODELS`), and `build_model`.

Adding a model is one `MODELS` entry: where its builder lives, its backend, and the
hyper-parameters `mnistlab train` uses when a flag is not given (the values every model
shares are training.settings.COMMON; what each one means is training.settings.Settings).
Builders and backends are imported on first use, so a NumPy run never imports torch.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.models.model import Model

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")  # nesterov: SGD, Nesterov momentum 0.9


@dataclass(frozen=True)
class Backend:
    """What a kind of network allows, so callers never ask which kind they hold."""

    wrapper: str  # "module:class", the Model subclass that runs it
    optimizers: tuple[str, ...] = OPTIMIZERS
    augmentation: bool = True  # --shift, --rotate, --scale, --erase, --flip
    label_smoothing: bool = True
    cpu_only: bool = False
    data_parallel: bool = (
        True  # several processes, gradients averaged (mnistlab.training.distributed)
    )


TORCH = Backend("mnistlab.models.torch_model:TorchModel")
NUMPY = Backend("mnistlab.models.model:NumpyModel", optimizers=("sgd", "nesterov"),
                augmentation=False, label_smoothing=False, cpu_only=True,
                data_parallel=False)  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    builder: str  # "module:function" returning the network; its keyword arguments = model_args
    defaults: dict  # training hyper-parameters used when a flag is not given; "model_args":
    # keyword arguments for the builder (mean and std come from the training images)
    about: str  # one line for --help and the summary title
    backend: Backend = TORCH
    per_dataset: dict = field(default_factory=dict)  # dataset name → defaults that differ there
    bf16: bool = False  # computes under bf16 autocast when mnistlab.precision's path is bf16
    per_precision: dict = field(default_factory=dict)  # "bf16"/"fp32" → defaults that differ
    any_size: bool = False  # the network takes images of any size (--grow-from)


# Each model's recipe. Why each value, and what it was worth on which CPU: docs/decisions/
# (fast.md, best.md, models.md for the others); accuracy and training time per CPU kind:
# bench/results/accuracy.jsonl. Times differ by up to 5× between CPU kinds, so a recipe
# fixes epochs, not seconds; `--budget` fixes seconds instead (mnistlab.training.budget).
MODELS: dict[str, ModelSpec] = {
    "numpy": ModelSpec(
        "mnistlab.models.numpy_net:build",
        dict(
            epochs=5,  # enough for its accuracy target on MNIST, in seconds
            batch_size=128,  # many updates per epoch while the matrix products stay efficient
            lr=0.1,  # with momentum 0.9 an effective step of 1.0; 0.05 measured no better
            optimizer="nesterov",
            schedule="cosine",
            # 256 units reach the accuracy of 512 in less time; ReLU (He init) learns
            # far faster than sigmoid. --hidden / --activation change them.
            model_args={"hidden": [256], "activation": "relu"},
        ),
        "from-scratch NumPy MLP 784 → 256 ReLU → 10, manual backprop",
        backend=NUMPY,
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
        # Shifts of up to 2 px help on digits but make it underfit clothes in 10 epochs, so
        # on for digits only (docs/decisions/models.md).
        per_dataset={"mnist": dict(shift=2)},
    ),
    "lenet5": ModelSpec(
        "mnistlab.models.torch_nets:lenet5",
        dict(
            epochs=12,
            batch_size=64,
            lr=0.05,
            optimizer="nesterov",
            schedule="cosine",
            weight_decay=5e-4,
        ),  # fmt: skip
        "LeNet-5 (LeCun et al. 1998): C1 S2 C3 S4 C5 F6, scaled tanh",
    ),
    "fast": ModelSpec(  # tuned for time to 99% test accuracy; docs/decisions/fast.md
        "mnistlab.models.fast:fast",
        dict(
            epochs=1,  # one pass is past 99%; a second adds little for twice the time
            batch_size=256,
            lr=0.01,  # the one-cycle peak
            optimizer="adam",
            betas=[0.7, 0.9],  # a short memory suits a run this short
            schedule="onecycle",
            label_smoothing=0.1,  # more test accuracy at no cost
            val_size=0,  # train on all 60,000 images; the test set is evaluated once, at the end
        ),
        "time-to-99% CNN: 5×5/2 conv → 3×3 conv → max-pool → dense 256, bf16",
        bf16=True,
        # Without bf16 units a step costs several times more, so each step is made cheaper:
        # narrower, a fixed whitened stem (no gradient through the first layer), the central
        # 24×24 only, dense 128; each kept while every seed ends above 99% (models/fast.py).
        per_precision={
            "fp32": dict(
                model_args={"widths": [16, 48], "dense": 128, "whitened_stem": True, "crop": 2}
            )
        },
    ),
    "best": ModelSpec(  # the most accurate; docs/decisions/best.md
        "mnistlab.models.best:best",
        dict(
            epochs=30,
            batch_size=256,
            lr=0.2,
            optimizer="nesterov",
            schedule="onecycle",
            weight_decay=5e-4,
            label_smoothing=0.1,
            val_size=0,  # all 60,000 images; the test set is evaluated once, at the end
            shift=2,
            rotate=10.0,
            scale=0.1,
        ),
        "compact residual CNN (3 stages, 2 residual blocks), augmentation, bf16",
        bf16=True,
        any_size=True,  # global max-pool before the dense layer
        per_dataset={
            "fashion-mnist": dict(
                rotate=0.0,
                scale=0.05,
                erase=0.5,
                flip=True,
                model_args={"flip_tta": True, "shift_tta": True},  # pays on clothes
            )
        },
        # Without bf16 units a step costs several times more and a budget, not 30 epochs,
        # sets the length of a run: cheaper epochs buy more of them (models/best.py).
        per_precision={
            "fp32": dict(grow_from=16, model_args={"widen_after_pool": True}),
        },
    ),
}
MODEL_NAMES = tuple(MODELS)


def get_model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise MnistlabError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return MODELS[name]


def build_model(name: str, seed: int = 0, **model_args) -> Model:
    """A freshly initialized model (`seed` fixes the initial weights); bad args → MnistlabError.
    Builder arguments not given are the recipe's ("model_args" of its defaults)."""
    spec = get_model_spec(name)
    model_args = {**spec.defaults.get("model_args", {}), **model_args}
    builder, wrapper = _imported(spec.builder), _imported(spec.backend.wrapper)
    try:
        inspect.signature(builder).bind(**model_args)
    except TypeError as e:
        raise MnistlabError(f"model {name!r} does not take these arguments: {e}") from None
    return wrapper.build(name, builder, seed, dict(model_args))


def _imported(where: str) -> Any:
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)


def pixel_stats(images: np.ndarray) -> dict:
    """{"mean", "std"} of uint8 pixels scaled to [0, 1], exact, from a 256-bin histogram.

    Counted a million pixels at a time: np.bincount converts its input to int64, and one
    int64 copy of all of MNIST's training images costs a fresh process page faults, time that
    `fast`'s time to accuracy counts (docs/decisions/fast.md). The counts are the same."""
    flat, counts = np.asarray(images).reshape(-1), np.zeros(256, np.int64)
    for i in range(0, flat.size, 1 << 20):
        counts += np.bincount(flat[i : i + (1 << 20)], minlength=256)
    counts = counts.astype(np.float64)
    values = np.arange(256) / 255.0
    mean = float(counts @ values / counts.sum())
    return {"mean": mean, "std": float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))}
