"""The one definition of a split's loss and accuracy, from predicted probabilities.

Training's history and test metrics and `mnistlab evaluate` all call this on the output of
Model.predict_proba, so metrics.json's "loss" means the same whoever wrote it last. It is
sklearn's log_loss of the clipped, renormalized probabilities (a test holds them equal),
written out in NumPy (models.calibration.nll, which the temperature fit minimises): importing
sklearn.metrics costs every training process about a second.
"""

from __future__ import annotations

import math

import numpy as np

from mnistlab.models.calibration import PROB_FLOOR, nll  # noqa: F401  (PROB_FLOOR: the clip)


def loss_and_accuracy(labels: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy of the clipped probabilities and top-1 accuracy; the loss is NaN
    when the probabilities are not finite (a diverged network), so the caller can say so."""
    labels = np.asarray(labels)
    accuracy = float(np.mean(proba.argmax(axis=1) == labels))
    if not np.isfinite(proba).all():
        return math.nan, accuracy
    return nll(proba, labels), accuracy
