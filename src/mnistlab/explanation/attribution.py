"""Which pixels raise and which lower a class: Integrated Gradients (Sundararajan et al. 2017).

The attribution of pixel i to class c is x_i times the mean, along the straight path from a
blank image (no ink) to x, of d log p_c / d x_i, with p the temperature-scaled probabilities
(softmax of the network's output over the run's temperature; a run's top map, which only
re-weighs the top class against the rest, is left out). Positive pixels raise the
class, negative ones lower it, and the pixels sum to log p_c(x) - log p_c(blank): the
attribution accounts for the whole answer, not just its local slope.

Torch networks go through Captum (a well-kept implementation); the NumPy network through its
own hand-written backward pass (NumpyNet.input_gradient), the teaching model showing the
gradient it computes itself. Both take the same path and steps (midpoint Riemann sum).
"""

from __future__ import annotations

import numpy as np

from mnistlab.models.model import Model, NumpyModel, as_unit_float

STEPS = 32  # points on the path; the sum of the pixels is within a few % of its exact value
CHUNK = 8  # images per NumPy batch of STEPS rows each: 256 rows, like a prediction batch


def attribute(
    model: Model,
    images: np.ndarray,
    targets: np.ndarray,
    temperature: float = 1.0,
    steps: int = STEPS,
) -> np.ndarray:
    """Signed attributions float32 (N, 28, 28) of images (N, 28, 28) (uint8, or float in
    [0, 1]) to the classes `targets` (N,): positive pixels raise the class's calibrated
    log-probability, negative ones lower it."""
    x = as_unit_float(images)
    targets = np.ascontiguousarray(targets, dtype=np.int64).reshape(-1)
    if len(targets) != len(x):
        raise ValueError(f"{len(x)} images but {len(targets)} targets")
    if len(x) == 0:
        return np.zeros((0, 28, 28), np.float32)
    if isinstance(model, NumpyModel):
        return _numpy(model, x, targets, temperature, steps)
    return _captum(model, x, targets, temperature, steps)


def _alphas(steps: int) -> np.ndarray:
    return (np.arange(steps, dtype=np.float32) + 0.5) / steps  # Captum's "riemann_middle"


def _numpy(model: NumpyModel, x: np.ndarray, targets: np.ndarray, temperature: float,
           steps: int) -> np.ndarray:  # fmt: skip
    alphas, flat, out = _alphas(steps), x.reshape(len(x), -1), []
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, len(x), CHUNK):
            chunk, t = flat[i : i + CHUNK], targets[i : i + CHUNK]
            path = (alphas[None, :, None] * chunk[:, None, :]).reshape(-1, flat.shape[1])
            grad, _ = model.net.input_gradient(path, np.repeat(t, steps), temperature)
            out.append(chunk * grad.reshape(len(chunk), steps, -1).mean(axis=1))
    return np.concatenate(out).reshape(x.shape).astype(np.float32)


def _captum(model: Model, x: np.ndarray, targets: np.ndarray, temperature: float,
            steps: int) -> np.ndarray:  # fmt: skip
    import torch
    from captum.attr import IntegratedGradients

    net = model.net

    def log_proba(batch: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(net(batch).float() / temperature, dim=1)

    device = next(net.parameters()).device
    ig, out = IntegratedGradients(log_proba), []
    was_training = net.training
    net.eval()  # batch norm's running statistics, `best`'s averaged views: as predicted
    try:
        with torch.enable_grad():
            for i in range(0, len(x), CHUNK):  # CHUNK images, STEPS points each, per pass
                xb = torch.from_numpy(x[i : i + CHUNK]).to(device).unsqueeze(1)
                t = torch.from_numpy(targets[i : i + CHUNK]).to(device)
                found = ig.attribute(xb, baselines=0.0, target=t, n_steps=steps,
                                     method="riemann_middle")  # fmt: skip
                out.append(found.detach().float().cpu().numpy()[:, 0])
    finally:
        net.train(was_training)
    return np.concatenate(out)
