"""Calibrated probabilities: temperature scaling (Guo et al. 2017), NLL, ECE and reliability.

A network trained with label smoothing (`fast`, `best`) caps its top probability, so "90%
sure" from it means right 99% of the time. One scalar T fixes most of that: the calibrated
probabilities are softmax(log p / T), fitted by minimising the NLL on images the network did
not train on. It works on probabilities, not logits, so it applies to every model the same
way (the NumPy net, a torch net, `best`'s averaged views, an onnxruntime session): for a
plain softmax, log p is the logits minus a per-image constant, so this is exactly logits / T.
The ranking of the classes, hence the accuracy, never changes.
"""

from __future__ import annotations

import numpy as np

BINS = 15  # equal-width bins of the top probability for ECE, as in Guo et al. 2017
PROB_FLOOR = 1e-7  # probabilities are clipped here: one confident mistake cannot make NLL inf
LOG_FLOOR = np.float32(1e-38)  # probabilities that underflowed to 0 stay finite under log
T_RANGE = (0.02, 50.0)


def scaled(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) row by row, float32; T = 1 gives the probabilities back."""
    proba = np.asarray(proba, np.float32)
    if temperature == 1.0:
        return proba
    z = np.log(np.maximum(proba, LOG_FLOOR)) / np.float32(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def nll(proba: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class, of the clipped, renormalized
    probabilities: the one loss of metrics.json and history.csv (evaluation.scores)."""
    p = np.clip(np.asarray(proba, np.float64), PROB_FLOOR, 1.0)
    p /= p.sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(labels)), labels]).mean())


def fit_temperature(proba: np.ndarray, labels: np.ndarray) -> float:
    """The T in T_RANGE that minimises the NLL of scaled(proba, T): one scalar, found by a
    bounded search over log T (the NLL is smooth and has one minimum there)."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.maximum(np.asarray(proba, np.float64), 1e-300))
    labels = np.asarray(labels)

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float((log_norm - z[np.arange(len(labels)), labels]).mean())

    found = minimize_scalar(loss, bounds=np.log(T_RANGE), method="bounded",
                            options={"xatol": 1e-5})  # fmt: skip
    return float(np.exp(found.x))


def reliability(proba: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """Per equal-width bin of the top probability: images, mean confidence, accuracy (None
    where empty). Bin i holds confidences in (i/bins, (i+1)/bins]."""
    proba = np.asarray(proba)
    confidence = proba.max(axis=1).astype(np.float64)
    right = proba.argmax(axis=1) == np.asarray(labels)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    right_sum = np.bincount(index, weights=right.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, accuracy = conf_sum / counts, right_sum / counts
    return {
        "counts": counts.tolist(),
        "confidence": [
            None if n == 0 else float(c) for n, c in zip(counts, mean_conf, strict=True)
        ],
        "accuracy": [None if n == 0 else float(a) for n, a in zip(counts, accuracy, strict=True)],
    }


def ece(proba: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: the bins' |accuracy - confidence|, weighted by their share
    of the images."""
    table = reliability(proba, labels, bins)
    total = max(sum(table["counts"]), 1)
    return float(sum(n / total * abs(a - c) for n, a, c in
                     zip(table["counts"], table["accuracy"], table["confidence"], strict=True)
                     if n))  # fmt: skip


def summary(proba: np.ndarray, labels: np.ndarray, temperature: float, bins: int = BINS) -> dict:
    """metrics.json's "calibration": the temperature, and NLL and ECE after and before it."""
    after = scaled(proba, temperature)
    return {
        "temperature": float(temperature),
        "nll": nll(after, labels),
        "ece": ece(after, labels, bins),
        "nll_before": nll(proba, labels),
        "ece_before": ece(proba, labels, bins),
        "bins": bins,
    }


def fitted(proba: np.ndarray, labels: np.ndarray, fitted_on: str) -> dict:
    """calibration.json's temperature part: T fitted on a held-out split (`fitted_on` names
    it), with that split's figures."""
    temperature = fit_temperature(proba, labels)
    return {"fitted_on": fitted_on, "images": len(labels), **summary(proba, labels, temperature)}
