"""A multilayer perceptron written from scratch in NumPy: forward pass, softmax cross-entropy,
hand-written back-propagation and SGD with momentum.

No torch in this module, on purpose: it is the model that shows the math. It still trains fast,
because every step is a few float32 matrix products over a whole mini-batch (no Python loops
over samples), and the API mirrors PyTorch's (forward, state_dict, an optimizer with step()).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from mnistlab.errors import MnistlabError

ACTIVATIONS = ("relu", "sigmoid")

# Pixel statistics of the MNIST training set. Inputs are standardized with these fixed constants
# inside the network (saved with the weights), so callers always pass raw [0, 1] pixels.
INPUT_MEAN, INPUT_STD = 0.1307, 0.3081


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # The tanh form never overflows, unlike 1 / (1 + exp(-z)) for very negative z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax, stable for huge logits: shift by the row maximum before exponentiating."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class NumpyNet:
    """784 → hidden... → 10 multilayer perceptron; the last layer outputs logits."""

    def __init__(
        self,
        hidden: Sequence[int],
        activation: str,
        n_in: int = 784,
        n_out: int = 10,
        seed: int = 0,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise MnistlabError(
                f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        sizes = [n_in, *hidden, n_out]
        if any(int(s) < 1 for s in sizes):
            raise MnistlabError(f"layer sizes must be positive, got {sizes}")
        self.activation, self.dtype = activation, np.dtype(dtype)
        self.sizes = [int(s) for s in sizes]
        rng = np.random.default_rng(seed)
        # He init keeps ReLU activations' variance constant layer to layer; Glorot does the same
        # for sigmoid's near-linear middle. Biases start at zero.
        self.params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(pairwise(self.sizes), start=1):
            std = np.sqrt(2.0 / fan_in if activation == "relu" else 2.0 / (fan_in + fan_out))
            self.params[f"W{i}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
        self.buffers = {
            "input_mean": np.array([INPUT_MEAN], dtype=dtype),
            "input_std": np.array([INPUT_STD], dtype=dtype),
        }

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _act(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0, out=z) if self.activation == "relu" else _sigmoid(z)

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output, input first and logits last (backprop needs them all)."""
        x = np.asarray(x, dtype=self.dtype).reshape(len(x), -1)
        h = (x - self.buffers["input_mean"]) / self.buffers["input_std"]
        outs = [h]
        for i in range(1, self.n_layers + 1):
            h = h @ self.params[f"W{i}"]
            h += self.params[f"b{i}"]
            if i < self.n_layers:
                h = self._act(h)
            outs.append(h)
        return outs

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, n_out) for float inputs (N, 784) in [0, 1]."""
        return self._forward(x)[-1]

    __call__ = forward

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_out) float32; rows sum to 1."""
        return np.exp(log_softmax(self.forward(x))).astype(np.float32)

    def backprop(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean softmax cross-entropy, its gradient for every parameter, and the logits."""
        outs = self._forward(x)
        logits, n = outs[-1], len(y)
        logp = log_softmax(logits)
        loss = -float(logp[np.arange(n), y].mean())
        # d(mean CE)/d(logits) = (softmax - one_hot) / N
        delta = np.exp(logp)
        delta[np.arange(n), y] -= 1
        delta /= n
        grads: dict[str, np.ndarray] = {}
        self._backward(outs, delta, grads)
        return loss, grads, logits

    def input_gradient(
        self, x: np.ndarray, targets: np.ndarray, temperature: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """d log softmax(logits / T)[target] / d x for inputs x (N, 784) in [0, 1], and the
        logits: how each pixel moves the (calibrated) log-probability of the class asked,
        by the same backward pass as training, carried one layer further, to the pixels."""
        outs = self._forward(x)
        logits, n = outs[-1], len(targets)
        # d log softmax(z / T)[t] / dz = (one_hot(t) - softmax(z / T)) / T
        delta = -np.exp(log_softmax(logits / np.asarray(temperature, logits.dtype)))
        delta[np.arange(n), targets] += 1
        delta /= temperature
        standardized = self._backward(outs, delta)
        return standardized / self.buffers["input_std"], logits  # h0 = (x - mean) / std

    def _backward(
        self, outs: list[np.ndarray], delta: np.ndarray, grads: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Carry d(out)/d(logits) back through the layers: each parameter's gradient into
        `grads` when given (training); without, the gradient of the standardized input."""
        for i in range(self.n_layers, 0, -1):
            if grads is not None:
                grads[f"W{i}"] = outs[i - 1].T @ delta
                grads[f"b{i}"] = delta.sum(axis=0)
            if i > 1 or grads is None:  # training needs no gradient of the input itself
                delta = delta @ self.params[f"W{i}"].T
            if i > 1:
                h = outs[i - 1]  # this layer's input is the previous layer's activation
                delta *= (h > 0) if self.activation == "relu" else h * (1 - h)
        return delta

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean softmax cross-entropy over the batch and its gradients (same keys as params)."""
        loss, grads, _ = self.backprop(x, y)
        return loss, grads

    def num_parameters(self) -> int:
        return sum(p.size for p in self.params.values())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights and the fixed input standardization, as arrays (ready for safetensors)."""
        return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays in place; keys and shapes must match exactly (strict, like PyTorch)."""
        _copy_exactly(
            state,
            {**self.params, **self.buffers},
            "weights do not fit this NumpyNet",
            keys_hint="; were they saved from another model?",
            shape_hint="; check the hidden sizes",
        )


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Same update as torch.optim.SGD (dampening 0): v = momentum * v + g, then
    p -= lr * (g + momentum * v) with Nesterov, or p -= lr * v without.
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.params, self.lr = params, lr
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.velocity = {k: np.zeros_like(p) for k, p in params.items()} if momentum else {}
        # One preallocated scratch array per parameter: a fresh temporary the size of W1 on
        # every step would cost about as much as the update itself.
        self._scratch = {k: np.empty_like(p) for k, p in params.items()}

    def _sub_scaled(self, k: str, scale: float, x: np.ndarray) -> None:
        """params[k] -= scale * x, without allocating."""
        np.multiply(x, scale, out=self._scratch[k])
        self.params[k] -= self._scratch[k]

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Update every parameter in place (so the network's arrays stay the same objects)."""
        for k, p in self.params.items():
            g = grads[k]
            if self.weight_decay:  # L2 penalty: g + weight_decay * p, built in the scratch array
                g = np.multiply(p, self.weight_decay, out=self._scratch[k])
                g += grads[k]
            if not self.momentum:
                self._sub_scaled(k, self.lr, g)
                continue
            v = self.velocity[k]
            v *= self.momentum
            v += g
            if self.nesterov:
                self._sub_scaled(k, self.lr, g)
                self._sub_scaled(k, self.lr * self.momentum, v)
            else:
                self._sub_scaled(k, self.lr, v)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Velocity buffers, one per parameter, so a resumed run continues exactly."""
        return {f"velocity.{k}": v.copy() for k, v in self.velocity.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        expected = {f"velocity.{k}": v for k, v in self.velocity.items()}
        _copy_exactly(state, expected, "optimizer state does not fit")


def _copy_exactly(
    state: dict[str, np.ndarray],
    into: dict[str, np.ndarray],
    problem: str,
    keys_hint: str = "",
    shape_hint: str = "",
) -> None:
    """Copy `state` into the arrays of `into`, in place; all or nothing: every key and shape
    is checked before the first copy, so a state that does not fit changes nothing."""
    missing, extra = sorted(into.keys() - state.keys()), sorted(state.keys() - into.keys())
    if missing or extra:
        raise MnistlabError(
            f"{problem}: missing {missing or 'none'}, unexpected {extra or 'none'}{keys_hint}"
        )
    for k, target in into.items():
        if np.shape(state[k]) != target.shape:
            raise MnistlabError(
                f"{problem}: {k} has shape {list(np.shape(state[k]))}, "
                f"expected {list(target.shape)}{shape_hint}"
            )
    for k, target in into.items():
        target[...] = state[k]


def build(
    hidden: Sequence[int],
    activation: str,
    mean: float | None = None,
    std: float | None = None,
    seed: int = 0,
) -> NumpyNet:
    """The registry's builder; mean/std (the training set's) replace the MNIST constants."""
    net = NumpyNet(hidden=tuple(hidden), activation=activation, seed=seed)
    if mean is not None:
        net.buffers["input_mean"][...] = mean
    if std is not None:
        net.buffers["input_std"][...] = std
    return net
