"""`--budget`: fix the number of epochs so that a run ends inside a wall-clock budget.

A recipe's epochs are right for one machine only: `best`'s 30 epochs fit in half an hour on
a 2-core AMX Xeon and take hours on a 2-core AVX2-only CPU. With a budget, the run first times
a few training steps of a throwaway copy of the model on this machine (the real run starts
from the untouched model, so it is the same run a plain `--epochs N` would be), then takes as
many whole epochs as fit, and the schedule (one-cycle, cosine...) is laid out over those. The
chosen epochs go into config.json, so `--resume` continues the same schedule bit for bit.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnistlab.data.load import IMAGE_SIDE
from mnistlab.errors import MnistlabError
from mnistlab.training import loop

UNITS = {"s": 1, "m": 60, "h": 3600}
MARGIN = 0.06  # of the budget, kept free: the loop's bookkeeping, checkpoints, a busier
# machine (an epoch's steps can run slower than the probe's: docs/decisions/training-speed.md)
WARMUP_STEPS = 3  # the first steps of a process build kernels and are slower
MIN_STEPS, MIN_SECONDS = 10, 1.0  # time at least this many steps and at least this long


def parse(text: str) -> float:
    """ "30m", "90s", "1h30m", "1.5h" → seconds; a bare number is refused (which unit?)."""
    parts = re.fullmatch(r"\s*((?:\d+(?:\.\d+)?\s*[smh]\s*)+)", text.lower())
    if not parts:
        raise MnistlabError(
            f"--budget takes a duration with a unit, like 30m, 90s or 1h30m; got {text!r}"
        )
    pieces = re.findall(r"(\d+(?:\.\d+)?)\s*([smh])", parts.group(1))
    seconds = sum(float(n) * UNITS[u] for n, u in pieces)
    if seconds <= 0:
        raise MnistlabError(f"--budget must be longer than 0 s, got {text!r}")
    return seconds


def show(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s:02d} s" if minutes else f"{s} s"


@dataclass(frozen=True)
class Plan:
    """What the budget bought, recorded in config.json as "budget_plan"."""

    budget_seconds: float
    step_seconds: float  # one training step, measured here
    steps_per_epoch: int
    evaluation_seconds: float  # the final test pass plus every epoch's validation
    spent_seconds: float  # before training starts: loading, building, measuring
    epochs: int
    # Progressive resizing (--grow-from): one step on the first epoch's smaller images,
    # measured here, and the training time planned with each epoch at its own size. None in
    # plans recorded before --grow-from existed, when every epoch had the full-size step.
    small_step_seconds: float | None = None
    train_seconds: float | None = None

    def describe(self) -> str:
        train = self.train_seconds or self.epochs * self.steps_per_epoch * self.step_seconds
        spare = self.budget_seconds - self.spent_seconds - train - self.evaluation_seconds
        small = self.small_step_seconds
        return (
            f"budget {show(self.budget_seconds)}: {self.step_seconds * 1000:.0f} ms per step "
            + (f"({small * 1000:.0f} ms on the first, smaller images) " if small else "")
            + f"measured here, {self.steps_per_epoch} steps per epoch → {self.epochs} epochs "
            f"(about {show(train)} of training, {show(self.evaluation_seconds)} of evaluation, "
            f"{show(self.spent_seconds)} spent setting up, {show(spare)} to spare)"
        )


def time_steps(model, make_stepper: Callable, n_images: int, batch: int,
               size: int = IMAGE_SIDE) -> float:  # fmt: skip
    """Seconds per training step of a deep copy of `model` on this machine, after warm-up,
    on batches of random `size`×`size` images as in training (gathering them costs time too)."""
    stepper = make_stepper(copy.deepcopy(model))
    stepper.start_epoch(0, size)
    order = np.random.default_rng(0).permutation(n_images)
    starts = range(0, max(n_images - batch, 0) + 1, batch)  # whole batches, reused if few

    def step(i: int) -> None:
        start = starts[i % len(starts)]
        loss, _ = stepper.step(order[start : start + batch])
        float(loss)  # waits for a GPU to finish the step (CUDA runs asynchronously)

    for i in range(WARMUP_STEPS):
        step(i)
    n, start = 0, time.perf_counter()
    while n < MIN_STEPS or time.perf_counter() - start < MIN_SECONDS:
        step(WARMUP_STEPS + n)
        n += 1
    return (time.perf_counter() - start) / n


def time_evaluation(model, images: np.ndarray) -> float:
    """Seconds to predict `images`, extrapolated from its first 1,000 (after one warm-up)."""
    probe = copy.deepcopy(model)
    sample = min(1000, len(images))
    probe.predict_proba(images[:100])
    start = time.perf_counter()
    probe.predict_proba(images[:sample])
    return (time.perf_counter() - start) * len(images) / max(sample, 1)


def plan(
    budget: float,
    spent: float,
    step_seconds: float,
    steps_per_epoch: int,
    test_seconds: float,
    val_seconds: float,
    grow_from: int = 0,
    small_step_seconds: float = 0.0,
) -> Plan:
    """As many whole epochs as fit in the budget less its margin; too small a budget → error.
    With progressive resizing (`grow_from` pixels at first, loop.grown_size), a step
    is priced by its images' pixels between the two sizes measured: a step's time follows its
    pixels (docs/decisions/training-speed.md)."""

    def step_at(size: int) -> float:
        grown = (size**2 - grow_from**2) / (IMAGE_SIDE**2 - grow_from**2)
        return small_step_seconds + grown * (step_seconds - small_step_seconds)

    def training(epochs: int) -> float:
        sizes = [loop.grown_size(grow_from, e, epochs) for e in range(1, epochs + 1)]
        return steps_per_epoch * sum(map(step_at, sizes))

    epoch = steps_per_epoch * step_seconds + val_seconds
    free = budget * (1 - MARGIN) - spent - test_seconds
    epochs = math.floor(free / epoch) if free > 0 else 0  # every epoch at full size
    # Smaller images first make each epoch cheaper: more of them fit.
    while grow_from and epochs and training(epochs + 1) + (epochs + 1) * val_seconds <= free:
        epochs += 1
    if epochs < 1:
        need = (spent + test_seconds + epoch) / (1 - MARGIN)
        raise MnistlabError(
            f"a budget of {show(budget)} does not fit one epoch here (about {show(epoch)}, plus "
            f"{show(spent + test_seconds)} to set up and evaluate); give at least {show(need)}"
        )
    return Plan(budget, step_seconds, steps_per_epoch, test_seconds + epochs * val_seconds,
                spent, epochs, small_step_seconds or None, training(epochs))  # fmt: skip
