"""A run's hyper-parameters, settled and checked before anything is loaded or written.

Kept apart from the training loop because more than the loop needs them: a benchmark that
steps a model by its recipe settles the same values and follows the same schedule. The
values come in as a plain dict, so this module knows nothing of TrainConfig and the
dependency points one way (train.py imports this module, never the reverse).
"""

from __future__ import annotations

import math
from typing import Any

from mnistlab.data import get_spec
from mnistlab.errors import MnistlabError
from mnistlab.models import get_model_spec
from mnistlab.models.numpy_net import DEFAULTS as NUMPY_DEFAULTS

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")  # momentum: SGD with Nesterov 0.9 (steps.py)
NUMPY_OPTIMIZERS = ("sgd", "momentum")  # the NumPy net has hand-written SGD only
SCHEDULES = ("constant", "step", "cosine", "onecycle")
COMMON_DEFAULTS = dict(
    dataset="mnist",
    val_size=5000,
    train_limit=0,
    model="cnn",
    weight_decay=0.0,
    augment=0,
    rotate=0.0,
    scale=0.0,
    erase=0.0,
    flip=False,
    patience=0,
    seed=0,
    betas=[0.9, 0.999],
    label_smoothing=0.0,
    budget=0.0,  # seconds of wall clock the run must end in (0: none; epochs then fixed)
)


def settle(values: dict[str, Any], saved: dict | None = None, path: str = "fp32") -> dict:
    """The run's hyper-parameters: given values, else the saved run's (resume), else defaults.

    `values` holds every field that defines a run (TrainConfig.run_values()), None where not
    given; `saved` is the config.json of the run being resumed; `path` is the compute path
    ("bf16" or "fp32", mnistlab.precision) that a bf16-capable model would run on. The result
    records the path the model really uses as "precision", and as "recipe" which defaults
    applied ("fast/fp32" where a model has its own recipe for that path, else the name).
    """
    given = {k: v for k, v in values.items() if v is not None}
    if "hidden" in given:
        given["hidden"] = [int(h) for h in given["hidden"]]
    if "betas" in given:
        given["betas"] = [float(b) for b in given["betas"]]  # a list, as config.json has it
    if saved is not None:
        before = {**saved, **saved.get("model_args", {})}
        for key, value in given.items():
            if value != before.get(key):
                raise MnistlabError(
                    f"cannot resume: {key} is {value} here but {before.get(key)} in the saved "
                    "run; drop that setting or start a new run"
                )
        given = {**{k: before[k] for k in values if before.get(k) is not None}, **given}
    spec = get_model_spec(given.get("model", COMMON_DEFAULTS["model"]))
    dataset = given.get("dataset", spec.defaults.get("dataset", COMMON_DEFAULTS["dataset"]))
    path = path if spec.bf16 else "fp32"
    layers = (COMMON_DEFAULTS, spec.defaults, spec.per_dataset.get(dataset, {}),
              spec.per_precision.get(path, {}), given)  # fmt: skip
    s = {k: v for layer in layers for k, v in layer.items() if k != "model_args"}
    builder_args = {k: v for layer in layers for k, v in layer.get("model_args", {}).items()}
    model = s["model"]
    get_spec(s["dataset"])  # an unknown dataset fails here, naming the known ones
    numpy_args = {k: s.pop(k) for k in ("hidden", "activation") if k in s}
    if numpy_args and model != "numpy":
        raise MnistlabError("--hidden and --activation apply to --model numpy only")
    if model == "numpy":
        hidden, activation = list(NUMPY_DEFAULTS["hidden"]), NUMPY_DEFAULTS["activation"]
        numpy_args = {"hidden": hidden, "activation": activation, **numpy_args}
    validate(s)
    recipe = f"{model}/{path}" if path in spec.per_precision else model
    return {**s, "precision": path, "recipe": recipe, "model_args": {**builder_args, **numpy_args}}


def validate(s: dict) -> None:
    """Refuse settled values that cannot train, with a message naming the value and the fix."""

    def check(ok: bool, message: str) -> None:
        if not ok:
            raise MnistlabError(message)

    def choice(key: str, allowed: tuple[str, ...]) -> None:
        check(s[key] in allowed, f"unknown {key} {s[key]!r}; choose one of {', '.join(allowed)}")

    check(s["epochs"] >= 1, f"epochs must be at least 1, got {s['epochs']}")
    check(
        len(s["betas"]) == 2 and all(0 <= b < 1 for b in s["betas"]),
        f"betas must be two numbers in [0, 1), got {s['betas']}",
    )
    smoothing = s["label_smoothing"]
    check(0 <= smoothing < 1, f"label smoothing must be in [0, 1), got {smoothing}")
    check(
        s["model"] != "numpy" or not s["label_smoothing"], "the numpy model has no label smoothing"
    )
    check(
        s["batch_size"] >= 0, f"batch size must be positive (0: full batch), got {s['batch_size']}"
    )
    check(math.isfinite(s["lr"]) and s["lr"] > 0, f"learning rate must be positive, got {s['lr']}")
    choice("optimizer", OPTIMIZERS)
    choice("schedule", SCHEDULES)
    non_negative = ("weight_decay", "augment", "rotate", "scale", "erase", "patience",
                    "train_limit", "seed", "val_size", "budget")  # fmt: skip
    for key in non_negative:
        check(s[key] >= 0, f"{key.replace('_', ' ')} must be 0 or more, got {s[key]}")
    check(
        not s["patience"] or s["val_size"] > 0, "early stopping (--patience) needs --val-size > 0"
    )
    check(
        s["model"] != "numpy" or s["optimizer"] in NUMPY_OPTIMIZERS,
        f"the numpy model trains with {' or '.join(NUMPY_OPTIMIZERS)} only, not {s['optimizer']}",
    )
    check(s["scale"] < 1 and s["erase"] <= 1, "scale must be below 1 and erase at most 1")
    augments = ("augment", "rotate", "scale", "erase", "flip")
    check(
        s["model"] != "numpy" or not any(s[k] for k in augments),
        "augmentation (--augment, --rotate, --scale, --erase, --flip) is for torch models only",
    )


def lr_at(schedule: str, lr: float, step: int, total: int) -> float:
    """Learning rate at `step` of `total`: a pure function, so resuming needs only the step."""
    t = step / max(total, 1)
    if schedule == "step":
        return lr * 0.1 ** ((t >= 0.5) + (t >= 0.75))
    if schedule == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "onecycle":  # linear warm-up from lr/25 over 30% of the steps, cosine to 0
        if t < 0.3:
            return lr * (0.04 + 0.96 * t / 0.3)
        return lr * 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))
    return lr
