"""Data-parallel training: the processes torchrun starts, and `mnistlab train --nproc N`.

torchrun (torch.distributed.run) starts the processes and sets WORLD_SIZE, RANK and
LOCAL_RANK; `join` opens their process group (gloo on the CPU, nccl on CUDA). Every rank
loads the data and builds the same model; rank 0 alone reads and writes the run folder and
shares what it read (`from_lead`), so the other machines need no copy of it. The stepper
(mnistlab.training.steps.DataParallelStepper) gives each rank its slice of every global batch, and
validation and test predictions are split over the ranks in whole chunks, then gathered,
so every figure is the one a single process computes on the whole split.

A rank that dies closes its sockets: the others' next collective fails at once (or after
TIMEOUT if it hangs instead), and torchrun stops the rest of the group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from mnistlab import runs
from mnistlab.errors import MnistlabError
from mnistlab.models import Model, get_model_spec
from mnistlab.models.model import PREDICT_BATCH

# A collective waits this long for a rank that hangs (a dead one fails it at once). It must
# outlast the longest pass one rank makes alone: its chunks of a validation or test split.
TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def lead(self) -> bool:
        """Rank 0: the one that prints and writes the run folder."""
        return self.rank == 0

    def device(self, name: str, cpu_only: bool) -> str:
        """The device `name` (auto, cpu, cuda, cuda:1) means here; with several processes on
        a machine, cuda is cuda:LOCAL_RANK, one GPU each."""
        if cpu_only:
            return "cpu"  # the NumPy net runs where NumPy does
        import torch

        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise MnistlabError(
                f"--device {name}: no CUDA GPU is available; use --device auto or cpu"
            )
        if name == "cuda" and self.size > 1:
            return f"cuda:{self.local_rank}"
        try:
            return str(torch.device(name))
        except RuntimeError:
            raise MnistlabError(f"unknown device {name!r}; use auto, cpu or cuda") from None

    def from_lead(self, read: Callable[[], Any]) -> Any:
        """`read()` on rank 0, its value sent to every rank; a MnistlabError there is printed
        by rank 0 alone, the other ranks exit 1 without repeating it."""
        if self.size == 1:
            return read()
        import torch.distributed as dist

        box: list[Any] = [None]
        if self.lead:
            try:
                box[0] = ("ok", read())
            except MnistlabError as e:
                box[0] = ("error", str(e))
                dist.broadcast_object_list(box, src=0)
                raise
        dist.broadcast_object_list(box, src=0)
        if box[0][0] == "error":
            raise SystemExit(1)
        return box[0][1]

    def predict_proba(self, model: Model, images: np.ndarray) -> np.ndarray:
        """Model.predict_proba over the whole split, each rank a share of its chunks; every
        rank gets all the probabilities, bit for bit those of one process."""
        if self.size == 1:
            return model.predict_proba(images)
        import torch.distributed as dist

        for buffer in model.net.buffers():  # batch-norm statistics: rank 0's, as saved
            dist.broadcast(buffer, src=0)
        starts = range(0, len(images), PREDICT_BATCH)[self.rank :: self.size]
        mine = {i: model.predict_proba(images[i : i + PREDICT_BATCH]) for i in starts}
        shares: list[Any] = [None] * self.size
        dist.all_gather_object(shares, mine)
        chunks = {i: p for share in shares for i, p in share.items()}
        return np.concatenate([np.zeros((0, 10), np.float32), *(chunks[i] for i in sorted(chunks))])

    @contextlib.contextmanager
    def reporting(self, run_dir: object) -> Iterator[None]:
        """Turn a lost process into one line; ranks other than 0 name themselves."""
        import torch.distributed as dist

        try:
            yield
        except dist.DistError as e:
            first = str(e).strip().splitlines()[0][:160]
            raise MnistlabError(
                f"rank {self.rank}: another training process stopped or cannot be reached "
                f"({first}); {run_dir or 'the run folder'} keeps its last finished epoch, "
                f"continue it with --resume on {self.size} processes"
            ) from None
        except MnistlabError as e:
            if self.lead:
                raise
            raise MnistlabError(f"rank {self.rank}: {e}") from None


def join(device: str) -> World:
    """This process's World; under torchrun with more than one process, the process group."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def end_now(status: int) -> NoReturn:
    """End this rank at once, its line said and its files written: a rank stopped by Ctrl-C
    that went through the interpreter's teardown sometimes aborted in torch's C++ threads
    ("terminate called without an active exception", after our last line)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def check_model(model: str, processes: int) -> None:
    """Refuse data-parallel training for a backend that has none (the NumPy network)."""
    spec = get_model_spec(model)
    if processes > 1 and not spec.backend.data_parallel:
        raise MnistlabError(
            f"the {model} model trains in one process only; drop --nproc (or torchrun) "
            "or choose a PyTorch model"
        )


def check_run(model: str, processes: int, budget: bool, saved: dict | None, run_dir) -> None:
    """What a run on `processes` processes cannot do: resume a run made on another number
    (the batches would split differently), plan a --budget (it times one process's steps),
    train the NumPy network."""
    trained_on = (saved or {}).get("world_size", 1)  # absent: one process (and older runs)
    if saved is not None and trained_on != processes:
        raise MnistlabError(
            f"cannot resume: {run_dir} trained on {trained_on} process(es) and this is "
            f"{processes}; continue it exactly with --nproc {trained_on} (or torchrun with "
            f"{trained_on}), or start a new run"
        )
    if budget and processes > 1:
        raise MnistlabError("--budget times one process's steps; with --nproc give --epochs")
    check_model(model, processes)


def check_batches(batch: int, n: int, processes: int) -> None:
    """Every rank needs at least one image of every batch, the last one too."""
    smallest = min(batch, n - (-(-n // batch) - 1) * batch)
    if smallest < processes:
        raise MnistlabError(
            f"a batch of {smallest} image(s) cannot be shared by {processes} processes; "
            "choose another --batch-size or --train-limit"
        )


def launch(processes: int, argv: list[str], model: str | None, resume: Path | None) -> None:
    """`mnistlab ARGV` in `processes` processes on this machine, started by torchrun's own
    entry point (torch.distributed.run) exactly as `torchrun --standalone` would."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    check_model(model or (runs.load_config(resume)["model"] if resume else "cnn"), processes)
    for name in [n for n in logging.Logger.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # our line says it (elastic's
        # loggers set their own level, so the parent's is not enough)
    threads = _option(argv, "--threads")
    os.environ["OMP_NUM_THREADS"] = threads or "1"  # one thread each unless --threads says
    args = ["--standalone", f"--nproc-per-node={processes}", "-m", "mnistlab", *argv]
    try:
        torchrun.run(torchrun.parse_args(args))
    except SignalException as e:  # Ctrl-C (or a kill): torchrun passed it on to the processes,
        if e.sigval == signal.SIGINT:  # and rank 0 said where the run stopped
            raise SystemExit(130) from None
        raise MnistlabError(f"training stopped: torchrun got {signal.Signals(e.sigval).name}; "
                            f"{_continue(argv, processes)}") from None  # fmt: skip
    except ChildFailedError as e:
        failures = list(e.failures.values())
        said = [f.exitcode for f in failures if f.exitcode > 0]  # each printed its reason
        if said and all(f.exitcode > 0 or f.signal_name() == "SIGTERM" for f in failures):
            raise SystemExit(max(said)) from None  # the others were stopped by torchrun
        raise MnistlabError(_failed(failures, processes, argv)) from None


def _failed(failures: list, processes: int, argv: list[str]) -> str:
    """One line for a rank killed by a signal (torchrun stops the others with SIGTERM)."""
    causes = [f for f in failures if f.signal_name() != "SIGTERM"] or failures
    how = ", ".join(
        f"rank {f.local_rank} " + (f"was killed by {f.signal_name()}" if f.exitcode < 0
                                   else f"exited with status {f.exitcode}")
        for f in sorted(causes, key=lambda f: f.local_rank)
    )  # fmt: skip
    return (
        f"training stopped: {how}, and torchrun stopped the other processes; "
        f"{_continue(argv, processes)}"
    )


def _continue(argv: list[str], processes: int) -> str:
    out = _option(argv, "--out") or "RUN_DIR"
    return (f"the run folder keeps its last finished epoch: continue with --out {out} --resume "
            f"--nproc {processes}")  # fmt: skip


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus `--nproc N`: what each of the processes runs."""
    kept, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--nproc="):
            skip = False
            continue
        skip = arg == "--nproc"
        if not skip:
            kept.append(arg)
    return kept


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
    return None
