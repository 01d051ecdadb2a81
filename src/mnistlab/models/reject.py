"""The reject rule: does an image look like one of the classes the run learned, or not?

The top probability alone tells letters from digits poorly (Hendrycks & Gimpel 2017), so the
rule reads more of the model: its penultimate activations, whitened with the training
images' shared covariance (the space of a Mahalanobis distance, Lee et al. 2018), the
distance to the nearest class mean there, the energy of the logits (Liu et al. 2020), the
calibrated top probability and its margin, the last convolutional map at 2x2 (where the
strokes are, which the penultimate layer of a digit reader has mostly thrown away), and the
image itself at 14x14. A small MLP,
trained by hand (mnistlab.models.numpy_net) on training digits, some redrawn or printed on
people's forms, against made-up non-digits (mnistlab.data.outliers, all preprocessed like
people's images; prediction/calibrate.py fits it),
turns them into one score: the log-odds that the image is not one of the classes. Images
scoring above the threshold, which keeps a set share of held-out digits (99%), are refused.
Every model family gives these inputs, so the rule fits every run, old ones included.

The arrays live in RUN_DIR/reject.safetensors, the threshold in calibration.json; the ONNX
export computes the same score in its graph (prediction/export.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistlab.models import calibration

NOT_LIKE = "not like any training image"
TOO_LITTLE_INK = "too little ink: a dot or a short stroke"
UNSURE = "unsure between {} and {}"  # the two most likely classes
POOL = 2  # the image enters the MLP average-pooled 2x2: 14x14
SCALARS = 4  # log distance, energy / 10, top probability, margin


@dataclass
class RejectRule:
    arrays: dict[str, np.ndarray]  # feature_mean, whiten, class_means, input_mean/std, W1..b2
    threshold: float  # scores above it are refused
    unsure: float  # a calibrated top probability below it: "unsure between a and b"

    def inputs(self, images: np.ndarray, proba: np.ndarray, features: np.ndarray,
               logits: np.ndarray, maps: np.ndarray) -> np.ndarray:  # fmt: skip
        """The MLP's input per image, standardized: whitened features, the scalars, the
        convolutional map (a rule fitted before it read one has no `map_width`), pixels."""
        a = self.arrays
        z = (features - a["feature_mean"]) @ a["whiten"]
        d = z.shape[1]
        distance = ((z[:, None, :] - a["class_means"][None]) ** 2).sum(-1).min(1) / d
        top2 = np.sort(proba, axis=1)[:, -2:]
        energy = -_logsumexp(logits)
        scalars = np.stack([np.log(distance + 1e-6), energy / 10, top2[:, 1],
                            top2[:, 1] - top2[:, 0]], axis=1)  # fmt: skip
        maps = maps if "map_width" in a else maps[:, :0]
        x = np.concatenate([z / np.sqrt(d), scalars, maps, pooled(images)], axis=1)
        return ((x - a["input_mean"]) / a["input_std"]).astype(np.float32)

    def score(self, images, proba, features, logits, maps) -> np.ndarray:
        """The log-odds that each image is not one of the classes (float32 (N,))."""
        return mlp_score(self.arrays, self.inputs(images, proba, features, logits, maps))

    def scored(self, model, images: np.ndarray, calibrated: calibration.Calibration
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(calibrated probabilities, scores) of model-ready images, from one pass."""
        seen = model.look(images)
        proba = calibrated(seen.proba)
        return proba, self.score(images, proba, seen.features, seen.logits, seen.maps)

    def selective_on(self, model, images: np.ndarray, labels: np.ndarray,
                     calibrated: calibration.Calibration) -> dict:  # fmt: skip
        """metrics.json's "reject" (`selective`) for model-ready images of known class."""
        proba, scores = self.scored(model, images, calibrated)
        return selective(scores, proba, labels, self.threshold, self.unsure)

    def reason(self, proba: np.ndarray, score: float, classes) -> str | None:
        """Why one answer is refused, or None when it is accepted."""
        if score > self.threshold:
            return NOT_LIKE
        order = np.argsort(proba)[::-1]
        if proba[order[0]] < self.unsure:
            return UNSURE.format(classes[order[0]], classes[order[1]])
        return None


def pooled(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 or [0, 1] images as (N, 196) 2x2 means in [0, 1]."""
    x = np.asarray(images, np.float32)
    x = x / 255 if np.asarray(images).dtype == np.uint8 else x
    n, side = len(x), 28 // POOL
    return x.reshape(n, side, POOL, side, POOL).mean(axis=(2, 4)).reshape(n, side * side)


def mlp_score(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """ReLU hidden layer, two outputs (digit, not): their difference, the log-odds."""
    h = np.maximum(x @ arrays["W1"] + arrays["b1"], 0)
    out = h @ arrays["W2"] + arrays["b2"]
    return (out[:, 1] - out[:, 0]).astype(np.float32)


def whitening(features: np.ndarray, labels: np.ndarray, classes: int) -> dict[str, np.ndarray]:
    """Mean, whitening matrix (the Cholesky factor of the shrunk shared within-class
    precision) and whitened class means of training features."""
    features = features.astype(np.float64)
    mean = features.mean(axis=0)
    class_means = np.stack([features[labels == c].mean(axis=0) for c in range(classes)])
    within = features - class_means[labels]
    cov = within.T @ within / len(features)
    d = cov.shape[0]
    # Dead ReLU units have no variance: a little of the average variance keeps it invertible.
    cov += 0.01 * max(np.trace(cov) / d, 1e-12) * np.eye(d)
    whiten = np.linalg.cholesky(np.linalg.inv(cov))
    return {"feature_mean": mean.astype(np.float32), "whiten": whiten.astype(np.float32),
            "class_means": ((class_means - mean) @ whiten).astype(np.float32)}  # fmt: skip


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


def selective(scores: np.ndarray, proba: np.ndarray, labels: np.ndarray, threshold: float,
              unsure: float) -> dict:  # fmt: skip
    """metrics.json's "reject": how many model-ready images of known class the rule accepts
    and flags (not like any training image; unsure), and how often the accepted are right."""
    not_like = scores > threshold
    unsure_ones = ~not_like & (proba.max(axis=1) < unsure)
    accepted = ~(not_like | unsure_ones)
    right = proba.argmax(axis=1) == labels
    return {
        "accepted": int(accepted.sum()),
        "flagged": int((~accepted).sum()),
        "flagged_not_like": int(not_like.sum()),
        "flagged_unsure": int(unsure_ones.sum()),
        "coverage": float(accepted.mean()) if len(labels) else None,
        "accuracy_accepted": float(right[accepted].mean()) if accepted.any() else None,
        "accuracy_flagged": float(right[~accepted].mean()) if (~accepted).any() else None,
    }
