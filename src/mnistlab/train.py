"""Train any model with one loop, from a TrainConfig to a finished run folder.

Read top to bottom: settle the hyper-parameters (given values over the model's defaults; see
mnistlab.settings), load the data, build the model, then per epoch: batches from a permutation
seeded by (seed, epoch), one step each, validation, an atomic checkpoint. Resuming loads the last
checkpoint; nothing else carries over between epochs, so the run continues bit for bit.
"""

from __future__ import annotations

import math
import sys
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnistlab import budget, precision, runs
from mnistlab.data import get_spec, load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.models import Model, build_model, get_model_spec, init_from_data, pixel_stats
from mnistlab.settings import lr_at, settle
from mnistlab.steps import make_stepper


@dataclass
class TrainConfig:
    """Every hyper-parameter of a run. None means the default named in the comment ("per
    model": mnistlab.models.MODELS), or, when resuming, the value the run folder saved."""

    # data
    dataset: str | None = None  # "mnist" or "fashion-mnist" (default mnist)
    val_size: int | None = None  # training images held out for validation (default 5000; 0: none)
    train_limit: int | None = None  # train on the first N training images only (default 0: all)
    # model
    model: str | None = None  # a name in mnistlab.models.MODELS: numpy, mlp, cnn... (default cnn)
    hidden: tuple[int, ...] | None = None  # numpy only: hidden layer sizes (default (512,))
    activation: str | None = None  # numpy only: "relu" or "sigmoid" (default relu)
    # optimization (per model)
    epochs: int | None = None  # passes over the training images
    batch_size: int | None = None  # images per step; 0: all of them (full-batch descent)
    lr: float | None = None  # peak learning rate
    optimizer: str | None = None  # sgd, momentum (SGD, Nesterov 0.9), adam, adamw
    schedule: str | None = None  # constant, step (×0.1 at 50% and 75%), cosine, onecycle
    weight_decay: float | None = None  # L2 penalty; decoupled for adamw
    augment: int | None = None  # torch models: shift each image by up to N pixels (0: off)
    rotate: float | None = None  # torch models: rotate each image by up to ± N degrees (0: off)
    scale: float | None = None  # torch models: zoom each image by 1 ± up to N (0: off)
    erase: float | None = None  # torch models: random erasing probability (0: off)
    flip: bool | None = None  # torch models: mirror half the images (clothes only; default off)
    betas: tuple[float, float] | None = None  # adam/adamw moment decay rates (default .9, .999)
    label_smoothing: float | None = None  # target mass spread over all classes (default 0)
    patience: int | None = None  # stop after N epochs without a lower val_loss (default 0: off)
    seed: int | None = None  # seeds the validation split, the init and the batch order (default 0)
    budget: float | None = None  # seconds the whole run must end in; sets epochs (mnistlab.budget)
    # where and how: not part of what defines a run, free to change when resuming
    device: str = "auto"  # "auto" picks CUDA when present; "cpu", "cuda", "cuda:1"...
    precision: str | None = None  # auto, bf16 or fp32 (default MNISTLAB_PRECISION, else auto)
    out: str | None = None  # the run folder (default runs/<dataset>-<model>-<timestamp>)
    resume: bool = False  # continue the run in `out` from its last finished epoch
    log_every: int = 0  # also print the batch loss and accuracy every N steps (0: off)
    data_dir: str | None = None  # folder holding the IDX files (default: the cache)

    def run_values(self) -> dict[str, Any]:
        """The fields that define a run (not where and how it runs), None where not given."""
        return {k: getattr(self, k) for k in RUN_FIELDS}


HOW_FIELDS = ("device", "precision", "out", "resume", "log_every", "data_dir")
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
    """
    run_dir, saved = Path(config.out) if config.out else None, None
    if config.resume:
        if run_dir is None:
            raise MnistlabError("--resume needs --out RUN_DIR, the run folder to continue")
        saved = runs.load_config(run_dir)
        if not runs.has_checkpoint(run_dir):
            done = "it has finished already" if runs.load_metrics(run_dir) else "no epoch finished"
            raise MnistlabError(f"{run_dir} has no checkpoint to resume from ({done})")
    if config.budget and config.epochs:
        raise MnistlabError("give --epochs or --budget, not both: the budget sets the epochs")
    device = _device(config.device, config.model or (saved or {}).get("model"))
    mode = _precision_mode(config.precision, saved)
    with precision.using(mode):
        return _train(config, run_dir, saved, device, on_epoch_end)


def _train(config: TrainConfig, run_dir, saved, device: str, on_epoch_end) -> Run:
    started = time.perf_counter()
    s = settle(config.run_values(), saved, precision.compute_path(_device_type(device)))
    spec = get_spec(s["dataset"])
    load = dict(name=s["dataset"], val_size=s["val_size"], seed=s["seed"], data_dir=config.data_dir)
    train_set, test_set = load_dataset(split="train", **load), load_dataset(split="test", **load)
    val_set = load_dataset(split="val", **load) if s["val_size"] else None
    limit = s["train_limit"] or len(train_set)
    x, y = train_set.images[:limit], train_set.labels[:limit]

    model_args = saved["model_args"] if saved else {**s["model_args"], **pixel_stats(x)}
    model = build_model(s["model"], seed=s["seed"], **model_args)
    if not saved:
        init_from_data(model, x)
    stepper = make_stepper(model, x, y, s, device)
    if s["budget"] and not saved:
        plan = _plan_budget(model, x, y, s, device, val_set, test_set, started)
        s.update(epochs=plan.epochs, budget_plan=asdict(plan))
    if saved:
        cfg, created = saved, False
        optimizer, state = runs.load_checkpoint(run_dir, model)
        stepper.load_optimizer_state(optimizer)
    else:
        cfg = {
            "dataset": s["dataset"],
            "model": s["model"],
            "model_args": model_args,
            "classes": list(spec.classes),
            "preprocessing": spec.kind,
            **{k: v for k, v in s.items() if k not in ("dataset", "model", "model_args")},
            "device": device,
            "versions": runs.versions(),
        }
        run_dir = run_dir or runs.default_run_dir(s["dataset"], s["model"])
        created = runs.create_run_dir(run_dir)
        state = dict(epoch=0, step=0, history=[], best_val_loss=None, bad_epochs=0, stopped=False)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    err.print(_header(s, len(y), device, resumed_at=state["epoch"] if saved else None))
    if "budget_plan" in s:
        err.print(budget.Plan(**s["budget_plan"]).describe())
    try:
        while state["epoch"] < s["epochs"] and not state["stopped"]:
            row = _epoch(stepper, len(y), val_set, state, s, run_dir, err, config.log_every)
            if not (run_dir / runs.CONFIG).exists():
                runs.write_config(run_dir, cfg)
            runs.save_checkpoint(run_dir, model, stepper.optimizer_state(), state)
            runs.write_history(run_dir, state["history"])
            err.print(_keras_line(row, s["epochs"]), markup=False)
            if state["stopped"]:
                best, patience = state["best_val_loss"], s["patience"]
                err.print(
                    f"early stopping: no lower val_loss than {best:.4f} for {patience} epochs"
                )
            if on_epoch_end:
                on_epoch_end(row, model)
    except BaseException:
        if created and not runs.has_checkpoint(run_dir):
            runs.remove_empty_run_dir(run_dir)  # no epoch finished: leave nothing behind
        raise

    test_loss, test_acc = stepper.evaluate(test_set.images, test_set.labels)
    seconds = sum(r["seconds"] for r in state["history"])
    metrics = dict(accuracy=test_acc, loss=test_loss, train_seconds=seconds, epochs=state["epoch"])
    runs.save_model(run_dir, model)
    runs.write_history(run_dir, state["history"])
    runs.write_metrics(run_dir, metrics)  # last: a metrics.json means a finished run
    runs.remove_checkpoint(run_dir)
    err.print(f"test_loss: {test_loss:.4f} - test_accuracy: {test_acc:.4f} - run: {run_dir}")
    return Run(run_dir, cfg, model, state["history"], runs.load_metrics(run_dir))


def _epoch(stepper, n: int, val_set, state: dict, s: dict, run_dir, err, log_every: int) -> dict:
    """One pass in batches of a (seed, epoch) permutation, then validation; updates `state`."""
    epoch, t0 = state["epoch"] + 1, time.perf_counter()
    batch = min(s["batch_size"] or n, n)
    steps = math.ceil(n / batch)
    stepper.start_epoch(int(np.random.SeedSequence([s["seed"], epoch]).generate_state(1)[0]))
    order = np.random.default_rng([s["seed"], epoch]).permutation(n)
    loss_sum = correct = 0.0
    columns = (
        TextColumn(f"epoch {epoch}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("", total=steps)
        for i in range(steps):
            idx = order[i * batch : (i + 1) * batch]
            lr = lr_at(s["schedule"], s["lr"], state["step"], s["epochs"] * steps)
            stepper.set_lr(lr)
            loss, hits = stepper.step(idx)
            loss_sum, correct = loss_sum + loss * len(idx), correct + hits
            state["step"] += 1
            if log_every and state["step"] % log_every == 0:
                acc = float(hits) / len(idx)
                err.print(f"step {state['step']}: loss {float(loss):.4f}, train accuracy {acc:.4f}")
            if i + 1 == steps or (i + 1) % 20 == 0:  # reading a tensor syncs a GPU: not each step
                seen = min((i + 1) * batch, n)
                _check_finite(float(loss_sum), epoch, s, run_dir)
                stats = f"loss {float(loss_sum) / seen:.4f} acc {float(correct) / seen:.4f}"
                bar.update(task, completed=i + 1, description=stats)
    val_loss = val_acc = math.nan
    if val_set is not None:
        val_loss, val_acc = stepper.evaluate(val_set.images, val_set.labels)
        _check_finite(val_loss, epoch, s, run_dir)
    train_loss, train_acc, seconds = (
        float(loss_sum) / n,
        float(correct) / n,
        time.perf_counter() - t0,
    )
    row = dict(
        epoch=epoch,
        train_loss=train_loss,
        train_acc=train_acc,
        val_loss=val_loss,
        val_acc=val_acc,
        lr=lr,
        seconds=seconds,
    )
    state["history"].append(row)
    state["epoch"] = epoch
    if val_set is not None and s["patience"]:
        best = state["best_val_loss"]
        state["bad_epochs"] = 0 if best is None or val_loss < best else state["bad_epochs"] + 1
        state["best_val_loss"] = val_loss if best is None else min(val_loss, best)
        state["stopped"] = state["bad_epochs"] >= s["patience"]
    return row


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


def _plan_budget(model, x, y, s: dict, device: str, val_set, test_set, started: float):
    """Time this machine's training steps and evaluation passes, then fit epochs to s["budget"]."""
    batch = min(s["batch_size"] or len(y), len(y))

    def evaluate(probe: Model, images, labels) -> None:
        make_stepper(probe, images[:1], labels[:1], s, device).evaluate(images, labels)

    step = budget.time_steps(model, lambda probe: make_stepper(probe, x, y, s, device),
                             len(y), batch)  # fmt: skip
    test = budget.time_evaluation(model, evaluate, test_set.images, test_set.labels)
    val = budget.time_evaluation(model, evaluate, val_set.images, val_set.labels) if val_set else 0
    spent = time.perf_counter() - started
    return budget.plan(s["budget"], spent, step, math.ceil(len(y) / batch), test, val)


def _device_type(device: str) -> str:
    return device.split(":")[0]


def _header(s: dict, n: int, device: str, resumed_at: int | None) -> str:
    """The line that opens a run: what trains on what, and the compute path it runs."""
    batch = min(s["batch_size"] or n, n)
    path = s["precision"]
    if get_model_spec(s["model"]).bf16:
        path = precision.describe(_device_type(device))
    start = f", resuming after epoch {resumed_at}" if resumed_at is not None else ""
    plural = "" if s["epochs"] == 1 else "s"
    return (
        f"{s['model']} on {s['dataset']}: {n:,} training images, {s['epochs']} epoch{plural} of "
        f"{math.ceil(n / batch)} steps (batch {batch}), {device}, precision {path}{start}"
    )


def _device(name: str, model: str | None) -> str:
    if model == "numpy":
        return "cpu"  # the NumPy net runs where NumPy does
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MnistlabError(f"--device {name}: no CUDA GPU is available; use --device auto or cpu")
    try:
        return str(torch.device(name))
    except RuntimeError:
        raise MnistlabError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def _check_finite(loss: float, epoch: int, s: dict, run_dir: Path) -> None:
    if math.isfinite(loss):
        return
    kept = (
        f"the last good checkpoint, epoch {epoch - 1}, is kept in {run_dir}"
        if epoch > 1
        else "no epoch finished, so nothing was saved"
    )
    raise MnistlabError(
        f"the loss became {loss} in epoch {epoch}: learning rate {s['lr']:g} is too high for "
        f"{s['model']} with {s['optimizer']}; lower --lr ({kept})"
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


class _CallableModule(types.ModuleType):
    """`mnistlab.train` names both this module and its function (the API contract uses both),
    so the module is callable: `mnistlab.train(config)` works however it was imported."""

    def __call__(self, config: TrainConfig, on_epoch_end=None) -> Run:
        return train(config, on_epoch_end)


sys.modules[__name__].__class__ = _CallableModule
