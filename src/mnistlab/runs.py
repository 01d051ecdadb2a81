"""The run folder: config, weights, history, metrics, and the checkpoint written every epoch.

Every later command reads a run through these functions, and nothing outside the folder.
Each file is written atomically. The checkpoint is one safetensors file holding the model's
and the optimizer's tensors, with the rest of the training state (epoch, step, history,
early-stopping counters) as JSON in its header, so tensors and state can never disagree.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors import numpy as st

from mnistlab import atomic
from mnistlab.errors import MnistlabError
from mnistlab.models import Model, build_model

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.safetensors"  # written every epoch, removed once the run has finished
CALIBRATION = "calibration.json"  # the temperature and the reject rule's threshold and figures
REJECT = "reject.safetensors"  # the reject rule's arrays (mnistlab.models.reject)
HISTORY_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def default_run_dir(dataset: str, model: str, root: str | Path = "runs") -> Path:
    """runs/<dataset>-<model>-<timestamp>, with a suffix if two runs start in one second."""
    base = Path(root) / f"{dataset}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def create_run_dir(path: Path) -> bool:
    """Make an empty, writable run folder; True if this call created it."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise MnistlabError(
            f"{path} already exists and is not an empty folder; choose another --out, "
            "or pass --resume to continue the run in it"
        )
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path / ".write-test", "")
        (path / ".write-test").unlink()
    except OSError as e:
        raise MnistlabError(f"cannot write the run folder {path}: {e.strerror}") from None
    return created


def remove_empty_run_dir(path: Path) -> None:
    """Undo create_run_dir when no epoch finished, so a failed start leaves nothing behind."""
    with contextlib.suppress(OSError):
        path.rmdir()


def versions() -> dict:
    """Library versions, recorded in config.json so a run can be repeated."""
    import platform

    import safetensors
    import torch

    from mnistlab import __version__

    return {
        "python": platform.python_version(),
        "mnistlab": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
    }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MnistlabError(f"{path} is not valid JSON ({e.msg}, line {e.lineno})") from None


def write_config(run_dir: Path, config: dict) -> None:
    atomic.write_text(Path(run_dir) / CONFIG, json.dumps(config, indent=2) + "\n")


def load_config(run_dir: str | Path) -> dict:
    """config.json, with the names of runs saved before 0.2 read as today's."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise MnistlabError(f"{run_dir} is not a run folder (no {CONFIG})")
    config = _read_json(path)
    if "augment" in config:  # 0.1: --augment N, now --shift N
        config["shift"] = config.pop("augment")
    if config.get("optimizer") == "momentum":  # 0.1: "momentum" was SGD with Nesterov
        config["optimizer"] = "nesterov"
    config.setdefault("calibration_size", 0)  # before 0.2 no run held images out to calibrate
    return config


def write_history(run_dir: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in HISTORY_FIELDS} for row in rows)
    atomic.write_text(Path(run_dir) / HISTORY, text.getvalue())


def load_history(run_dir: str | Path) -> list[dict]:
    """Rows of history.csv as floats (val_* are NaN when the run had no validation set)."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        raise MnistlabError(f"{run_dir} has no {HISTORY}; was the run trained to the end?")
    with path.open(encoding="utf-8", newline="") as f:
        try:
            return [{k: float(row[k]) for k in HISTORY_FIELDS} for row in csv.DictReader(f)]
        except (KeyError, TypeError, ValueError):
            raise MnistlabError(
                f"{path} is not a history file (columns: {HISTORY_FIELDS})"
            ) from None


def load_metrics(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / METRICS
    return _read_json(path) if path.is_file() else None


def write_metrics(run_dir: str | Path, metrics: dict) -> None:
    """Merge into metrics.json, so training's and evaluation's fields live side by side."""
    merged = {**(load_metrics(run_dir) or {}), **metrics}
    atomic.write_text(Path(run_dir) / METRICS, json.dumps(merged, indent=2) + "\n")


def load_calibration(run_dir: str | Path) -> dict | None:
    """calibration.json (None for a run calibrated by no one: trained before 0.2)."""
    path = Path(run_dir) / CALIBRATION
    return _read_json(path) if path.is_file() else None


def write_calibration(run_dir: str | Path, calibration: dict) -> None:
    atomic.write_text(Path(run_dir) / CALIBRATION, json.dumps(calibration, indent=2) + "\n")


def save_reject(run_dir: str | Path, arrays: dict[str, np.ndarray]) -> None:
    _save(Path(run_dir) / REJECT, arrays)


def load_reject(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    path = Path(run_dir) / REJECT
    return _load(path)[0] if path.is_file() else None


# ── weights ─────────────────────────────────────────────────────────────────


def _save(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None):
    atomic.write_bytes(
        path, st.save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata)
    )


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    try:
        with safe_open(path, framework="numpy") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}  # noqa: SIM118
    except (OSError, SafetensorError) as e:
        raise MnistlabError(f"cannot read {path}: {e}") from None


def save_model(run_dir: Path, model: Model) -> None:
    _save(Path(run_dir) / WEIGHTS, model.arrays())


def weights_sha256(run_dir: str | Path) -> str:
    """The digest of model.safetensors: which weights answered, whatever the folder is called."""
    import hashlib

    path = Path(run_dir) / WEIGHTS
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise MnistlabError(f"cannot read {path}: {e.strerror}") from None


def weights_path(run_dir: str | Path) -> Path:
    """The run's model.safetensors; a one-line error where the run has not finished."""
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise MnistlabError(f"{run_dir} has no {WEIGHTS}; finish training it with --resume")
    return path


def load_model(run_dir: str | Path, device: str = "cpu") -> Model:
    """Rebuild the model from config.json and load model.safetensors into it."""
    config = load_config(run_dir)
    path = weights_path(run_dir)
    model = build_model(config["model"], **config.get("model_args", {})).to(device)
    model.load_arrays(_load(path)[0], path)
    return model


# ── checkpoint ──────────────────────────────────────────────────────────────


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT).is_file()


def save_checkpoint(run_dir: Path, model: Model, optimizer: dict, state: dict) -> None:
    """Model and optimizer tensors plus the JSON training state, in one atomic file."""
    arrays = {
        **{f"model.{k}": v for k, v in model.arrays().items()},
        **{f"optim.{k}": v for k, v in optimizer.items()},
    }
    _save(Path(run_dir) / CHECKPOINT, arrays, {"state": json.dumps(state)})


def load_checkpoint(run_dir: Path, model: Model) -> tuple[dict, dict]:
    """Load the weights into `model`; return (optimizer arrays, training state)."""
    path = Path(run_dir) / CHECKPOINT
    arrays, metadata = _load(path)
    if "state" not in metadata:
        raise MnistlabError(f"{path} is not a mnistlab checkpoint (no training state)")
    model.load_arrays({k[6:]: v for k, v in arrays.items() if k.startswith("model.")}, path)
    optimizer = {k[6:]: v for k, v in arrays.items() if k.startswith("optim.")}
    return optimizer, json.loads(metadata["state"])


def remove_checkpoint(run_dir: Path) -> None:
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)
