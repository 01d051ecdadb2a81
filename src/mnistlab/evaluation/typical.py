"""Each class's most and least typical images: what the model takes for a clear example of a
class, and the images of that class it finds least like one (often its mistakes).

Typical means a high calibrated probability of the true class. The ranking uses its log-odds
against every other class together, which keeps ordering images whose probability shows as
100.0%: a float32 probability stops at 1, a sum of the others' small ones does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

TINY = np.float32(1e-38)  # keeps the log of a probability that rounded to 0 finite
GAP, LINE = 4, 9  # pixels between images, and above each for its probability


def true_class_log_odds(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log p(true) − log Σ p(other) per image: > 0 when the true class wins against the rest."""
    proba = np.asarray(proba, np.float32)
    rows = np.arange(len(labels))
    own = np.arange(proba.shape[1]) == labels[:, None]
    others = np.where(own, 0, proba).sum(axis=1, dtype=np.float64)  # no 1 − p(true)
    return np.log(np.maximum(proba[rows, labels], TINY)) - np.log(np.maximum(others, TINY))


def extremes(labels: np.ndarray, score: np.ndarray, classes: int, k: int) -> list[tuple]:
    """Per class: (indices of its k highest scores, highest first; of its k lowest, lowest
    first). A class with fewer than 2k images shares some between the two."""
    found = []
    for c in range(classes):
        members = np.flatnonzero(labels == c)
        order = members[np.argsort(-score[members], kind="stable")]
        found.append((order[:k], order[::-1][:k]))
    return found


def typical_figure(images, labels, proba, classes: Sequence[str], split: str = "test",
                   k: int = 5) -> Figure:  # fmt: skip
    """One row per class: its k most typical images on the left, its k least on the right,
    each titled with the calibrated probability of its class. One mosaic on one Axes: a
    hundred small Axes take seconds to lay out."""
    pairs = extremes(labels, true_class_log_odds(proba, labels), len(classes), k)
    cell_w, cell_h, cols = 28 + GAP, 28 + LINE, 2 * k + 1  # a blank column between halves
    mosaic = np.full((len(classes) * cell_h, cols * cell_w), np.nan, np.float32)
    fig = Figure(figsize=(0.8 * cols + 1.2, 0.85 * len(classes) + 0.7))
    ax = fig.add_axes((0.1, 0.02, 0.88, 0.9))
    for c, (best, worst) in enumerate(pairs):
        for offset, picked in ((0, best), (k + 1, worst)):
            for j, i in enumerate(picked):
                top, left = c * cell_h + LINE, (offset + j) * cell_w
                mosaic[top : top + 28, left : left + 28] = images[i]
                ax.text(left + 14, top - 1.5, f"{proba[i, c]:.1%}", ha="center", va="bottom",
                        fontsize=7)  # fmt: skip
        ax.text(-6, c * cell_h + LINE + 14, classes[c], ha="right", va="center", fontsize=10)
    ax.imshow(np.ma.masked_invalid(mosaic), cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")  # fmt: skip
    ax.axis("off")
    fig.suptitle(
        f"Per class ({split} split): its {k} most typical images (left) and its {k} least "
        "typical (right), by the probability of their class",
        fontsize=10,
    )
    return fig
