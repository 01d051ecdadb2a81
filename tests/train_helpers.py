"""Interrupting a run and resuming it, for every test that checks that resume is exact."""

from pathlib import Path

import pytest

from mnistlab import runs
from mnistlab.training import Run, TrainConfig, train


class Interrupt(Exception):
    """Raised from on_epoch_end: the run stops after a checkpoint, as a crash or Ctrl-C would."""


def stop_after_first_epoch(row: dict, model) -> None:
    if row["epoch"] == 1:
        raise Interrupt


def straight_and_resumed(tmp_path: Path, **settings) -> tuple[Run, Run]:
    """The same run twice: straight through, and stopped after epoch 1 then resumed with
    nothing but --resume (every setting comes from the run folder)."""
    straight = train(TrainConfig(out=str(tmp_path / "straight"), **settings))
    out = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        train(TrainConfig(out=str(out), **settings), on_epoch_end=stop_after_first_epoch)
    assert runs.has_checkpoint(out) and not (out / "model.safetensors").exists()
    return straight, train(TrainConfig(out=str(out), resume=True))


def weights(run: Run) -> bytes:
    return (run.dir / "model.safetensors").read_bytes()
