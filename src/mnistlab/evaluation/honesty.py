"""How far a run's answers can be trusted: the calibration of its probabilities (reliability
diagram, confidence of right and wrong answers) and, with a reject rule, the accuracy of the
answers it accepts against the share it accepts (the risk-coverage curve)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mnistlab.models import calibration


def calibration_figure(raw: np.ndarray, scaled: np.ndarray | None, labels: np.ndarray,
                       split: str) -> Figure:  # fmt: skip
    """Left: the reliability diagram (accuracy per bin of confidence) before and after the
    temperature; right: how confident the right and the wrong answers are."""
    fig = Figure(figsize=(11, 4.3))
    left, right = fig.subplots(1, 2)
    bins = calibration.BINS
    edges = np.linspace(0, 1, bins + 1)
    left.plot([0, 1], [0, 1], color="#9aa5b1", ls="--", lw=1, label="perfectly calibrated")
    shown = [("before", raw, "#d65f5f")] + ([("after", scaled, "#4878d0")] if scaled is not None
                                             else [])  # fmt: skip
    for name, proba, color in shown:
        table = calibration.reliability(proba, labels, bins)
        x = [c for c in table["confidence"] if c is not None]
        y = [a for a in table["accuracy"] if a is not None]
        error = calibration.ece(proba, labels, bins)
        left.plot(x, y, "o-", color=color, ms=4, label=f"{name} temperature (ECE {error:.4f})")
    left.set_xlim(0, 1.01)
    left.set_ylim(0, 1.01)
    left.set_xlabel("Confidence (top probability)")
    left.set_ylabel("Accuracy")
    left.set_title(f"Reliability, {bins} bins ({split} split)")
    left.legend(loc="upper left", fontsize=9)
    proba = scaled if scaled is not None else raw
    confidence, right_answer = proba.max(1), proba.argmax(1) == labels
    for mask, name, color in ((right_answer, "right", "#4878d0"), (~right_answer, "wrong",
                                                                   "#d65f5f")):  # fmt: skip
        right.hist(confidence[mask], bins=edges, color=color, alpha=0.7,
                   label=f"{name} ({int(mask.sum()):,})")  # fmt: skip
    right.set_yscale("log")
    right.set_xlabel("Confidence" + (" after the temperature" if scaled is not None else ""))
    right.set_ylabel("Images")
    right.set_title("Confidence of right and wrong answers")
    right.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig
