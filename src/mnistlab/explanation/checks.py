"""Do the explanations mean anything? Three checks, one definition for the tests and for
bench/explain.py (which runs them on 500 test images and records the figures).

- sanity (Adebayo et al. 2018): a trained network's attributions and those of the same
  network with freshly initialised weights must differ; they are compared by the Spearman
  rank correlation of their pixels, image by image.
- deletion: removing the image's most attributed ink pixels must lower the predicted
  class's probability more than removing as many ink pixels at random.
- neighbours: the nearest training images of a rightly classified test image share its label.
"""

from __future__ import annotations

import numpy as np

from mnistlab.explanation.attribution import attribute
from mnistlab.explanation.neighbors import NeighborIndex
from mnistlab.models import calibration
from mnistlab.models.model import Model

INK = 0.1  # a pixel above this, in [0, 1], is ink


def spearman(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of images of a and b (N, 28, 28), over the
    pixels `where` (N, 28, 28) is true."""
    from scipy.stats import spearmanr

    return np.array([spearmanr(x[m], y[m]).statistic for x, y, m in zip(a, b, where, strict=True)])


def sanity(trained: Model, reinitialised: Model, images: np.ndarray, temperature: float = 1.0
           ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per image, the Spearman correlation of the trained and the re-initialised network's
    attributions to the trained network's answer, signed and of their absolute values (as
    Adebayo et al. report both): near 1 would mean the attribution shows the image (edges,
    ink) rather than what the network learned. Over the ink pixels only: elsewhere both are
    0 by construction (the path starts from a blank image), which alone would correlate."""
    targets = trained.predict_proba(images).argmax(axis=1)
    a = attribute(trained, images, targets, temperature)
    b = attribute(reinitialised, images, targets, temperature)
    ink = np.asarray(images) > 0
    return spearman(a, b, ink), spearman(np.abs(a), np.abs(b), ink)


def deletion(model: Model, images: np.ndarray, temperature: float = 1.0, fraction: float = 0.1,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per image, the drop of the predicted class's calibrated probability when the `fraction`
    most attributed of its ink pixels are set to 0, and when as many random ink pixels are."""
    x = np.asarray(images, np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
    proba = calibration.scaled(model.predict_proba(x), temperature)
    targets = proba.argmax(axis=1)
    found = attribute(model, x, targets, temperature).reshape(len(x), -1)
    rng = np.random.default_rng(seed)
    by_attribution, at_random = x.reshape(len(x), -1).copy(), x.reshape(len(x), -1).copy()
    for i, row in enumerate(x.reshape(len(x), -1)):
        ink = np.flatnonzero(row > INK)
        if not len(ink):
            continue  # nothing to remove: both drops are 0
        n = max(1, round(fraction * len(ink)))
        by_attribution[i, ink[np.argsort(-found[i, ink], kind="stable")[:n]]] = 0
        at_random[i, rng.choice(ink, n, replace=False)] = 0
    rows = np.arange(len(x))

    def drop(changed: np.ndarray) -> np.ndarray:
        after = calibration.scaled(model.predict_proba(changed.reshape(x.shape)), temperature)
        return proba[rows, targets] - after[rows, targets]

    return drop(by_attribution), drop(at_random)


def neighbor_agreement(index: NeighborIndex, model: Model, images: np.ndarray,
                       labels: np.ndarray, k: int = 6) -> tuple[float, int]:  # fmt: skip
    """The share of the k nearest training images that carry the true label, over the test
    images the model classifies rightly, and how many those are."""
    proba, features, _ = model.predict_features(images)
    right = proba.argmax(axis=1) == labels
    nearest = index.nearest(features[right], k)
    shared = [n.label == y for found, y in zip(nearest, labels[right], strict=True) for n in found]
    return float(np.mean(shared)) if shared else float("nan"), int(right.sum())
