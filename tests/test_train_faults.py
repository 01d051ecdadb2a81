"""A run that stops before its end: a full disk (injected, and a real tmpfs where this machine
lets the test mount one) and Ctrl-C. Each is one line saying where the run stopped and the
command that continues it; the folder left is one the next command understands."""

import errno
import os
import pathlib
import re
import subprocess

import pytest

from mnistlab import runs
from mnistlab.training.run import TrainConfig, train
from train_helpers import signalled

pytestmark = pytest.mark.slow  # small runs on real data
SMALL = dict(model="mlp", epochs=3, train_limit=600, val_size=200)
FLAGS = ["--model", "mlp", "--epochs", "3", "--train-limit", "600", "--val-size", "200"]
NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """SMALL trained straight through: what a run stopped and resumed must end as."""
    return train(TrainConfig(out=str(tmp_path_factory.mktemp("straight") / "run"), **SMALL))


def full_disk(monkeypatch, name: str, at: int = 1) -> None:
    """Writing `name` fails with ENOSPC from its `at`-th write on: the temporary file the
    atomic write fills, as on a disk that fills up."""
    write_bytes, calls = pathlib.Path.write_bytes, []

    def failing(self, data):
        if self.name.startswith(f".{name}."):
            calls.append(self)
            if len(calls) >= at:
                raise OSError(errno.ENOSPC, NO_SPACE)
        return write_bytes(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", failing)


def one_error_line(result) -> str:
    """The run's error line, after its header and epoch lines."""
    assert result.returncode == 1 and result.stdout == "", result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def test_a_disk_full_mid_run_is_one_line_and_resume_ends_as_the_straight_run(
    tmp_path, cli_here, monkeypatch, straight
):
    out = tmp_path / "run"
    full_disk(monkeypatch, "checkpoint.safetensors", at=2)  # epoch 2's checkpoint
    line = one_error_line(cli_here("train", *FLAGS, "--out", out))
    assert line == (
        f"error: no space left on device while writing {out / 'checkpoint.safetensors'}: free "
        f"space, then continue with: mnistlab train --out {out} --resume"
    )
    assert runs.checkpoint_state(out)["epoch"] == 1  # epoch 1's checkpoint, whole
    assert not list(out.glob(".*.tmp"))  # nothing half-written is left
    monkeypatch.undo()  # space freed
    resumed = cli_here("train", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "model.safetensors").read_bytes() == (
        straight.dir / "model.safetensors"
    ).read_bytes()


def test_a_disk_full_before_any_epoch_leaves_no_folder_behind(tmp_path, cli_here, monkeypatch):
    out, empty = tmp_path / "new", tmp_path / "empty"
    empty.mkdir()
    full_disk(monkeypatch, "checkpoint.safetensors")
    for folder in (out, empty):
        line = one_error_line(cli_here("train", *FLAGS, "--out", folder))
        assert line.endswith("free space and run the same command again (no epoch was kept)")
    assert not out.exists() and list(empty.iterdir()) == []  # the same command can run again


def test_a_disk_full_at_the_end_keeps_the_checkpoint_to_finish_from(
    tmp_path, cli_here, monkeypatch, straight
):
    out = tmp_path / "run"
    full_disk(monkeypatch, "model.safetensors")
    line = one_error_line(cli_here("train", *FLAGS, "--out", out))
    assert f"while writing {out / 'model.safetensors'}: free space, then continue" in line
    monkeypatch.undo()
    assert "finish it with" in cli_here("evaluate", out).stderr  # what every command says
    assert cli_here("train", "--out", out, "--resume").returncode == 0
    assert (out / "model.safetensors").read_bytes() == (
        straight.dir / "model.safetensors"
    ).read_bytes()


@pytest.fixture
def tmpfs(tmp_path):
    """A 10 MB tmpfs (root only, and not in every container): `resize(mb)` frees space."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", mount],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "the injected full disk above still runs")  # fmt: skip

    def resize(mb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={mb}m", mount], check=True)

    yield mount, resize
    subprocess.run(["umount", mount], check=False)


def test_a_real_full_disk_is_one_line_and_resume_finishes_once_space_is_freed(
    tmpfs, cli_here, straight
):
    mount, resize = tmpfs
    out = mount / "run"  # the mlp's checkpoint (weights and Adam moments) is 6.4 MB: the
    line = one_error_line(cli_here("train", *FLAGS, "--out", out))  # second does not fit
    assert re.fullmatch(rf"error: no space left on device while writing {out}/\S+: free "
                        rf"space, then continue with: mnistlab train --out {out} --resume",
                        line), line  # fmt: skip
    resize(40)
    resumed = cli_here("train", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "model.safetensors").read_bytes() == (
        straight.dir / "model.safetensors"
    ).read_bytes()


LONG = ["train", "--model", "mlp", "--epochs", "2", "--train-limit", "20000", "--val-size",
        "1000", "--threads", "1"]  # fmt: skip  # epochs of a second or more: Ctrl-C lands in one


def test_ctrl_c_says_where_the_run_stopped_and_how_to_continue(tmp_path, cli_here):
    out = tmp_path / "run"
    stopped = signalled([*LONG, "--out", out], after="Epoch 1/2")
    assert stopped.returncode == 130 and "Traceback" not in stopped.stderr, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    found = re.fullmatch(r"interrupted in epoch (\d) of 2; the last checkpoint is epoch (\d); "
                         rf"continue with: mnistlab train --out {out} --resume", last)  # fmt: skip
    assert found, stopped.stderr
    in_epoch, kept = map(int, found.groups())
    assert in_epoch == kept + 1 and runs.checkpoint_state(out)["epoch"] == kept
    resumed = cli_here("train", "--out", out, "--resume")
    assert resumed.returncode == 0 and f"resuming after epoch {kept}" in resumed.stderr


def test_ctrl_c_in_the_first_epoch_leaves_nothing_behind(tmp_path):
    out = tmp_path / "run"
    stopped = signalled([*LONG, "--out", out], after="training images", delay=0)
    assert stopped.returncode == 130 and "Traceback" not in stopped.stderr, stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1] == (
        "interrupted in epoch 1 of 2; no epoch finished, so nothing was kept: run the same "
        "command again to start over"
    )
    assert not out.exists()
