"""A run's hyper-parameters, settled and checked before anything is loaded or written.

One home for what a run is: `Settings` names every hyper-parameter once, with the line of
help the CLI shows; `COMMON` holds the values every model shares; each model's own recipe is
its entry in mnistlab.models.MODELS. `settle()` layers them (common, the model's recipe, its
per-dataset and per-precision changes, then what the user gave) into one frozen Settings that
the loop, the steppers, the run folder and the benchmarks read by attribute. No torch here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mnistlab.data import get_spec
from mnistlab.data.load import DEFAULT_VAL_SIZE, IMAGE_SIDE
from mnistlab.errors import MnistlabError
from mnistlab.models import MODEL_NAMES, MODELS, OPTIMIZERS, get_model_spec

SCHEDULES = ("constant", "step", "cosine", "onecycle")
AUGMENTS = ("shift", "rotate", "scale", "erase", "flip")
MIN_GROW_FROM = 8  # pixels: smaller images leave too little for two 2×2 poolings
RENAMED_OPTIMIZERS = {"momentum": "nesterov"}  # old name → new (accepted, with a warning)
log = logging.getLogger("mnistlab.training.settings")


def _help(text: str) -> Any:
    return field(metadata={"help": text})


@dataclass(frozen=True)
class Settings:
    """Every hyper-parameter of a run, settled; what config.json records beside the model."""

    # A field added here is added to TrainConfig (training/run.py) and `mnistlab train`'s
    # flags (cli/train.py) too: tests/test_settings.py names the field until the three agree.
    # data
    dataset: str = _help("mnist or fashion-mnist.")
    val_size: int = _help("Training images held out for validation (0: none).")
    calibration_size: int = _help(
        "With --val-size 0: training images held out to calibrate the probabilities and the "
        "reject rule (the validation split does it otherwise)."
    )
    train_limit: int = _help("Train on the first N training images only (0: all).")
    # model
    model: str = _help(", ".join(MODEL_NAMES) + "; `mnistlab summary` shows the layers.")
    model_args: dict = _help("Keyword arguments of the model's builder (config.json).")
    # optimization
    epochs: int = _help("Passes over the training images.")
    batch_size: int = _help("Images per step; 0: all of them (full-batch descent).")
    lr: float = _help("Peak learning rate.")
    optimizer: str = _help(", ".join(OPTIMIZERS) + " (nesterov: SGD, Nesterov momentum 0.9).")
    schedule: str = _help("constant, step (×0.1 at 50% and 75%), cosine or onecycle.")
    weight_decay: float = _help("L2 penalty; decoupled for adamw.")
    betas: tuple[float, float] = _help("Adam moment decay rates, e.g. 0.9,0.999.")
    label_smoothing: float = _help("Target mass spread over all classes.")
    outlier_exposure: float = _help(
        "Weight of a second loss that teaches uniform answers on made-up non-digits "
        "(outlier exposure, Hendrycks et al. 2019); 0: off."
    )
    # augmentation (torch models)
    shift: int = _help("Shift training images by up to N whole pixels.")
    rotate: float = _help("Rotate training images by up to ± N degrees.")
    scale: float = _help("Zoom training images by 1 ± up to N.")
    erase: float = _help("Random erasing probability.")
    flip: bool = _help("Mirror half the training images (clothes, not digits).")
    grow_from: int = _help("Train on N×N images first, full size by 3/4 of the run (0: off).")
    # schedule of the run
    patience: int = _help("Early stopping: epochs without a lower val_loss (0: off).")
    seed: int = _help("Seeds the validation split, the initial weights and the batch order.")
    budget: float = _help("Seconds the whole run must end in; sets the epochs (0: none).")
    # what settle() found out
    precision: str = _help("The compute path the model runs: bf16 or fp32.")
    recipe: str = _help('Which recipe applied: the model name, or "fast/fp32" per path.')
    budget_plan: dict | None = _help(
        "How --budget was turned into epochs (mnistlab.training.budget)."
    )

    def to_dict(self) -> dict:
        """As config.json stores it (lists, not tuples)."""
        return {**asdict(self), "betas": list(self.betas)}


HELP = {f.name: f.metadata["help"] for f in fields(Settings)}
GIVEN = tuple(f.name for f in fields(Settings) if f.name not in ("precision", "recipe",
              "budget_plan", "model_args"))  # fmt: skip
# What every model shares unless its recipe (mnistlab.models.MODELS) says otherwise.
COMMON: dict = dict(
    dataset="mnist",
    val_size=DEFAULT_VAL_SIZE,
    calibration_size=2000,  # one temperature and a 1% quantile: 2,000 images pin them down
    train_limit=0,
    model="cnn",
    weight_decay=0.0,
    betas=(0.9, 0.999),
    label_smoothing=0.0,
    outlier_exposure=0.0,
    shift=0,
    rotate=0.0,
    scale=0.0,
    erase=0.0,
    flip=False,
    grow_from=0,
    patience=0,
    seed=0,
    budget=0.0,
)


def settle(given: dict[str, Any], saved: dict | None = None, path: str = "fp32") -> Settings:
    """The run's Settings: given values, else the saved run's (resume), else the recipe's.

    `given` maps Settings fields (and builder arguments such as `hidden`) to values, None where
    not given; `saved` is the config.json of the run being resumed; `path` is the compute path
    ("bf16" or "fp32", mnistlab.precision) that a bf16-capable model would run on.
    """
    given = _normalized({k: v for k, v in given.items() if v is not None})
    if saved is not None:
        given = _resumed(given, saved)
    budget_plan = given.pop("budget_plan", None)  # a resumed run keeps its schedule
    spec = get_model_spec(given.get("model", COMMON["model"]))
    dataset = given.get("dataset", spec.defaults.get("dataset", COMMON["dataset"]))
    get_spec(dataset)  # an unknown dataset fails here, naming the known ones
    path = path if spec.bf16 else "fp32"
    layers = (COMMON, spec.defaults, spec.per_dataset.get(dataset, {}),
              spec.per_precision.get(path, {}))  # fmt: skip
    values = {k: v for layer in (*layers, given) for k, v in layer.items() if k != "model_args"}
    model_args = {k: v for layer in layers for k, v in layer.get("model_args", {}).items()}
    for name in [k for k in values if k not in GIVEN]:  # builder arguments given as flags
        if name not in model_args:
            takers = [m for m in MODEL_NAMES if name in MODELS[m].defaults.get("model_args", {})]
            flag = f"--{name.replace('_', '-')}"
            raise MnistlabError(f"{flag} applies to --model {' or '.join(takers)} only")
        model_args[name] = values.pop(name)
    if saved is not None:
        model_args = dict(saved.get("model_args", {}))
    recipe = f"{values['model']}/{path}" if path in spec.per_precision else values["model"]
    settings = Settings(**values, model_args=model_args, precision=path, recipe=recipe,
                        budget_plan=budget_plan)  # fmt: skip
    validate(settings)
    return settings


def _normalized(given: dict) -> dict:
    """Lists as config.json has them, and old optimizer names mapped to the new ones."""
    if "hidden" in given:
        given["hidden"] = [int(h) for h in given["hidden"]]
    if "betas" in given:
        given["betas"] = tuple(float(b) for b in given["betas"])
    old = given.get("optimizer")
    if old in RENAMED_OPTIMIZERS:
        given["optimizer"] = RENAMED_OPTIMIZERS[old]
        log.warning("--optimizer %s is now called %s; the old name goes in 0.3", old,
                    given["optimizer"])  # fmt: skip
    return given


def _resumed(given: dict, saved: dict) -> dict:
    """A resumed run keeps every saved value; a given value that differs is refused."""
    before = {**saved, **saved.get("model_args", {})}
    if "betas" in before:
        before["betas"] = tuple(before["betas"])
    for key, value in given.items():
        if value != before.get(key):
            raise MnistlabError(
                f"cannot resume: {key} is {value} here but {before.get(key)} in the saved "
                "run; drop that setting or start a new run"
            )
    kept = {k: before[k] for k in (*GIVEN, "budget_plan") if before.get(k) is not None}
    return {**kept, **given}


def validate(settings: Settings) -> None:
    """Refuse settled values that cannot train, with a message naming the value and the fix."""
    spec = get_model_spec(settings.model)
    backend = spec.backend

    def check(ok: bool, message: str) -> None:
        if not ok:
            raise MnistlabError(message)

    def choice(key: str, allowed: tuple[str, ...]) -> None:
        value = getattr(settings, key)
        check(value in allowed, f"unknown {key} {value!r}; choose one of {', '.join(allowed)}")

    check(settings.epochs >= 1, f"epochs must be at least 1, got {settings.epochs}")
    check(
        len(settings.betas) == 2 and all(0 <= b < 1 for b in settings.betas),
        f"betas must be two numbers in [0, 1), got {list(settings.betas)}",
    )
    check(
        0 <= settings.label_smoothing < 1,
        f"label smoothing must be in [0, 1), got {settings.label_smoothing}",
    )
    check(
        settings.batch_size >= 0,
        f"batch size must be positive (0: full batch), got {settings.batch_size}",
    )
    check(
        math.isfinite(settings.lr) and settings.lr > 0,
        f"learning rate must be positive, got {settings.lr}",
    )
    choice("optimizer", OPTIMIZERS)
    choice("schedule", SCHEDULES)
    non_negative = ("weight_decay", "outlier_exposure", "shift", "rotate", "scale", "erase",
                    "patience", "train_limit", "seed", "val_size", "calibration_size",
                    "budget")  # fmt: skip
    for key in non_negative:
        value = getattr(settings, key)
        check(value >= 0, f"{key.replace('_', ' ')} must be 0 or more, got {value}")
    check(
        not settings.patience or settings.val_size > 0,
        "early stopping (--patience) needs --val-size > 0",
    )
    check(settings.scale < 1 and settings.erase <= 1, "scale must be below 1 and erase at most 1")
    check(
        not settings.grow_from or MIN_GROW_FROM <= settings.grow_from < IMAGE_SIDE,
        f"grow from must be 0 (off) or {MIN_GROW_FROM} to {IMAGE_SIDE - 1} pixels, "
        f"got {settings.grow_from}",
    )
    sized = [m for m in MODEL_NAMES if MODELS[m].any_size]
    check(
        spec.any_size or not settings.grow_from,
        f"--grow-from needs a network that takes images of any size ({', '.join(sized)}); "
        f"{settings.model} takes {IMAGE_SIDE}×{IMAGE_SIDE} only",
    )
    # What the model's backend can do (its entry in mnistlab.models.MODELS).
    allowed = " or ".join(backend.optimizers)
    check(
        settings.optimizer in backend.optimizers,
        f"the {settings.model} model trains with {allowed} only, not {settings.optimizer}",
    )
    check(backend.label_smoothing or not settings.label_smoothing,
          f"the {settings.model} model has no label smoothing")  # fmt: skip
    check(backend.augmentation or not settings.outlier_exposure,
          f"the {settings.model} model has no outlier exposure (torch models only)")  # fmt: skip
    check(
        backend.augmentation or not any(getattr(settings, k) for k in AUGMENTS),
        "augmentation (--shift, --rotate, --scale, --erase, --flip) is for torch models only",
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
