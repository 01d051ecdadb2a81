"""One training step, for torch nets and for the NumPy net.

The training loop is the same for both kinds of network: it picks a batch by indices into
the training images (held whole, as uint8), sets the learning rate from the schedule, and
reads back the batch's loss and number of correct predictions. What differs (tensors and
autograd, or arrays and hand-written backprop) lives here, behind the same five methods.
Evaluation is not a stepper's job: every figure comes from Model.predict_proba.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from mnistlab.errors import MnistlabError
from mnistlab.models import Model
from mnistlab.models.numpy_net import SGD
from mnistlab.models.torch_model import TorchModel
from mnistlab.training.augment import Augment, augment
from mnistlab.training.distributed import World
from mnistlab.training.settings import Settings

MOMENTUM = 0.9  # "nesterov": SGD with Nesterov momentum 0.9, for both kinds of network
EXPOSED = 0.25  # made-up non-digits per training image in a step, with outlier exposure


def make_stepper(model: Model, images: np.ndarray, labels: np.ndarray, settings: Settings, device,
                 world: World | None = None, outliers: np.ndarray | None = None):  # fmt: skip
    """The stepper for this model; `settings` gives optimizer, lr, weight_decay, betas,
    label_smoothing (the training loss only: figures report the plain cross-entropy), the
    augmentation and outlier_exposure (its weight; `outliers`, uint8 (M, 28, 28), the
    made-up images it needs). With a `world` of several processes, the data-parallel one."""
    if world is not None and world.size > 1:
        return DataParallelStepper(model, images, labels, settings, device, world, outliers)
    if isinstance(model, TorchModel):
        return TorchStepper(model, images, labels, settings, device, outliers)
    return NumpyStepper(model, images, labels, settings, device)


class TorchStepper:
    """The whole training set lives on the device as one uint8 tensor; a batch is an index.

    With outlier exposure, each step also shows the network EXPOSED made-up non-digits per
    training image and adds, weighted, their cross-entropy against the uniform answer: the
    network learns to spread its probability on what is none of its classes, and its
    features to set such images apart, which the reject rule then reads (models/reject.py).
    """

    def __init__(self, model: Model, images, labels, settings: Settings, device: str,
                 outliers: np.ndarray | None = None) -> None:  # fmt: skip
        self.net = model.to(device).net
        self.device = device
        self.augment = Augment(
            settings.shift, settings.rotate, settings.scale, settings.erase, settings.flip
        )
        self.x = torch.tensor(images).to(device)
        self.y = torch.tensor(labels).to(device)
        params, wd = self.net.parameters(), settings.weight_decay
        if settings.optimizer in ("sgd", "nesterov"):
            momentum = MOMENTUM if settings.optimizer == "nesterov" else 0.0
            self.opt = torch.optim.SGD(
                params, settings.lr, momentum=momentum, nesterov=bool(momentum), weight_decay=wd
            )
        else:
            self.opt = (torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW)(
                params, settings.lr, betas=settings.betas, weight_decay=wd
            )
        self.label_smoothing = settings.label_smoothing
        self.size = self.x.shape[-1]
        self.exposure = settings.outlier_exposure if outliers is not None else 0.0
        self.outliers = torch.tensor(outliers).to(device) if self.exposure else None

    def start_epoch(self, seed: int, size: int) -> None:
        """Train on `size`×`size` images this epoch (progressive resizing: loop.py)."""
        # Randomness inside an epoch (augmentation, dropout) is a function of (seed, epoch),
        # so a resumed run needs no saved RNG state to continue exactly.
        torch.manual_seed(seed)
        self.net.train()
        self.size = size

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def step(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """One update; returns (mean loss, correct count) as tensors, read only when needed."""
        xb, yb = self._batch(idx)
        if self.exposure:
            both = self.net(torch.cat([xb, self._made_up(idx)]))
            logits, strange = both[: len(xb)], both[len(xb) :]
        else:
            logits = self.net(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=self.label_smoothing)
        if self.exposure:
            loss = loss + self.exposure * _uniform_loss(strange).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        # The history reports the plain cross-entropy, comparable with the validation loss;
        # the smoothed loss sits well above it and would read as under-fitting.
        if self.label_smoothing:
            loss = F.cross_entropy(logits.detach(), yb)
        return loss.detach(), (logits.argmax(1) == yb).sum()

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Per-parameter buffers (momentum, Adam moments and step) as flat named arrays."""
        state = self.opt.state_dict()["state"]
        return {
            f"{i}.{key}": value.detach().cpu().numpy()
            for i, buffers in state.items()
            for key, value in buffers.items()
            if isinstance(value, torch.Tensor)
        }

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        """optimizer_state's arrays back; MnistlabError if they do not fit the parameters."""
        params = [p for group in self.opt.param_groups for p in group["params"]]
        state: dict[int, dict] = {}
        for name, value in arrays.items():
            i, _, key = name.partition(".")
            if not (i.isdigit() and int(i) < len(params) and key):
                raise MnistlabError(f"optimizer state {name!r} names no parameter")
            wanted = tuple(params[int(i)].shape)
            if value.size > 1 and value.shape != wanted:  # moments, momentum: the parameter's
                raise MnistlabError(f"optimizer state {name!r} is {value.shape}, not {wanted}")
            state.setdefault(int(i), {})[key] = torch.from_numpy(value)
        self.opt.load_state_dict(
            {"state": state, "param_groups": self.opt.state_dict()["param_groups"]}
        )

    def _batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (floats, augmented) and labels of the batch `idx`, on the device."""
        i = torch.from_numpy(idx).to(self.device)
        xb = self.x[i].unsqueeze(1).float().div_(255.0)
        xb = augment(xb, self.augment) if self.augment else xb
        if self.size != xb.shape[-1]:  # augmented at full size: --shift counts its pixels
            xb = F.interpolate(xb, size=(self.size, self.size), mode="bilinear", antialias=True)
        return xb, self.y[i]

    def _made_up(self, idx: np.ndarray) -> torch.Tensor:
        """The made-up images shown with the batch `idx`, augmented like it: which ones is a
        function of the batch, so a resumed run and every rank pick the same."""
        count = max(1, round(EXPOSED * len(idx)))
        pick = torch.Generator().manual_seed(int(idx[0]) * 1_000_003 + int(idx[-1]))
        i = torch.randint(0, len(self.outliers), (count,), generator=pick).to(self.device)
        ob = self.outliers[i].unsqueeze(1).float().div_(255.0)
        ob = augment(ob, self.augment) if self.augment else ob
        if self.size != ob.shape[-1]:
            ob = F.interpolate(ob, size=(self.size, self.size), mode="bilinear", antialias=True)
        return ob


def _uniform_loss(logits: torch.Tensor) -> torch.Tensor:
    """Per image, the cross-entropy of its answer against the uniform one (float32)."""
    return -F.log_softmax(logits.float(), dim=1).mean(dim=1)


class DataParallelStepper(TorchStepper):
    """One of several processes: it steps on its slice of each global batch, and
    DistributedDataParallel averages the gradients, so every rank takes the same update.

    Each rank augments the whole global batch with the epoch's seed, then keeps its slice:
    the images are those one process would train on, so a recipe gives the same run at any
    world size, up to rounding (augmenting B images, not B / world size, is the price).
    The slice's loss is a sum scaled by world size / global batch, so the average is the
    global batch's mean loss even when slices differ by an image. Batch norm: SyncBatchNorm
    on CUDA; torch has it for GPUs only, so on the CPU each rank normalizes by its slice
    (statistics of batch / world size images; the running statistics saved are rank 0's).
    """

    def __init__(self, model: Model, images, labels, settings: Settings, device: str, world: World,
                 outliers: np.ndarray | None = None):  # fmt: skip
        super().__init__(model, images, labels, settings, device, outliers)
        self.world = world
        if device.startswith("cuda"):  # in place: the same parameters, state-dict names
            nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        self.ddp = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)

    def step(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """One update on this rank's slice; (mean loss, correct count) of the global batch."""
        mine = np.array_split(np.arange(len(idx)), self.world.size)[self.world.rank]
        xb, yb = (t[mine[0] : mine[-1] + 1] for t in self._batch(idx))
        if self.exposure:  # the made-up images of the global batch, sliced the same way
            made_up = self._made_up(idx)
            theirs = np.array_split(np.arange(len(made_up)), self.world.size)[self.world.rank]
            both = self.ddp(torch.cat([xb, made_up[theirs[0] : theirs[-1] + 1]]))
            logits, strange = both[: len(xb)], both[len(xb) :]
        else:
            logits = self.ddp(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=self.label_smoothing, reduction="sum")
        scaled = loss * (self.world.size / len(idx))
        if self.exposure:
            share = self.world.size / len(made_up)
            scaled = scaled + self.exposure * _uniform_loss(strange).sum() * share
        self.opt.zero_grad(set_to_none=True)
        scaled.backward()
        self.opt.step()
        smoothed = self.label_smoothing  # the history reports plain cross-entropy (see above)
        plain = F.cross_entropy(logits.detach(), yb, reduction="sum") if smoothed else loss.detach()
        totals = torch.stack([plain.double(), (logits.argmax(1) == yb).sum().double()])
        dist.all_reduce(totals)
        return totals[0] / len(idx), totals[1]


class NumpyStepper:
    """The NumPy net's own SGD and backprop; the batch is converted to float32 on the fly."""

    def __init__(self, model: Model, images, labels, settings: Settings, device: str) -> None:
        self.net, self.x, self.y = model.to(device).net, images, labels
        momentum = MOMENTUM if settings.optimizer == "nesterov" else 0.0
        self.opt = SGD(
            self.net.params, settings.lr, momentum, bool(momentum), settings.weight_decay
        )

    def start_epoch(self, seed: int, size: int) -> None:
        """Nothing random happens inside a NumPy epoch beyond the batch order; the images
        keep their size (settings.validate refuses --grow-from for a fixed-size network)."""

    def set_lr(self, lr: float) -> None:
        self.opt.lr = lr

    def step(self, idx: np.ndarray) -> tuple[float, float]:
        xb, yb = _flat_floats(self.x[idx]), self.y[idx]
        # A diverging learning rate overflows here; the loop reports the non-finite loss itself.
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads, logits = self.net.backprop(xb, yb)
            self.opt.step(grads)
        return loss, float((logits.argmax(axis=1) == yb).sum())

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return self.opt.state_dict()

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.opt.load_state_dict(arrays)


def _flat_floats(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
