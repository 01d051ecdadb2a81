"""Train any model with one loop, from a TrainConfig to a finished run folder.

Read top to bottom: settle the hyper-parameters (settings.py), load the data, build the
model, then per epoch: the steps of loop.py, validation, an atomic checkpoint. Resuming
loads the last checkpoint; nothing else carries over between epochs, so the run continues bit
for bit. The test split is scored once, at the end, through Model.predict_proba. Under
torchrun every process runs this; rank 0 alone reads and writes (distributed.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnistlab import memory, precision, reading, runs
from mnistlab.data import get_spec, load_dataset
from mnistlab.data.load import IMAGE_SIDE
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.scores import loss_and_accuracy
from mnistlab.models import Model, build_model, calibration, get_model_spec, pixel_stats
from mnistlab.prediction.calibrate import OUTLIERS, fit_calibration, fit_reject, outlier_images
from mnistlab.training import budget, distributed, faults, loop
from mnistlab.training.settings import Settings, settle
from mnistlab.training.steps import make_stepper

REJECT_OUTLIERS_ENV = "MNISTLAB_REJECT_OUTLIERS"  # TrainConfig.reject_outliers' default
# Made-up images outlier exposure draws from when the run fits no reject rule (whose images
# it shares otherwise): as many as the tests' rule learns from (tests/predict_helpers.py).
EXPOSURE_POOL = 2000


@dataclass
class TrainConfig:
    """What a user asks of a run. The hyper-parameters are settings.Settings' (help
    there); None means the model's recipe, or, when resuming, the value the run saved."""

    # Settings' fields, typed as there or None, and the numpy builder's (tests/test_settings.py)
    dataset: str | None = None
    val_size: int | None = None
    calibration_size: int | None = None
    train_limit: int | None = None
    model: str | None = None
    hidden: tuple[int, ...] | None = None  # builder arguments of the numpy model
    activation: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    schedule: str | None = None
    weight_decay: float | None = None
    betas: tuple[float, float] | None = None
    label_smoothing: float | None = None
    outlier_exposure: float | None = None
    shift: int | None = None
    rotate: float | None = None
    scale: float | None = None
    erase: float | None = None
    flip: bool | None = None
    grow_from: int | None = None
    patience: int | None = None
    seed: int | None = None
    budget: float | None = None  # seconds
    # where and how: not part of what defines a run, free to change when resuming
    device: str = "auto"  # "auto" picks CUDA when present; "cpu", "cuda", "cuda:1"...
    precision: str | None = None  # auto, bf16 or fp32 (default MNISTLAB_PRECISION, else auto)
    out: str | None = None  # the run folder (default runs/<dataset>-<model>-<timestamp>)
    resume: bool = False  # continue the run in `out` from its last finished epoch
    from_run: str | None = None  # a new run starting from this finished run's weights
    log_every: int = 0  # also print the batch loss and accuracy every N steps (0: off)
    data_dir: str | None = None  # folder holding the IDX files (default: the cache)
    # made-up non-digits the reject rule learns from at the end (prediction/calibrate.py);
    # 0: no rule (it costs seconds per run; the tests mostly do without); default
    # MNISTLAB_REJECT_OUTLIERS, else calibrate.OUTLIERS
    reject_outliers: int | None = None

    def run_values(self) -> dict[str, Any]:
        """The fields that define a run (not where and how it runs), None where not given."""
        return {k: getattr(self, k) for k in RUN_FIELDS}


HOW_FIELDS = ("device", "precision", "out", "resume", "from_run", "log_every", "data_dir",
              "reject_outliers")  # fmt: skip
RUN_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name not in HOW_FIELDS)


@dataclass
class Run:
    """A finished run: its folder and what train() left in it."""

    dir: Path
    config: dict
    model: Model
    history: list[dict]
    metrics: dict


def train(config: TrainConfig, on_epoch_end: Callable[[dict, Model], None] | None = None) -> Run:
    """Train, checkpoint every epoch, evaluate on the test split.

    `on_epoch_end(row, model)` runs after each epoch's checkpoint: a notebook can plot the
    history row or look at the weights; an exception there stops the run, resumably.
    The process keeps the memory the steps free from then on (mnistlab.memory).
    """
    started, world = time.perf_counter(), distributed.join(config.device)
    memory.keep_freed_memory()
    run_dir = Path(config.out) if config.out else None
    with world.reporting(run_dir):  # under torchrun: rank 0 checks, the others follow
        saved, mode, settings = world.from_lead(lambda: _settled(config, run_dir, world.size))
        device = world.device(config.device, get_model_spec(settings.model).backend.cpu_only)
        with precision.using(mode):
            return _train(config, run_dir, saved, settings, device, on_epoch_end, world, started)


def _settled(config: TrainConfig, run_dir: Path | None, processes: int):
    """(the saved config when resuming, the precision mode, the Settings), or a MnistlabError:
    everything checked before any data is loaded or any file written."""
    saved = None
    if config.resume and config.from_run:
        raise MnistlabError("--from starts a new run and --resume continues one: give one")
    if config.resume:
        if run_dir is None:
            raise MnistlabError("--resume needs --out RUN_DIR, the run folder to continue")
        saved = runs.load_config(run_dir)
        if not runs.has_checkpoint(run_dir):
            raise MnistlabError(runs.cannot_resume(run_dir))
        runs.checkpoint_state(run_dir)  # a damaged checkpoint: one line before any data loads
        faults.check_saved(saved, run_dir)
    if config.budget and config.epochs:
        raise MnistlabError("give --epochs or --budget, not both: the budget sets the epochs")
    source = _source(config) if config.from_run else {}
    name = config.model or (saved or source).get("model", "cnn")
    spec = get_model_spec(name)
    distributed.check_run(name, processes, bool(config.budget), saved, run_dir)
    device = distributed.World().device(config.device, spec.backend.cpu_only)
    mode = _precision_mode(config.precision, saved)
    given = config.run_values()
    if source:  # its model, and its dataset unless another is asked
        given |= {"model": name, "dataset": config.dataset or source["dataset"]}
    with precision.using(mode):
        settings = settle(given, saved, precision.compute_path(_device_type(device)))
    if source:  # its network, whatever this machine's recipe would build
        settings = dataclasses.replace(settings, model_args=source["model_args"])
    return saved, mode, settings


def _source(config: TrainConfig) -> dict:
    """The config.json of the run that --from starts from, checked: finished, same model."""
    source = runs.load_config(config.from_run)
    runs.weights_path(config.from_run)  # finished, or a one-line error
    if config.model and config.model != source["model"]:
        raise MnistlabError(f"--from {config.from_run} holds a {source['model']} model, not a "
                            f"{config.model}: drop --model (the weights decide it)")  # fmt: skip
    if config.hidden is not None or config.activation is not None:
        raise MnistlabError("--from keeps the network of the run it starts from: drop --hidden "
                            "and --activation")  # fmt: skip
    return source


def _train(config: TrainConfig, run_dir, saved, settings: Settings, device: str, on_epoch_end,
           world: distributed.World, started: float) -> Run:  # fmt: skip
    held_out = settings.val_size or settings.calibration_size  # validation, else calibration
    load = dict(name=settings.dataset, val_size=held_out, seed=settings.seed,
                data_dir=config.data_dir)  # fmt: skip
    train_set, test_set = load_dataset(split="train", **load), load_dataset(split="test", **load)
    val_set = load_dataset(split="val", **load) if settings.val_size else None
    limit = settings.train_limit or None
    x, y = train_set.images[:limit], train_set.labels[:limit]

    if not saved and not config.from_run:  # --from keeps its source's normalization too
        model_args = {**settings.model_args, **pixel_stats(x)}
        settings = dataclasses.replace(settings, model_args=model_args)
    model = build_model(settings.model, seed=settings.seed, **settings.model_args)
    if not saved and config.from_run:  # rank 0 reads the weights and shares them
        weights = world.from_lead(lambda: runs.load_model(config.from_run).arrays())
        model.load_arrays(weights, config.from_run)
    elif not saved:
        model.init_from_data(x)
    made_up = _made_up(settings, config, world, _reject_outliers(config) or EXPOSURE_POOL)
    stepper = make_stepper(model, x, y, settings, device, world, made_up)
    if settings.budget and not saved:
        plan = _plan_budget(model, x, y, settings, device, val_set, test_set, started, made_up)
        settings = dataclasses.replace(settings, epochs=plan.epochs,
                                       budget_plan=dataclasses.asdict(plan))  # fmt: skip
    if saved:
        cfg, created = saved, False
        (optimizer, saved_state), arrays = world.from_lead(
            lambda: (runs.load_checkpoint(run_dir, model), model.arrays())
        )  # rank 0 reads the checkpoint; the other ranks, on any machine, get its tensors
        if not world.lead:
            model.load_arrays(arrays, run_dir)
        _load_optimizer(stepper, optimizer, run_dir)
        state = loop.State(**saved_state)
    else:
        cfg, state = _config(settings, device, world.size), loop.State()
        if config.from_run:  # which weights it started from, whatever becomes of that folder
            origin = world.from_lead(lambda: runs.weights_sha256(config.from_run))
            cfg["from"] = {"run": str(config.from_run), "weights_sha256": origin}
        run_dir, created = world.from_lead(
            lambda: _new_run_dir(run_dir, settings, len(y), world.size)
        )
    console = Console(stderr=True, soft_wrap=True, highlight=False, quiet=not world.lead)
    finishing = False
    try:
        console.print(_header(settings, len(y), device, state.epoch if saved else None,
                              world.size))  # fmt: skip
        if settings.budget_plan:
            console.print(budget.Plan(**settings.budget_plan).describe())
        while state.epoch < settings.epochs and not state.stopped:
            row = _epoch(model, stepper, settings, len(y), val_set, state, run_dir, console,
                         config.log_every, world)  # fmt: skip
            if world.lead:
                if not (run_dir / runs.CONFIG).exists():
                    runs.write_config(run_dir, cfg)
                runs.save_checkpoint(run_dir, model, stepper.optimizer_state(),
                                     dataclasses.asdict(state))  # fmt: skip
                runs.write_history(run_dir, state.history)
            console.print(_keras_line(row, settings.epochs), markup=False)
            if state.stopped:
                console.print(f"early stopping: no lower val_loss than {state.best_val_loss:.4f} "
                              f"for {settings.patience} epochs")  # fmt: skip
            if on_epoch_end:
                on_epoch_end(row, model)
        finishing = True
        calibration_set = val_set or (load_dataset(split="val", **load) if held_out else None)
        return _finish(model, test_set, state, run_dir, cfg, console, world, calibration_set,
                       config.data_dir, _reject_outliers(config))  # fmt: skip
    except BaseException as e:
        if not saved and not finishing and world.lead and not runs.has_checkpoint(run_dir):
            runs.discard_run_dir(run_dir, created)  # no epoch kept: leave nothing behind
        said = faults.stopped(e, run_dir, settings.epochs, finishing, world.lead, world.size)
        if said is None:
            raise
        if isinstance(said, faults.Interrupted):  # the CLI then exits 130
            if str(said):
                console.print(str(said), markup=False, highlight=False)
            if world.size > 1:
                distributed.end_now(130)
        raise said from None


def _made_up(settings: Settings, config: TrainConfig, world: distributed.World, count: int
             ) -> np.ndarray | None:  # fmt: skip
    """The `count` made-up non-digits that outlier exposure shows the network (None when
    off): the reject rule's images (prediction/calibrate.py), drawn once and cached."""
    if not settings.outlier_exposure:
        return None
    preprocessing = get_spec(settings.dataset).preprocessing
    return world.from_lead(lambda: outlier_images(preprocessing, settings.dataset, count,
                                                  data_dir=config.data_dir)[0])  # fmt: skip


def _reject_outliers(config: TrainConfig) -> int:
    if config.reject_outliers is not None:
        return config.reject_outliers
    try:
        return int(os.environ.get(REJECT_OUTLIERS_ENV, OUTLIERS))
    except ValueError:
        raise MnistlabError(f"{REJECT_OUTLIERS_ENV} must be a number of images") from None


def _load_optimizer(stepper, optimizer: dict, run_dir: Path) -> None:
    """The checkpoint's optimizer state into the stepper; one line if it does not fit."""
    try:
        stepper.load_optimizer_state(optimizer)
    except (MnistlabError, KeyError, ValueError, RuntimeError) as e:
        path, fix = run_dir / runs.CHECKPOINT, runs.fix(run_dir, runs.CHECKPOINT)
        raise reading.damaged(path, f"its optimizer state does not fit: {e}", fix) from None


def _new_run_dir(
    run_dir: Path | None, settings: Settings, n: int, processes: int
) -> tuple[Path, bool]:
    """Rank 0's new run folder (and whether it made it), once the batches split over ranks."""
    distributed.check_batches(loop.batch_size(settings, n), n, processes)
    run_dir = run_dir or runs.default_run_dir(settings.dataset, settings.model)
    return run_dir, runs.create_run_dir(run_dir)


def _config(settings: Settings, device: str, processes: int) -> dict:
    """config.json of a new run: the settled hyper-parameters, the dataset's class names and
    preprocessing, the device, the number of processes (when several) and library versions."""
    spec = get_spec(settings.dataset)
    return {"dataset": settings.dataset, "model": settings.model,
            "model_args": settings.model_args,
            "classes": list(spec.classes), "preprocessing": spec.preprocessing,
            **{k: v for k, v in settings.to_dict().items() if k not in ("dataset", "model",
               "model_args") and (k != "budget_plan" or v)},
            "device": device, **({"world_size": processes} if processes > 1 else {}),
            "versions": runs.versions()}  # fmt: skip


def _epoch(model, stepper, settings: Settings, n: int, val_set, state: loop.State, run_dir,
           console, log_every: int, world: distributed.World) -> dict:  # fmt: skip
    """One pass of loop.py's steps under a progress bar, then validation; updates state."""
    epoch, t0 = state.epoch + 1, time.perf_counter()
    loss_sum = correct = seen = 0.0
    columns = (TextColumn(f"epoch {epoch}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.description}"), TimeElapsedColumn())  # fmt: skip
    bar = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with bar:
        task = bar.add_task("", total=loop.steps_per_epoch(settings, n))
        steps = loop.epoch_steps(stepper, settings, n, epoch, state.step)
        for i, step in enumerate(steps, start=1):
            loss_sum, correct = loss_sum + step.loss * step.images, correct + step.hits
            seen, state.step = seen + step.images, state.step + 1
            if log_every and state.step % log_every == 0:
                console.print(f"step {state.step}: loss {float(step.loss):.4f}, train accuracy "
                              f"{float(step.hits) / step.images:.4f}")  # fmt: skip
            if seen == n or i % 20 == 0:  # reading a tensor syncs a GPU: not every step
                _check_finite(float(loss_sum), epoch, settings, run_dir)
                stats = f"loss {float(loss_sum) / seen:.4f} acc {float(correct) / seen:.4f}"
                bar.update(task, completed=i, description=stats)
    val_loss = val_acc = math.nan
    if val_set is not None:
        proba = world.predict_proba(model, val_set.images)
        val_loss, val_acc = loss_and_accuracy(val_set.labels, proba)
        _check_finite(val_loss, epoch, settings, run_dir)
        if settings.patience:
            loop.early_stopping(state, val_loss, settings.patience)
    row = dict(epoch=epoch, train_loss=float(loss_sum) / n, train_acc=float(correct) / n,
               val_loss=val_loss, val_acc=val_acc, lr=step.lr,
               seconds=time.perf_counter() - t0)  # fmt: skip
    state.history.append(row)
    state.epoch = epoch
    return row


def _finish(model: Model, test_set, state: loop.State, run_dir: Path, cfg: dict, console,
            world: distributed.World, calibration_set, data_dir,
            outliers: int) -> Run:  # fmt: skip
    """Score the test split, fit the temperature on the held-out split and the reject rule
    (from `outliers` made-up images; 0: none), save the weights, calibration and metrics
    (last: metrics.json means finished)."""
    proba = world.predict_proba(model, test_set.images)
    test_loss, test_acc = loss_and_accuracy(test_set.labels, proba)
    seconds = sum(r["seconds"] for r in state.history)
    metrics = dict(accuracy=test_acc, loss=test_loss, train_seconds=seconds, epochs=state.epoch)
    fitted = None
    if calibration_set is not None:  # the temperature (models/calibration.py), after training
        held_out = world.predict_proba(model, calibration_set.images)
        where = "val" if cfg["val_size"] else "calibration"
        fitted = fit_calibration(cfg, held_out, calibration_set.labels, where)
        calibrated = calibration.Calibration.of(fitted)
        metrics["calibration"] = calibration.summary(proba, test_set.labels, calibrated)
    if not world.lead:
        return Run(run_dir, cfg, model, state.history, metrics)
    if fitted is not None and outliers:  # the same rule as `mnistlab calibrate`'s
        rule, fitted["reject"] = fit_reject(
            model,
            cfg,
            calibration_set,
            calibrated,
            fitted["fitted_on"],
            data_dir,
            made_up=outliers,
        )
        runs.save_reject(run_dir, rule.arrays)
        metrics["reject"] = rule.selective_on(model, test_set.images, test_set.labels, calibrated)
    if fitted is not None:
        runs.write_calibration(run_dir, fitted)
    runs.save_model(run_dir, model)
    runs.write_history(run_dir, state.history)
    runs.write_metrics(run_dir, metrics)
    runs.remove_checkpoint(run_dir)
    console.print(f"test_loss: {test_loss:.4f} - test_accuracy: {test_acc:.4f} - run: {run_dir}")
    return Run(run_dir, cfg, model, state.history, runs.load_metrics(run_dir))


def _precision_mode(asked: str | None, saved: dict | None) -> str | None:
    """The mode to train in: as asked, except that a resumed run keeps its saved path (so it
    continues bit for bit), and asking for the other path then is refused."""
    if asked is not None:
        precision.check(asked)
    if saved is None or not get_model_spec(saved["model"]).bf16:
        return asked
    path, asked = saved.get("precision", "fp32"), asked or precision.requested()
    if asked not in ("auto", path):
        raise MnistlabError(
            f"cannot resume: this run computed in {path}, and {asked} was asked; resume with "
            f"--precision {path} (or auto) to continue it exactly, or start a new run"
        )
    return path


def _plan_budget(model, x, y, settings: Settings, device: str, val_set, test_set, started: float,
                 made_up: np.ndarray | None = None):  # fmt: skip
    """Time this machine's training steps and evaluation passes, then fit epochs to the budget."""
    n = len(y)

    def stepper(probe):
        return make_stepper(probe, x, y, settings, device, outliers=made_up)

    def measured(size: int) -> float:  # seconds per step on size × size images
        return budget.time_steps(model, stepper, n, loop.batch_size(settings, n), size)

    step = measured(IMAGE_SIDE)
    small = measured(settings.grow_from) if settings.grow_from else 0.0
    test = budget.time_evaluation(model, test_set.images)
    val = budget.time_evaluation(model, val_set.images) if val_set else 0.0
    spent = time.perf_counter() - started
    return budget.plan(settings.budget, spent, step, loop.steps_per_epoch(settings, n), test,
                       val, settings.grow_from, small)  # fmt: skip


def _device_type(device: str) -> str:
    return device.split(":")[0]


def _header(settings: Settings, n: int, device: str, resumed_at: int | None, processes: int) -> str:
    """The line that opens a run: what trains on what, and the compute path it runs."""
    bf16 = get_model_spec(settings.model).bf16
    path = precision.describe(_device_type(device)) if bf16 else settings.precision
    start = f", resuming after epoch {resumed_at}" if resumed_at is not None else ""
    plural = "" if settings.epochs == 1 else "s"
    device += f" × {processes} processes" if processes > 1 else ""
    steps, batch = loop.steps_per_epoch(settings, n), loop.batch_size(settings, n)
    return (
        f"{settings.model} on {settings.dataset}: {n:,} training images, {settings.epochs} "
        f"epoch{plural} of {steps} steps (batch {batch}), {device}, precision {path}{start}"
    )


def _check_finite(loss: float, epoch: int, settings: Settings, run_dir: Path) -> None:
    if math.isfinite(loss):
        return
    kept = (
        f"the last good checkpoint, epoch {epoch - 1}, is kept in {run_dir}"
        if epoch > 1
        else "no epoch finished, so nothing was saved"
    )
    raise MnistlabError(
        f"the loss became {loss} in epoch {epoch}: learning rate {settings.lr:g} is too high for "
        f"{settings.model} with {settings.optimizer}; lower --lr ({kept})"
    )


def _keras_line(row: dict, epochs: int) -> str:
    val = (
        ""
        if math.isnan(row["val_loss"])  # no validation split (--val-size 0)
        else f" - val_loss: {row['val_loss']:.4f} - val_accuracy: {row['val_acc']:.4f}"
    )
    return (
        f"Epoch {row['epoch']}/{epochs} - {row['seconds']:.1f}s - loss: {row['train_loss']:.4f}"
        f" - accuracy: {row['train_acc']:.4f}{val} - lr: {row['lr']:.2e}"
    )
