"""Matplotlib figures, drawn off-screen so they work on servers and in CI.

Figures are `matplotlib.figure.Figure` objects made without pyplot: importing this module
changes no global backend (a notebook keeps its own), and no figure lingers in pyplot's
registry, so nothing needs closing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mnistlab.atomic import atomic_path


def save(fig: Figure, path: str | os.PathLike) -> None:
    """Write a figure as PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")


def _subplots(*grid, figsize, layout: str | None = None, **kwargs):
    """pyplot.subplots without pyplot."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(*grid, **kwargs)


def image_grid(
    images: np.ndarray, titles: Sequence[str], suptitle: str | None = None, cols: int | None = None
) -> Figure:
    """A grid of grayscale images, each with its own title, as the tutorials show them."""
    n = len(images)
    cols = cols or math.ceil(math.sqrt(n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = _subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def sample_grid(images: np.ndarray, labels: np.ndarray, classes: Sequence[str], title: str):
    """Sample images titled with their labels, the classic first look at a dataset."""
    names = [
        f"Label: {classes[y]}" if classes[y] == str(y) else f"{y}: {classes[y]}"
        for y in labels.tolist()
    ]
    return image_grid(images, names, suptitle=title)


# ── evaluation figures ──────────────────────────────────────────────────────


def confusion_matrix(cm, classes: Sequence[str], split: str = "test") -> Figure:
    """Counts beside row-normalized rates: counts show volume, rates show each class's errors."""
    cm = np.asarray(cm, dtype=np.int64)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    fig, axes = _subplots(1, 2, figsize=(2 * (1.9 + 0.42 * n), 1.7 + 0.42 * n))
    panels = [(cm, "Counts", "d"), (rates, "Row-normalized (recall on the diagonal)", ".2f")]
    for ax, (values, title, fmt) in zip(axes, panels, strict=True):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        threshold = values.max() / 2
        for (i, j), v in np.ndenumerate(values):
            color = "white" if v > threshold else "black"
            ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(n), classes, rotation=45, ha="right")
        ax.set_yticks(range(n), classes)
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("True label")
        ax.set_title(title)
    fig.suptitle(f"Confusion matrix ({split} split, {int(cm.sum()):,} images)")
    fig.tight_layout()
    return fig


def curves(history: Sequence[dict]) -> Figure:
    """Loss and accuracy per epoch, training against validation: the over-fitting check."""
    epochs = [row["epoch"] for row in history]
    fig, axes = _subplots(1, 2, figsize=(11, 4))
    panels = ((axes[0], "loss", "Loss", "Loss"), (axes[1], "acc", "Accuracy", "Accuracy (%)"))
    has_val = not all(math.isnan(row["val_loss"]) for row in history)
    for ax, metric, label, unit in panels:
        scale = 100 if metric == "acc" else 1
        for split, name, line in (("train", "training", "-"), ("val", "validation", "--")):
            values = [scale * row[f"{split}_{metric}"] for row in history]
            if split == "train" or has_val:
                ax.plot(epochs, values, line, marker=_marker(epochs), label=name)
        ax.set_xlabel("Epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(unit)
        ax.set_title(
            f"{label}: training vs validation"
            if has_val
            else f"{label}: training (no validation split)"
        )
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _marker(epochs: Sequence) -> str | None:
    return "o" if len(epochs) <= 30 else None  # dots help few epochs, clutter many


def _label(classes: Sequence[str], y: int, use_names: bool) -> str:
    return classes[y] if use_names else str(y)


def misclassified(images, labels, proba, classes, use_names: bool, n: int = 20) -> Figure:
    """Wrong predictions, most confident first, each titled with the true class and its
    probability, the prediction and its probability, and the runner-up (the class it would
    have said next, which is often the true one)."""
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]], kind="stable")][:n]
    if not len(wrong):
        return _message("No misclassified images: every prediction is right.")
    titles = [mistake_title(proba[i], int(labels[i]), classes, use_names) for i in wrong]
    suptitle = f"Misclassified: the {len(wrong)} most confident mistakes"
    return _gallery(images[wrong], titles, suptitle, use_names)


def mistake_title(proba: np.ndarray, label: int, classes: Sequence[str], use_names: bool) -> str:
    """The title "True label: 5 (12.0%) Predicted: 6 (84.2%)" and the runner-up, from one image's
    probabilities: the mistake's margin, not only its confidence."""
    first, second = (int(c) for c in np.argsort(-proba, kind="stable")[:2])
    runner_up = "the true label" if second == label else _label(classes, second, use_names)
    return (
        f"True label: {_label(classes, label, use_names)} ({proba[label]:.1%}) "
        f"Predicted: {_label(classes, first, use_names)} ({proba[first]:.1%})\n"
        f"runner-up: {runner_up} ({proba[second]:.1%})"
    )


def correct_predictions(
    images, labels, proba, classes, use_names: bool, n: int = 20, seed: int = 0
) -> Figure:
    """A seeded random sample of right predictions with the model's confidence."""
    predicted = proba.argmax(axis=1)
    right = np.flatnonzero(predicted == labels)
    if not len(right):
        return _message("No correct predictions.")
    pick = np.sort(np.random.default_rng(seed).choice(right, min(n, len(right)), replace=False))
    titles = [
        f"Predicted: {_label(classes, predicted[i], use_names)}\n"
        f"confidence {proba[i, predicted[i]]:.1%}"
        for i in pick
    ]
    return _gallery(images[pick], titles, f"Correct predictions: {len(pick)} at random", use_names)


def _gallery(images, titles, suptitle: str, use_names: bool) -> Figure:
    # Class names make one-line titles longer than digits do, so they get wider cells.
    cols = 4 if use_names else 5
    width = 3.1 if use_names else 2.2
    rows = max(1, math.ceil(len(images) / cols))
    fig, axes = _subplots(
        rows, cols, figsize=(width * cols, 2.4 * rows + 0.4), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle)
    return fig


def _message(text: str) -> Figure:
    fig, ax = _subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12)
    return fig


def per_class_errors(per_class: Sequence[dict], accuracy: float, split: str = "test"):
    """Each class's error rate (100% minus its recall) against the overall one, with the
    accuracy on the right-hand axis: at 99% accuracy, bars on a 0 to 100% axis all look full,
    while error rates of 0.5% and 1.5% differ threefold."""
    names = [row["name"] for row in per_class]
    errors = [100 * (1 - row["recall"]) for row in per_class]
    overall = 100 * (1 - accuracy)
    fig, ax = _subplots(figsize=(max(6, 0.8 * len(names) + 2), 4.5))
    bars = ax.bar(range(len(names)), errors, color="#d65f5f")
    counts = [f"{e:.1f}%\n{round(e / 100 * r['support'])} of {r['support']:,}"
              for e, r in zip(errors, per_class, strict=True)]  # fmt: skip
    ax.bar_label(bars, labels=counts, fontsize=7)
    ax.axhline(overall, color="#4878d0", ls="--",
               label=f"overall: {overall:.2f}% wrong, {100 * accuracy:.2f}% right")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(0, 1.3 * max([*errors, overall]) or 1)
    ax.set_xlabel("Class")
    ax.set_ylabel("Error rate (%) = 100 − accuracy")
    right = ax.secondary_yaxis("right", functions=(lambda e: 100 - e, lambda a: 100 - a))
    right.set_ylabel("Accuracy (%)")
    ax.set_title(f"Per-class error rate ({split} split): lower is better")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def filters(weights: np.ndarray, title: str) -> Figure:
    """Weight images on a diverging map: red excites, blue inhibits, white is ignored."""
    n = len(weights)
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig, axes = _subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, w in zip(axes.flat, weights, strict=False):
        limit = float(np.abs(w).max()) or 1.0
        ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_curves(histories: Sequence[tuple[str, Sequence[dict]]]) -> Figure:
    """One panel per run, side by side on a shared accuracy axis (runs differ in epochs)."""
    cols = min(len(histories), 4)
    rows = math.ceil(len(histories) / cols)
    fig, axes = _subplots(
        rows, cols, figsize=(4 * cols, 3.4 * rows), sharey=True, squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(histories) :]:
        ax.axis("off")
    for ax, (name, history) in zip(axes.flat, histories, strict=False):
        epochs = [row["epoch"] for row in history]
        for split, label, line in (("val", "validation", "-"), ("train", "training", ":")):
            ax.plot(epochs, [100 * r[f"{split}_acc"] for r in history], line,
                    marker=_marker(epochs), label=label)  # fmt: skip
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("Epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("Accuracy (%)")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Accuracy per run: validation (solid) and training (dotted)")
    return fig


def sweep(trials: Sequence[dict], params: Sequence) -> Figure:
    """A search at a glance: validation accuracy against each searched parameter (`params`:
    objects with `name`, `log` and `choices`), then against the trial number with the best so
    far. Pruned trials show their last reported accuracy as crosses."""
    done = [t for t in trials if t["val_acc"] is not None and t["state"] in ("complete", "pruned")]
    fig, axes = _subplots(1, len(params) + 1, figsize=(4 * (len(params) + 1), 3.6), squeeze=False,
                          sharey=True, layout="constrained")  # fmt: skip
    axes = axes[0]
    for ax, p in zip(axes, params, strict=False):
        choices = [str(c) for c in p.choices]
        for state, marker, color in (("complete", "o", "#4878d0"), ("pruned", "x", "#999999")):
            shown = [t for t in done if t["state"] == state and p.name in t["params"]]
            x = [t["params"][p.name] for t in shown]
            x = [choices.index(str(v)) for v in x] if choices else x
            ax.scatter(x, [100 * t["val_acc"] for t in shown], marker=marker, c=color, label=state)
        if choices:
            ax.set_xticks(range(len(choices)), choices)
            ax.set_xlim(-0.5, len(choices) - 0.5)
        elif p.log:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.001 0.002 0.005
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(p.name)
        ax.grid(alpha=0.3)
    history = axes[-1]
    finished = sorted((t for t in done if t["state"] == "complete"), key=lambda t: t["trial"])
    for state, marker, color in (("complete", "o", "#4878d0"), ("pruned", "x", "#999999")):
        shown = [t for t in done if t["state"] == state]
        history.scatter([t["trial"] for t in shown], [100 * t["val_acc"] for t in shown],
                        marker=marker, c=color, label=state)  # fmt: skip
    if finished:
        best = np.maximum.accumulate([100 * t["val_acc"] for t in finished])
        history.step([t["trial"] for t in finished], best, where="post", c="#d65f5f", label="best")
    history.set_xlabel("Trial")
    history.xaxis.get_major_locator().set_params(integer=True)
    history.grid(alpha=0.3)
    history.legend(fontsize=8)
    axes[0].set_ylabel("Validation accuracy (%)")
    fig.suptitle(f"Sweep: {len(finished)} finished, {len(done) - len(finished)} pruned")
    return fig
