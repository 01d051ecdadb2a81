"""The training loop's pieces, shared by `mnistlab train`, the benchmarks and the tests.

An epoch is a pure function of (seed, epoch): its batch order and the seed of its randomness
inside (augmentation, dropout) come from them, and the learning rate from the step number.
So resuming after epoch k needs only the weights, the optimizer state and `State`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from mnistlab.data.load import IMAGE_SIDE
from mnistlab.training.settings import Settings, lr_at

GROWN_AT = 0.75  # progressive resizing reaches full size at this fraction of the epochs


@dataclass
class State:
    """What the loop carries from one epoch to the next (saved in every checkpoint)."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps taken, over all epochs (the schedule's position)
    history: list[dict] = field(default_factory=list)  # one row per epoch (history.csv)
    best_val_loss: float | None = None
    bad_epochs: int = 0  # epochs since the validation loss last fell
    stopped: bool = False  # early stopping ended the run


@dataclass(frozen=True)
class Step:
    """One step's outcome; loss and hits may be device tensors, read only when needed."""

    images: int
    loss: object
    hits: object
    lr: float


def steps_per_epoch(settings: Settings, n: int) -> int:
    return math.ceil(n / batch_size(settings, n))


def batch_size(settings: Settings, n: int) -> int:
    return min(settings.batch_size or n, n)  # 0: full-batch descent


def batch_order(seed: int, epoch: int, n: int, batch: int) -> list[np.ndarray]:
    """The batches of one epoch: slices of a permutation seeded by (seed, epoch)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of the randomness inside an epoch (augmentation, dropout)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def epoch_steps(stepper, settings: Settings, n: int, epoch: int, first_step: int) -> Iterator[Step]:
    """Epoch `epoch` (from 1) over `n` images, one step per batch at the scheduled rate."""
    stepper.start_epoch(
        epoch_seed(settings.seed, epoch), grown_size(settings.grow_from, epoch, settings.epochs)
    )
    batches = batch_order(settings.seed, epoch, n, batch_size(settings, n))
    total = settings.epochs * len(batches)
    for i, idx in enumerate(batches):
        lr = lr_at(settings.schedule, settings.lr, first_step + i, total)
        stepper.set_lr(lr)
        loss, hits = stepper.step(idx)
        yield Step(len(idx), loss, hits, lr)


def grown_size(grow_from: int, epoch: int, epochs: int) -> int:
    """Side of the training images in `epoch` (from 1) of `epochs` under progressive resizing
    (fast.ai's, for ImageNet): `grow_from` pixels in the first epoch, growing linearly in even
    steps to full size by GROWN_AT of the run, full size after that; 0: full size throughout."""
    grown = round(GROWN_AT * epochs)
    if not grow_from or epoch >= grown:  # the last epoch always trains at full size
        return IMAGE_SIDE
    t = (epoch - 1) / max(grown - 1, 1)
    return min(IMAGE_SIDE, 2 * round((grow_from + t * (IMAGE_SIDE - grow_from)) / 2))


def early_stopping(state: State, val_loss: float, patience: int) -> None:
    """Count epochs without a lower validation loss; stop after `patience` of them."""
    best = state.best_val_loss
    state.bad_epochs = 0 if best is None or val_loss < best else state.bad_epochs + 1
    state.best_val_loss = val_loss if best is None else min(val_loss, best)
    state.stopped = state.bad_epochs >= patience
