"""`Model`: a network plus what rebuilds it, predicting from raw images like a saved run.

Everything after training (the run folder, evaluation, prediction, serving) holds a Model and
calls the same few methods, whatever the network's backend: the NumPy net here, torch nets in
mnistlab.models.torch_model. So no caller asks which backend it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.models.numpy_net import NumpyNet

# Images per forward pass. 256 keeps a convolution's activations under glibc's 32 MB mmap
# ceiling (mnistlab.memory), so they are reused rather than faulted in afresh each pass:
# quicker than 1,000 for the convolutional nets (`best`, `cnn`), as quick for the small ones
# (docs/decisions/training-speed.md).
PREDICT_BATCH = 256


class Seen(NamedTuple):
    """What one pass of a network makes of images, for the reject rule (all float32):
    probabilities, penultimate activations (N, D), logits (N, 10), and the last
    convolutional map average-pooled to 2x2 (N, C*4; (N, 0) for a network without one)."""

    proba: np.ndarray
    features: np.ndarray
    logits: np.ndarray
    maps: np.ndarray


@dataclass
class Model(ABC):
    name: str
    net: Any  # the backend's network: a NumpyNet or a torch.nn.Module
    model_args: dict = field(default_factory=dict)

    def predict_proba(self, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Class probabilities float32 (N, 10) for uint8 0..255 or float [0, 1] (N, 28, 28).

        The one prediction path: training's validation and test figures, `evaluate`,
        `predict` and the server all come from here."""
        with self._inference():
            return in_batches(self._proba, as_unit_float(images), batch_size)

    def predict_features(
        self, images: np.ndarray, batch_size: int = PREDICT_BATCH
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """predict_proba's probabilities, with the penultimate layer's activations (N, D) and
        the logits (N, 10) of the image as it is (no test-time views), from the same pass."""
        return self.look(images, batch_size)[:3]

    def look(self, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> Seen:
        """predict_features' three arrays and the last convolutional map, from the same pass:
        what the reject rule (mnistlab.models.reject) reads."""
        x = as_unit_float(images)
        parts: list[list[np.ndarray]] = [[], [], [], []]
        with self._inference():
            # An empty batch still gets the right widths: one blank image's, none of its rows.
            for i in range(0, max(len(x), 1), batch_size):
                chunk = x[i : i + batch_size] if len(x) else np.zeros((1, 28, 28), np.float32)
                for part, a in zip(parts, self._look(chunk), strict=True):
                    part.append(np.asarray(a, np.float32)[: len(x)])
        return Seen(*(np.concatenate(part) for part in parts))

    @abstractmethod
    def _look(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Seen's four arrays for float images in [0, 1]."""

    @classmethod
    @abstractmethod
    def build(cls, name: str, builder: Callable, seed: int, model_args: dict) -> Model:
        """A fresh model from its builder, with initial weights fixed by `seed`."""

    @abstractmethod
    def _inference(self) -> Any:
        """A context in which forward passes neither train nor record gradients."""

    @abstractmethod
    def _proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for float images (n, 28, 28) in [0, 1]."""

    @abstractmethod
    def num_parameters(self) -> int: ...

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """Weights and fixed buffers as named float arrays (what model.safetensors holds)."""

    @abstractmethod
    def load_arrays(self, arrays: dict[str, np.ndarray], source: object) -> None:
        """Copy saved arrays in; names or shapes that do not fit → MnistlabError naming source."""

    @abstractmethod
    def to(self, device: str) -> Model: ...

    @abstractmethod
    def summary(self) -> list[dict]:
        """Keras-like rows: layer, output shape (without the batch axis), parameters."""

    @abstractmethod
    def first_layer(self) -> tuple[str, np.ndarray]:
        """("conv", kernels (K, h, w) of the first input channel) or ("dense", rows (K, 784))."""

    def first_learned_layer(self) -> np.ndarray | None:
        """None when training sets first_layer's weights; when it does not (`fast`'s whitened
        stem is set from the data and never trained), the first layer training does set, as
        kernels (K, h, w) over the pixels (mnistlab.models.torch_model)."""
        return None

    def init_from_data(self, images: np.ndarray) -> None:
        """Data-dependent initialization before training (`fast`'s whitened stem); the weights
        it sets are saved with the rest, so loading needs no data. Most networks have none."""
        init = getattr(self.net, "init_from_data", None)
        if init is not None:
            init(images)


class NumpyModel(Model):
    """The from-scratch MLP (mnistlab.models.numpy_net): no torch anywhere on this path."""

    net: NumpyNet

    @classmethod
    def build(cls, name: str, builder: Callable, seed: int, model_args: dict) -> NumpyModel:
        return cls(name, builder(seed=seed, **model_args), model_args)

    def _inference(self) -> Any:
        return np.errstate(over="ignore", invalid="ignore")  # a diverged net predicts NaN

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return self.net.predict_proba(x.reshape(len(x), -1))

    def _look(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        outs = self.net._forward(x.reshape(len(x), -1))
        logits = outs[-1]
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        no_map = np.zeros((len(x), 0), np.float32)
        return shifted / shifted.sum(axis=1, keepdims=True), outs[-2], logits, no_map

    def num_parameters(self) -> int:
        return self.net.num_parameters()

    def arrays(self) -> dict[str, np.ndarray]:
        return self.net.state_dict()

    def load_arrays(self, arrays: dict[str, np.ndarray], source: object) -> None:
        try:
            self.net.load_state_dict(arrays)
        except MnistlabError as e:
            raise MnistlabError(f"{source}: {e}") from None

    def to(self, device: str) -> NumpyModel:
        if device != "cpu":
            raise MnistlabError(f"the {self.name} model runs on the CPU only, not {device}")
        return self

    def summary(self) -> list[dict]:
        net = self.net
        mean, std = (float(net.buffers[k][0]) for k in ("input_mean", "input_std"))
        rows = [{"layer": f"Normalize(mean={mean:.4f}, std={std:.4f})", "output_shape": [784],
                 "params": 0}]  # fmt: skip
        for i in range(1, net.n_layers + 1):
            n_in, n_out = net.params[f"W{i}"].shape
            act = f" + {net.activation}" if i < net.n_layers else ""
            params = net.params[f"W{i}"].size + net.params[f"b{i}"].size
            rows.append({"layer": f"Dense({n_in} → {n_out}){act}", "output_shape": [n_out],
                         "params": int(params)})  # fmt: skip
        return rows

    def first_layer(self) -> tuple[str, np.ndarray]:
        return "dense", np.asarray(self.net.params["W1"]).T


def in_batches(proba: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
               batch_size: int) -> np.ndarray:  # fmt: skip
    """`proba` over `x` in chunks of `batch_size` (bounded memory), as one float32 (N, 10)."""
    chunks = [np.zeros((0, 10), np.float32)]
    chunks += [proba(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(chunks).astype(np.float32)


def as_unit_float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MnistlabError(f"images must have shape (N, 28, 28), got {list(images.shape)}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return np.ascontiguousarray(images, dtype=np.float32)
