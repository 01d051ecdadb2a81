"""Evaluate a run on its test (or validation) split: metrics.json and plots/.

Metrics come from scikit-learn so they mean what the literature means; the run
folder is the only input, so any run, the NumPy one included, evaluates the same way.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from mnistlab.errors import MnistlabError
from mnistlab.evaluation.scores import loss_and_accuracy
from mnistlab.explanation import data_map, neighbor_index
from mnistlab.models import calibration, reject

log = logging.getLogger("mnistlab.evaluation.evaluate")

MAX_FILTERS = 64  # first-layer units shown; 512 tiny images would be unreadable
SPLITS = ("test", "val")


def compute_metrics(
    labels: np.ndarray, proba: np.ndarray, classes: tuple[str, ...] | list[str], top_pairs: int = 5
) -> dict:
    """Accuracy, loss, per-class precision/recall/F1/support, confusion matrix, worst pairs.

    A class that is never predicted has precision 0 (zero_division=0), not a warning.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if proba.ndim != 2 or proba.shape != (len(labels), len(classes)):
        raise ValueError(
            f"proba must have shape ({len(labels)}, {len(classes)}), got {proba.shape}"
        )
    ids = list(range(len(classes)))
    predicted = proba.argmax(axis=1)
    loss, accuracy = loss_and_accuracy(labels, proba)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=ids, zero_division=0
    )
    cm = confusion_matrix(labels, predicted, labels=ids)
    return {
        "accuracy": accuracy,
        "loss": loss,
        "per_class": [
            {
                "label": i,
                "name": classes[i],
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in ids
        ],
        "confusion_matrix": cm.tolist(),
        "most_confused": most_confused(cm, classes, top_pairs),
    }


def most_confused(cm: np.ndarray, classes, k: int = 5) -> list[dict]:
    """The k largest off-diagonal cells of a confusion matrix, largest first (ties by label)."""
    off = np.array(cm, dtype=np.int64)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    pairs = []
    for flat in order:
        true, pred = divmod(int(flat), off.shape[1])
        if off[true, pred] == 0:
            break
        pairs.append(
            {
                "true": true,
                "true_name": classes[true],
                "predicted": pred,
                "predicted_name": classes[pred],
                "count": int(off[true, pred]),
            }
        )
    return pairs


def first_layer_filters(model) -> tuple[np.ndarray, str]:
    """What the first layer looks for: (K, h, w) weight images and a title saying what they are.

    CNNs: the first Conv2d's kernels (first input channel). MLPs, the NumPy one included: the
    first dense layer's weights into each unit, as 28x28 images. A layer set from the data and
    never trained (`fast`'s whitened stem) says so: it shows the data, not what was learned.
    """
    kind, w = model.first_layer()
    if kind == "conv":
        fixed = model.first_learned_layer() is not None
        what = "fixed before training, never trained" if fixed else "trained"
        title = f"First convolution layer ({what}): {min(len(w), MAX_FILTERS)} of {len(w)} filters"
        return w[:MAX_FILTERS], f"{title} ({w.shape[1]}×{w.shape[2]})"
    return _as_images(w, "first dense layer"), _units_title(len(w))


def learned_filters(kernels: np.ndarray) -> tuple[np.ndarray, str]:
    """Model.first_learned_layer's kernels over the pixels, with a title saying what they are."""
    shown, size = min(len(kernels), MAX_FILTERS), "×".join(map(str, kernels.shape[1:]))
    title = f"First trained convolution, seen through the fixed one: {shown} of {len(kernels)}"
    return kernels[:MAX_FILTERS], f"{title} kernels ({size} pixels)"


def _as_images(rows: np.ndarray, what: str) -> np.ndarray:
    if rows.shape[1] != 28 * 28:
        raise MnistlabError(f"{what} has {rows.shape[1]} inputs, not 784; cannot show as 28×28")
    return rows[:MAX_FILTERS].reshape(-1, 28, 28)


def _units_title(units: int) -> str:
    shown = min(units, MAX_FILTERS)
    return f"First layer weights as 28×28 images: {shown} of {units} hidden units"


def load_split(config: dict, split: str):
    """The split this run is evaluated on, carved exactly as training carved it."""
    from mnistlab.data import load_dataset

    if split not in SPLITS:
        raise MnistlabError(f"unknown split {split!r}; choose test or val")
    val_size = int(config["val_size"])
    if split == "val" and val_size == 0:
        raise MnistlabError("this run was trained with val_size 0, so it has no validation split")
    name = config.get("dataset", "?")
    try:
        return load_dataset(name, split, val_size=val_size, seed=int(config.get("seed", 0)))
    except MnistlabError as e:
        raise MnistlabError(f"cannot evaluate: dataset {name!r} is not available ({e})") from None


def plots_dir(run_dir: str | os.PathLike, split: str) -> Path:
    """plots/ for the test split, plots/val/ for the validation one: neither hides the other."""
    base = Path(run_dir) / "plots"
    return base if split == "test" else base / split


def evaluate_run(run_dir: str | os.PathLike, split: str = "test") -> dict:
    """Evaluate a saved run; write metrics.json and plots/. Reads, never rewrites, the weights
    and the history. The page that shows them is report.py's, built from the folder.

    Test metrics merge into metrics.json at the top level (ARCHITECTURE.md); validation
    metrics go under the "val" key so they never pass for test figures.
    """
    from mnistlab import runs

    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    runs.weights_path(run_dir)  # an unfinished run says so before anything else
    history = runs.load_history(run_dir)
    if not history:
        raise MnistlabError(f"{run_dir / 'history.csv'} has no rows; train the run first")
    model = runs.load_model(run_dir)
    ds = load_split(config, split)
    log.info("evaluating %s on %d %s images", run_dir, len(ds), split)
    proba = np.asarray(model.predict_proba(ds.images), dtype=np.float32)
    metrics = compute_metrics(ds.labels, proba, ds.classes)
    metrics["split"] = split
    metrics["images"] = len(ds)
    calibrated = runs.load_calibration(run_dir)
    if calibrated is not None:  # the calibration changes no answer: accuracy stays
        found = calibration.Calibration.of(calibrated)
        metrics["calibration"] = calibration.summary(proba, ds.labels, found)
    scores = reject_scores(run_dir, model, ds.images)
    if scores is not None:
        rule = calibrated["reject"]
        scaled = calibration.Calibration.of(calibrated)(proba)
        metrics["reject"] = reject.selective(scores, scaled, ds.labels, rule["threshold"],
                                             rule["unsure_below"])  # fmt: skip
    # What explanations compare an image with, built once for a run that lacks it (kept in
    # RUN_DIR/explain/), so that `explain` need not wait for it; the report draws the map.
    places = data_map(run_dir, model, neighbor_index(run_dir, model))
    try:
        runs.write_metrics(run_dir, metrics if split == "test" else {"val": metrics})
        write_plots(run_dir, split, config, history, model, ds, proba, metrics, scores, places)
    except OSError as e:
        raise MnistlabError(f"cannot write into {run_dir}: {e.strerror or e}") from None
    return metrics


def reject_scores(run_dir: Path, model, images: np.ndarray) -> np.ndarray | None:
    """The run's reject rule's scores of model-ready images (None for a run without one)."""
    from mnistlab import runs

    arrays, calibrated = runs.load_reject(run_dir), runs.load_calibration(run_dir)
    if arrays is None or not calibrated or "reject" not in calibrated:
        return None
    found = calibrated["reject"]
    rule = reject.RejectRule(arrays, found["threshold"], found["unsure_below"])
    return rule.scored(model, images, calibration.Calibration.of(calibrated))[1]


def write_plots(run_dir: Path, split: str, config: dict, history, model, ds, proba, metrics,
                scores: np.ndarray | None = None, places=None):  # fmt: skip
    """The split's figures into plots_dir(split); curves and filters (split-free) into plots/.
    With `places` (the run's DataMap), the test split's map too (mistakes.write_for_split)."""
    from mnistlab import runs
    from mnistlab.evaluation import honesty, mistakes, plots, typical

    calibrated = runs.load_calibration(run_dir)
    scaled = calibration.Calibration.of(calibrated)(proba) if calibrated else None
    shown = proba if scaled is None else scaled  # the probabilities the report gives
    where = "test" if split == "test" else "validation"
    names = config.get("preprocessing") == "objects"  # Fashion: class names; digits: numbers
    images, labels, classes = ds.images, ds.labels, ds.classes
    out, base = plots_dir(run_dir, split), plots_dir(run_dir, "test")
    figures = {  # drawn one at a time, each freed once saved
        out / "confusion_matrix.png": lambda: plots.confusion_matrix(
            metrics["confusion_matrix"], classes, where
        ),
        out / "per_class_accuracy.png": lambda: plots.per_class_errors(
            metrics["per_class"], metrics["accuracy"], where
        ),
        out / "typical.png": lambda: typical.typical_figure(images, labels, shown, classes, where),
        out / "misclassified.png": lambda: plots.misclassified(
            images, labels, shown, classes, names
        ),
        out / "correct.png": lambda: plots.correct_predictions(
            images, labels, proba, classes, names
        ),
        out / "calibration.png": lambda: honesty.calibration_figure(proba, scaled, labels, where),
        **(
            {
                out / "risk_coverage.png": lambda: honesty.risk_coverage_figure(
                    scores, scaled, labels, calibrated["reject"], where
                )
            }
            if scores is not None
            else {}
        ),
        base / "curves.png": lambda: plots.curves(history),
        base / "filters.png": lambda: plots.filters(*first_layer_filters(model)),
    }
    learned = model.first_learned_layer()
    if learned is not None:
        figures[base / "learned_filters.png"] = lambda: plots.filters(*learned_filters(learned))
    for path, draw in figures.items():
        plots.save(draw(), path)
    temperature = float(calibrated["temperature"]) if calibrated else 1.0
    mistakes.write_for_split(out, split, model, ds, shown, temperature,
                             places if split == "test" else None)  # fmt: skip
