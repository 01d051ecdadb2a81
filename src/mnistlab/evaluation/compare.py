"""Compare runs side by side: one row per run, best test accuracy first, plus their curves.

Runs that differ only by their seed (`mnistlab train --seeds 0-4`) make one row: the mean and
the sample standard deviation over the seeds, with each seed's row under "per_seed".
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.models import pixel_stats

# What differs between the seeds of one recipe: the seed, and what follows from it or from the
# day (the pixel statistics of the seeded training split, the budget's timings, the versions).
BY_SEED = ("seed", "versions", "budget_plan")
STATS = tuple(pixel_stats(np.zeros(1, np.uint8)))
SPREAD = ("test_accuracy", "test_loss", "train_seconds")  # a group's mean ± std of these


def recipe_key(config: dict) -> str:
    """A run's config.json without what differs by seed: equal keys, same run but the seed."""
    args = {k: v for k, v in config.get("model_args", {}).items() if k not in STATS}
    rest = {k: v for k, v in config.items() if k not in BY_SEED}
    return json.dumps({**rest, "model_args": args}, sort_keys=True)


def run_row(run_dir: str | os.PathLike, config: dict | None = None) -> dict:
    """What a comparison needs from one run folder (its config.json, if already read); test
    figures are None before evaluation."""
    from mnistlab import runs

    config = config if config is not None else runs.load_config(run_dir)
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
        "seed": config.get("seed"),
    }


def compare_runs(run_dirs: list[str | os.PathLike]) -> list[dict]:
    """Rows sorted best first: higher test accuracy, then lower loss; unevaluated runs last.
    Runs that differ only by seed are one row (group_row)."""
    from mnistlab import runs

    groups: dict[str, list[dict]] = {}
    for d in run_dirs:
        config = runs.load_config(d)
        groups.setdefault(recipe_key(config), []).append(run_row(d, config))
    rows = []
    for members in groups.values():
        seeds = [r["seed"] for r in members]
        grouped = len(members) > 1 and len(set(seeds)) == len(seeds)
        rows += [group_row(members)] if grouped else members

    def key(row: dict):
        acc, loss = row["test_accuracy"], row["test_loss"]
        return (acc is None, -(acc or 0.0), math.inf if loss is None else loss, row["run"])

    return sorted(rows, key=key)


def group_row(members: list[dict]) -> dict:
    """One row for the seeds of one recipe: the mean of each figure, its sample standard
    deviation beside it (`test_accuracy_std`...), and the runs in seed order under per_seed."""
    members = sorted(members, key=lambda r: r["seed"])
    paths = [r["run"] for r in members]
    try:
        label = f"{os.path.commonpath(paths)} ({len(paths)} seeds)"
    except ValueError:  # absolute beside relative paths: no common folder to name
        label = f"{paths[0]} (+{len(paths) - 1} seeds)"
    row = {**members[0], "run": label, "runs": paths, "seed": None,
           "seeds": [r["seed"] for r in members], "per_seed": members,
           "epochs": statistics.mean(r["epochs"] for r in members)}  # fmt: skip
    for name in SPREAD:
        values = [r[name] for r in members]
        known = None not in values
        row[name] = statistics.mean(values) if known else None
        row[f"{name}_std"] = statistics.stdev(values) if known else None
    return row


def run_dirs(rows: list[dict]) -> list[Path]:
    """The run folders behind comparison rows, a group's members in seed order."""
    return [Path(p) for r in rows for p in r.get("runs", [r["run"]])]


def plot_comparison(run_dirs: list[str | os.PathLike], path: str | os.PathLike) -> Path:
    """Accuracy curves of every run, one panel each in the given order, saved as PNG."""
    from mnistlab import runs
    from mnistlab.evaluation import plots

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
