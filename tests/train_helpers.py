"""Training helpers that tests import by name: interrupt a run (or signal a training process),
resume it, reload what it saved."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mnistlab import runs
from mnistlab.training.run import Run, TrainConfig, train


class Interrupt(Exception):
    """Raised from on_epoch_end: the run stops after a checkpoint, as a crash or Ctrl-C would."""


def interrupted(out: Path | str, **settings) -> None:
    """Train into `out` and stop right after epoch 1's checkpoint is written."""

    def stop_after_first_epoch(row: dict, model) -> None:
        if row["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(TrainConfig(out=str(out), **settings), on_epoch_end=stop_after_first_epoch)


def straight_and_resumed(tmp_path: Path, **settings) -> tuple[Run, Run]:
    """The same run twice: straight through, and stopped after epoch 1 then resumed with
    nothing but --resume (every setting comes from the run folder)."""
    straight = train(TrainConfig(out=str(tmp_path / "straight"), **settings))
    out = tmp_path / "resumed"
    interrupted(out, **settings)
    assert runs.has_checkpoint(out) and not (out / "model.safetensors").exists()
    return straight, train(TrainConfig(out=str(out), resume=True))


def weights(run: Run) -> bytes:
    return (run.dir / "model.safetensors").read_bytes()


def reloaded(run: Run, images: np.ndarray):
    """Load the run back from its folder and check it gives the in-memory model's probabilities
    on `images`; the reloaded model and those probabilities, for further checks."""
    model = runs.load_model(run.dir)
    proba = model.predict_proba(images)
    np.testing.assert_allclose(proba, run.model.predict_proba(images), atol=1e-6)
    return model, proba


def signalled(args: list, after: str | Callable[[], bool], sig: int = signal.SIGINT,
              delay: float = 0.3, timeout: float = 240) -> subprocess.CompletedProcess:  # fmt: skip
    """`python -m mnistlab ARGS` in its own process group, sent `sig` as a terminal's Ctrl-C
    sends it (to the whole group) `delay` s after `after` appears on its stderr (or after
    `after()` is true); its exit status and stderr once it ends."""
    command = [sys.executable, "-m", "mnistlab", *map(str, args)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, start_new_session=True)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(process.stderr.readline, b"")))
    reader.start()
    ready = after if callable(after) else lambda: after.encode() in b"".join(chunks)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert process.poll() is None, b"".join(chunks).decode()
            assert time.monotonic() < deadline, b"".join(chunks).decode()
            time.sleep(0.02)
        time.sleep(delay)
        os.killpg(process.pid, sig)
        process.wait(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join()
        process.stderr.close()
    return subprocess.CompletedProcess(command, process.returncode, "", b"".join(chunks).decode())
