"""Compare runs side by side: one row per run, best test accuracy first, plus their curves."""

from __future__ import annotations

import math
import os
from pathlib import Path

from mnistlab.errors import MnistlabError


def run_row(run_dir: str | os.PathLike) -> dict:
    """What a comparison needs from one run folder; test figures are None before evaluation."""
    from mnistlab import runs

    config = runs.load_config(run_dir)
    history = runs.load_history(run_dir)
    metrics = runs.load_metrics(run_dir) or {}
    seconds = metrics.get("train_seconds")
    if seconds is None:
        seconds = sum(r["seconds"] for r in history if not math.isnan(r["seconds"]))
    return {
        "run": str(run_dir),
        "dataset": config.get("dataset"),
        "model": config.get("model"),
        "parameters": runs.load_model(run_dir).num_parameters(),
        "epochs": len(history),
        "train_seconds": round(float(seconds), 2),
        "test_accuracy": metrics.get("accuracy"),
        "test_loss": metrics.get("loss"),
    }


def compare_runs(run_dirs: list[str | os.PathLike]) -> list[dict]:
    """Rows sorted best first: higher test accuracy, then lower loss; unevaluated runs last."""

    def key(row: dict):
        acc, loss = row["test_accuracy"], row["test_loss"]
        return (acc is None, -(acc or 0.0), math.inf if loss is None else loss, row["run"])

    return sorted((run_row(d) for d in run_dirs), key=key)


def plot_comparison(run_dirs: list[str | os.PathLike], path: str | os.PathLike) -> Path:
    """Accuracy curves of every run, one panel each in the given order, saved as PNG."""
    from mnistlab import plots, runs

    histories = []
    for d in run_dirs:
        config = runs.load_config(d)
        name = f"{config.get('model')} · {config.get('dataset')}\n{Path(d).name}"
        histories.append((name, runs.load_history(d)))
    try:
        plots.save(plots.compare_curves(histories), path)
    except OSError as e:
        raise MnistlabError(f"cannot write {path}: {e.strerror or e}") from None
    return Path(path)
