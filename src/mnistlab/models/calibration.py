"""Calibrated probabilities: temperature scaling (Guo et al. 2017), NLL, ECE and reliability.

A network trained with label smoothing (`fast`, `best`) caps its top probability, so "90%
sure" from it means right 99% of the time. One scalar T fixes most of that: the calibrated
probabilities are softmax(log p / T), fitted by minimising the NLL on images the network did
not train on. It works on probabilities, not logits, so it applies to every model the same
way (the NumPy net, a torch net, `best`'s averaged views, an onnxruntime session): for a
plain softmax, log p is the logits minus a per-image constant, so this is exactly logits / T.
The ranking of the classes, hence the accuracy, never changes.

Where one temperature is not enough (label smoothing bends the reliability curve: `fast` on
Fashion-MNIST stays overconfident between 0.4 and 0.9 whatever T), a second step maps the
top probability c to sigmoid(a ln c - b ln(1 - c) + d) (beta calibration, Kull et al. 2017,
on the top label), spreading the rest over the other classes as before. Runs trained with label
smoothing get it (Müller et al. 2019: smoothing erases what the temperature would need);
for the others it changed the test ECE only within its noise. The top class stays the top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 15  # equal-width bins of the top probability for ECE, as in Guo et al. 2017
PROB_FLOOR = 1e-7  # probabilities are clipped here: one confident mistake cannot make NLL inf
LOG_FLOOR = np.float32(1e-38)  # probabilities that underflowed to 0 stay finite under log
T_RANGE = (0.02, 50.0)
EDGE = 1e-6  # the top probability is read in [EDGE, 1 - EDGE] by the top map: logs stay finite
KEEP_TOP = np.float32(1.001)  # the mapped top stays this far above where the runner-up ties


@dataclass(frozen=True)
class Calibration:
    """What makes a run's probabilities calibrated: the temperature, then the top map
    (a, b, d) where the run has one. Calling it calibrates probabilities."""

    temperature: float = 1.0
    top_map: tuple[float, float, float] | None = None

    @classmethod
    def of(cls, found: dict | None) -> Calibration:
        """From calibration.json's content (None: a run calibrated by no one, identity)."""
        if not found:
            return cls()
        top = found.get("top_map")
        return cls(float(found["temperature"]), tuple(float(v) for v in top) if top else None)

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        return top_mapped(scaled(proba, self.temperature), self.top_map)


def scaled(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) row by row, float32; T = 1 gives the probabilities back."""
    proba = np.asarray(proba, np.float32)
    if temperature == 1.0:
        return proba
    z = np.log(np.maximum(proba, LOG_FLOOR)) / np.float32(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def top_mapped(proba: np.ndarray, top_map: tuple[float, float, float] | None) -> np.ndarray:
    """Each row's top probability c becomes g = sigmoid(a ln c - b ln(1 - c) + d), the other
    classes share 1 - g as they shared 1 - c; g never falls to the runner-up's new value, so
    the answer stays. float32, as the ONNX graph computes it (prediction.export)."""
    if top_map is None:
        return np.asarray(proba, np.float32)
    a, b, d = (np.float32(v) for v in top_map)
    p = np.asarray(proba, np.float32)
    rows, top = np.arange(len(p)), p.argmax(axis=1)
    first, second = p[rows, top], np.partition(p, -2, axis=1)[:, -2]
    c = np.clip(first, np.float32(EDGE), np.float32(1 - EDGE))
    g = 1 / (1 + np.exp(-(a * np.log(c) - b * np.log(1 - c) + d)))
    g = np.minimum(np.maximum(g, KEEP_TOP * second / (1 - first + second)), 1)
    out = p * ((1 - g) / np.maximum(1 - first, np.float32(EDGE)))[:, None]
    out[rows, top] = g
    return out.astype(np.float32)


def fit_top_map(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(a, b, d) of top_mapped by logistic regression of "the answer is right" on ln c and
    -ln(1 - c), with a, b >= 0 so that the map rises with c."""
    from scipy.optimize import minimize

    p = np.asarray(proba, np.float64)
    c = np.clip(p.max(axis=1), EDGE, 1 - EDGE)
    x = np.c_[np.log(c), -np.log1p(-c)]
    right = (p.argmax(axis=1) == np.asarray(labels)).astype(np.float64)

    def loss(w: np.ndarray) -> float:
        z = x @ w[:2] + w[2]
        return float(np.mean(np.logaddexp(0, z) - right * z))

    found = minimize(loss, np.array([1.0, 1.0, 0.0]), method="L-BFGS-B",
                     bounds=[(0, None), (0, None), (None, None)])  # fmt: skip
    return tuple(float(v) for v in found.x)


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


def summary(proba: np.ndarray, labels: np.ndarray, calibrated: Calibration, bins: int = BINS
            ) -> dict:  # fmt: skip
    """metrics.json's "calibration": the temperature and top map, and NLL and ECE after and
    before them."""
    after = calibrated(proba)
    return {
        "temperature": float(calibrated.temperature),
        "top_map": list(calibrated.top_map) if calibrated.top_map else None,
        "nll": nll(after, labels),
        "ece": ece(after, labels, bins),
        "nll_before": nll(proba, labels),
        "ece_before": ece(proba, labels, bins),
        "bins": bins,
    }


def fitted(proba: np.ndarray, labels: np.ndarray, fitted_on: str, top_map: bool = False
           ) -> dict:  # fmt: skip
    """calibration.json's calibration part: T fitted on a held-out split (`fitted_on` names
    it), then with `top_map` the top map, with that split's figures."""
    temperature = fit_temperature(proba, labels)
    top = fit_top_map(scaled(proba, temperature), labels) if top_map else None
    found = summary(proba, labels, Calibration(temperature, top))
    return {"fitted_on": fitted_on, "images": len(labels), **found}
