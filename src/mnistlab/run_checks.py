"""What each file of a run folder must hold, checked as runs.py reads it.

A run folder can be damaged (a disk, a half-finished copy, an edit by hand) or come from
elsewhere; every command reads it through runs.py, which reads every file with
mnistlab.reading and checks it here, so that a file that cannot be used is one line naming it
and what to do, never a traceback or a silently wrong answer. `fix` is that what-to-do.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mnistlab import reading
from mnistlab.models import MODEL_NAMES

# What config.json must hold for any command to use the run, and the kinds of the rest read.
CONFIG_FIELDS = {"dataset": "str", "model": "str", "model_args": "object", "classes": "list",
                 "preprocessing": "str"}  # fmt: skip
CONFIG_READ = {"val_size": "int", "seed": "int", "epochs": "int", "world_size": "int"}
PREPROCESSING = ("digits", "objects")
TEST_FIGURES = {"accuracy": "number", "loss": "number"}
METRICS_FIELDS = {"train_seconds": "number", "epochs": "int", "split": "str", "images": "int",
                  "per_class": "list", "confusion_matrix": "list", "most_confused": "list",
                  "val": "object"}  # fmt: skip
STATE_FIELDS = {"epoch": "int", "step": "int", "history": "list"}  # loop.State's, in a checkpoint
STATE_READ = {"best_val_loss": "number|null", "bad_epochs": "int", "stopped": "bool"}


def check_config(config: dict, path: Path, fix: str) -> None:
    """The keys every command reads, of the right kinds, naming a model and classes that fit."""
    reading.check_fields(config, path, fix, CONFIG_FIELDS, CONFIG_READ)
    if config["model"] not in MODEL_NAMES:
        names = ", ".join(MODEL_NAMES)
        raise reading.damaged(path, f"model {config['model']!r} is none of {names}", fix)
    classes, outputs = config["classes"], config["model_args"].get("n_out", 10)
    if len(classes) != outputs or not all(isinstance(c, str) for c in classes):
        raise reading.damaged(path, f"'classes' must be {outputs} names, one per output", fix)
    if config["preprocessing"] not in PREPROCESSING:
        raise reading.damaged(path, f"'preprocessing' is {config['preprocessing']!r}, not "
                              f"{' or '.join(PREPROCESSING)}", fix)  # fmt: skip


def parse_history(text: str, fields: tuple[str, ...], path: Path, fix: str) -> list[dict]:
    """history.csv's rows as floats: exactly `fields` as columns, epochs 1..N in order."""
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if tuple(reader.fieldnames or ()) != fields:
            columns = ", ".join(reader.fieldnames or ()) or "none"
            raise reading.damaged(path, f"its columns are {columns}, not {', '.join(fields)}",
                                  fix)  # fmt: skip
        return [_history_row(row, i, fields, path, fix) for i, row in enumerate(reader, 1)]
    except csv.Error as e:
        raise reading.damaged(path, f"not CSV: {e}", fix) from None


def _history_row(row: dict, epoch: int, fields: tuple[str, ...], path: Path, fix: str) -> dict:
    if None in row or None in row.values():
        raise reading.damaged(path, f"row {epoch} has the wrong number of values", fix)
    bad = next((k for k in fields if not _is_float(row[k])), None)
    if bad is not None:
        raise reading.damaged(path, f"row {epoch}: {bad} is {row[bad][:20]!r}, not a number", fix)
    values = {k: float(row[k]) for k in fields}
    if values["epoch"] != epoch:
        raise reading.damaged(path, f"row {epoch} says epoch {row['epoch']}", fix)
    return values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_metrics(metrics: dict, path: Path, fix: str) -> None:
    """Test figures (accuracy in [0, 1], loss) wherever there are any (`evaluate --split val`
    alone writes only "val"), and the kinds of the keys read."""
    test = set(metrics) - {"val"}
    reading.check_fields(metrics, path, fix, TEST_FIGURES if test else {}, METRICS_FIELDS)
    if "accuracy" in metrics and not 0 <= metrics["accuracy"] <= 1:
        raise reading.damaged(path, f"accuracy {metrics['accuracy']} is not in [0, 1]", fix)
    if "val" in metrics:
        reading.check_fields(metrics["val"], path, fix, TEST_FIGURES, where="val.")


def check_state(state: dict, fields: tuple[str, ...], path: Path, fix: str) -> None:
    """A checkpoint's training state: epoch, step and one history row per epoch."""
    reading.check_fields(state, path, fix, STATE_FIELDS, STATE_READ, where="state.")
    rows = state["history"]
    if state["epoch"] < 1 or len(rows) != state["epoch"]:
        raise reading.damaged(path, f"state.epoch {state['epoch']} with {len(rows)} rows of "
                              "history", fix)  # fmt: skip
    for i, row in enumerate(rows, 1):
        numbers = isinstance(row, dict) and all(reading.KINDS["number"](row.get(k)) for k in fields)
        if not numbers or row["epoch"] != i:
            raise reading.damaged(path, f"state.history row {i} is not epoch {i}'s row", fix)
