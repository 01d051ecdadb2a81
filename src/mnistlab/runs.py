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
import shlex
import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors import numpy as st

from mnistlab import atomic, reading, run_checks
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


def discard_run_dir(path: Path, created: bool) -> None:
    """Undo a new run that kept no epoch (no checkpoint), so that a failed start leaves nothing
    behind and the same command can run again: remove what it wrote, and the folder if
    create_run_dir made it (it was empty, or not there, when the run began)."""
    with contextlib.suppress(OSError):
        for name in (CONFIG, HISTORY, METRICS, WEIGHTS):
            (path / name).unlink(missing_ok=True)
        for temporary in path.glob(".*.tmp"):  # what a killed atomic write leaves
            temporary.unlink(missing_ok=True)
        if created:
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


def write_config(run_dir: Path, config: dict) -> None:
    atomic.write_text(Path(run_dir) / CONFIG, json.dumps(config, indent=2) + "\n")


def load_config(run_dir: str | Path) -> dict:
    """config.json, checked (the keys every command needs, of the right kinds), with the names
    of runs saved before 0.2 read as today's."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        if any((Path(run_dir) / name).is_file() for name in (WEIGHTS, CHECKPOINT, HISTORY)):
            raise MnistlabError(f"{run_dir} has no {CONFIG}; {fix(run_dir, CONFIG)}")
        raise MnistlabError(f"{run_dir} is not a run folder (no {CONFIG})")
    config = reading.read_json(path, fix(run_dir, CONFIG))
    run_checks.check_config(config, path, fix(run_dir, CONFIG))
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
    """Rows of history.csv as floats (val_* are NaN when the run had no validation set):
    epochs 1..N in order, as many as metrics.json counts when the run has finished."""
    path, what_to_do = Path(run_dir) / HISTORY, fix(run_dir, HISTORY)
    if not path.is_file():
        raise MnistlabError(f"{run_dir} has no {HISTORY}; {what_to_do}")
    rows = run_checks.parse_history(reading.read_text(path, what_to_do), HISTORY_FIELDS, path,
                                    what_to_do)  # fmt: skip
    metrics = load_metrics(run_dir)
    if metrics and "epochs" in metrics and metrics["epochs"] != len(rows):
        raise reading.damaged(path, f"{len(rows)} epochs, where {METRICS} counts "
                              f"{metrics['epochs']}", what_to_do)  # fmt: skip
    return rows


def load_metrics(run_dir: str | Path) -> dict | None:
    """metrics.json, checked; None when the run has none (it has not finished)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return None
    what_to_do = fix(run_dir, METRICS)
    metrics = reading.read_json(path, what_to_do)
    run_checks.check_metrics(metrics, path, what_to_do)
    return metrics


def write_metrics(run_dir: str | Path, metrics: dict) -> None:
    """Merge into metrics.json, so training's and evaluation's fields live side by side."""
    merged = {**(load_metrics(run_dir) or {}), **metrics}
    atomic.write_text(Path(run_dir) / METRICS, json.dumps(merged, indent=2) + "\n")


def load_calibration(run_dir: str | Path) -> dict | None:
    """calibration.json (None for a run calibrated by no one: trained before 0.2)."""
    path = Path(run_dir) / CALIBRATION
    return reading.read_json(path, fix(run_dir, CALIBRATION)) if path.is_file() else None


def write_calibration(run_dir: str | Path, calibration: dict) -> None:
    atomic.write_text(Path(run_dir) / CALIBRATION, json.dumps(calibration, indent=2) + "\n")


def save_reject(run_dir: str | Path, arrays: dict[str, np.ndarray]) -> None:
    _save(Path(run_dir) / REJECT, arrays)


def load_reject(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    path = Path(run_dir) / REJECT
    return _load(path, fix(run_dir, REJECT))[0] if path.is_file() else None


# ── weights ─────────────────────────────────────────────────────────────────


def _save(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None):
    atomic.write_bytes(
        path, st.save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata)
    )


def _load(
    path: Path, what_to_do: str, tensors: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors (or, with tensors=False, none: the header alone is read and checked) and
    the metadata of a safetensors file; one line naming it if it cannot be read."""
    try:
        with safe_open(path, framework="numpy") as f:
            arrays = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}  # noqa: SIM118
            return arrays, f.metadata() or {}
    except OSError as e:
        raise MnistlabError(f"cannot read {path}: {e.strerror or e}; {what_to_do}") from None
    except (SafetensorError, ValueError, TypeError) as e:  # numpy refuses some dtypes
        raise reading.damaged(path, f"not a safetensors file: {e}", what_to_do) from None


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
    """The run's model.safetensors; where there is none, one line saying why and what to do."""
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise MnistlabError(not_trained(run_dir))
    return path


def load_model(run_dir: str | Path, device: str = "cpu") -> Model:
    """Rebuild the model from config.json and load model.safetensors into it."""
    config = load_config(run_dir)
    path = weights_path(run_dir)
    what_to_do = fix(run_dir, WEIGHTS)
    try:
        model = build_model(config["model"], **config["model_args"]).to(device)
    except MnistlabError as e:  # arguments its builder does not take
        raise reading.damaged(Path(run_dir) / CONFIG, str(e), fix(run_dir, CONFIG)) from None
    try:
        model.load_arrays(_load(path, what_to_do)[0], path)
    except MnistlabError as e:
        raise MnistlabError(f"{e}; {what_to_do}") from None
    return model


# ── what a folder that cannot be used says to do ────────────────────────────


def fix(run_dir: str | Path, name: str) -> str:
    """What to do about run_dir's file `name` when it is damaged or missing, so that every
    command says the same (evaluate, predict, serve, export, train --resume, compare)."""
    again = "restore it from a copy, or train the run again"
    resume = f"mnistlab train --out {shlex.quote(str(run_dir))} --resume"
    if name == METRICS:
        return f"remove it, and `mnistlab evaluate {shlex.quote(str(run_dir))}` writes it again"
    if name in (CALIBRATION, REJECT):
        return f"remove it, and `mnistlab calibrate {shlex.quote(str(run_dir))}` writes it again"
    if name == CHECKPOINT:
        return (f"the run cannot continue from it: train it again (remove {run_dir} first, or "
                "choose another --out)")  # fmt: skip
    if name != CONFIG and has_checkpoint(Path(run_dir)):  # a run that can go on writes it
        return f"continue the run, which writes it again: {resume}"
    return again


def not_trained(run_dir: str | Path) -> str:
    """Why run_dir holds no model.safetensors, and what to do."""
    if has_checkpoint(Path(run_dir)):
        epoch = checkpoint_state(run_dir)["epoch"]
        resume = f"mnistlab train --out {shlex.quote(str(run_dir))} --resume"
        return (f"{run_dir} has not finished training (its checkpoint is after epoch {epoch}); "
                f"finish it with: {resume}")  # fmt: skip
    if any((Path(run_dir) / name).is_file() for name in (HISTORY, METRICS)):
        return (f"{run_dir} has no {WEIGHTS} and no checkpoint to rebuild it from; restore "
                f"{WEIGHTS} from a copy, or train the run again")  # fmt: skip
    return (f"no epoch of {run_dir} finished, so it holds no model to use or resume; remove "
            "it and train again")  # fmt: skip


def cannot_resume(run_dir: str | Path) -> str:
    """Why `train --resume` cannot continue run_dir (it has no checkpoint), and what to do."""
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        return not_trained(run_dir)
    load_model(run_dir)  # weights that cannot be used say so, not "use it"
    return (f"{run_dir} has no checkpoint to resume from (it has finished already): evaluate "
            "or serve it, or train a new run in another --out")  # fmt: skip


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


def checkpoint_state(run_dir: str | Path) -> dict:
    """The training state in the checkpoint's header, checked, without reading its tensors:
    epoch, step and the history rows (loop.State's fields)."""
    path, what_to_do = Path(run_dir) / CHECKPOINT, fix(run_dir, CHECKPOINT)
    _, metadata = _load(path, what_to_do, tensors=False)
    if "state" not in metadata:
        raise reading.damaged(path, "not a mnistlab checkpoint: no training state", what_to_do)
    state = reading.parse_json(metadata["state"], path, what_to_do)
    run_checks.check_state(state, HISTORY_FIELDS, path, what_to_do)
    return state


def load_checkpoint(run_dir: Path, model: Model) -> tuple[dict, dict]:
    """Load the weights into `model`; return (optimizer arrays, training state)."""
    path, what_to_do = Path(run_dir) / CHECKPOINT, fix(run_dir, CHECKPOINT)
    state = checkpoint_state(run_dir)
    arrays, _ = _load(path, what_to_do)
    try:
        model.load_arrays({k[6:]: v for k, v in arrays.items() if k.startswith("model.")}, path)
    except MnistlabError as e:
        raise MnistlabError(f"{e}; {what_to_do}") from None
    optimizer = {k[6:]: v for k, v in arrays.items() if k.startswith("optim.")}
    return optimizer, state


def remove_checkpoint(run_dir: Path) -> None:
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)
