"""How far a run's answers can be trusted: the calibration of its probabilities (reliability
diagram, confidence of right and wrong answers) and, with a reject rule, the accuracy of the
answers it accepts against the share it accepts (the risk-coverage curve)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mnistlab.models import calibration, reject


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
        left.plot(x, y, "o-", color=color, ms=4, label=f"{name} calibration (ECE {error:.4f})")
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
    right.set_xlabel("Confidence" + (" after calibration" if scaled is not None else ""))
    right.set_ylabel("Images")
    right.set_title("Confidence of right and wrong answers")
    right.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


def risk_coverage_figure(scores: np.ndarray, proba: np.ndarray, labels: np.ndarray, rule: dict,
                         split: str) -> Figure:  # fmt: skip
    """The accuracy of the accepted answers against the share accepted, as the reject
    score's threshold moves (and, to compare, the calibrated top probability's), with the
    run's own rule marked."""
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    right = proba.argmax(1) == labels
    n = np.arange(1, len(labels) + 1)
    for name, doubt, color in (("reject score", scores, "#4878d0"),
                               ("top probability alone", -proba.max(1), "#9aa5b1")):  # fmt: skip
        order = np.argsort(doubt, kind="stable")  # the least doubtful first
        ax.plot(n / len(n), np.cumsum(right[order]) / n, color=color, label=name)
    chosen = reject.selective(scores, proba, labels, rule["threshold"], rule["unsure_below"])
    if chosen["accuracy_accepted"] is not None:
        ax.plot(chosen["coverage"], chosen["accuracy_accepted"], "o", color="#d65f5f",
                label=f"the run's rule: {chosen['coverage']:.1%} accepted, "
                f"{chosen['accuracy_accepted']:.2%} right")  # fmt: skip
    low = min(right.mean(), chosen["accuracy_accepted"] or 1) - 0.005
    ax.set_xlim(0, 1.005)
    ax.set_ylim(max(0.0, low), 1.0005)
    ax.set_xlabel("Share of answers accepted (coverage)")
    ax.set_ylabel("Accuracy of the accepted answers")
    ax.set_title(f"Risk-coverage ({split} split)")
    ax.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    return fig
