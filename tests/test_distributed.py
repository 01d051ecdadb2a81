"""Data-parallel training: two processes on this machine, started by `mnistlab train --nproc 2`
(torch.distributed.run, gloo on the CPU), against one process with the same settings."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnistlab import runs
from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.models import build_model
from mnistlab.models.model import PREDICT_BATCH
from mnistlab.training import distributed
from train_helpers import signalled

# Each rank trains on its slice of the images one process would (augmented alike), so the
# figures differ by rounding only: on 2,000 images the seeds alone move the cnn by 2 points.
SUBSET = ["--train-limit", "2000", "--val-size", "1000", "--epochs", "2"]
RUN_FILES = ["calibration.json", "config.json", "history.csv", "metrics.json", "model.safetensors"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, cli):
    """model → (one process, two processes) trained alike on SUBSET; each trained once, as
    the cnn pair is read both by the accuracy test and by the killed-rank test."""
    root, trained = tmp_path_factory.mktemp("pairs"), {}

    def pair(model: str):
        if model not in trained:
            one = cli("train", "--model", model, "--threads", "1", *SUBSET,
                      "--out", root / f"{model}-one", "--json")  # fmt: skip
            two = cli("train", "--model", model, "--nproc", "2", *SUBSET,
                      "--out", root / f"{model}-two", "--json")  # fmt: skip
            assert one.returncode == 0 and two.returncode == 0, two.stderr
            trained[model] = one, two
        return trained[model]

    return pair


@pytest.mark.slow
def test_two_processes_write_one_run_folder_as_accurate_as_one_process(pairs):
    one, two = pairs("cnn")  # the killed-rank test reads the same pair
    single, parallel = json.loads(one.stdout), json.loads(two.stdout)  # rank 0 alone prints
    assert abs(parallel["test_accuracy"] - single["test_accuracy"]) <= 0.005
    run = Path(parallel["run"])
    assert sorted(p.name for p in run.iterdir()) == RUN_FILES
    config = runs.load_config(run)
    assert config["world_size"] == 2 and "world_size" not in runs.load_config(single["run"])
    assert config["batch_size"] == runs.load_config(single["run"])["batch_size"]  # global
    assert [r["epoch"] for r in runs.load_history(run)] == [1.0, 2.0]
    assert two.stderr.count("test_accuracy") == 1  # one progress report, rank 0's
    test = load_dataset("mnist", "test")
    accuracy = (runs.load_model(run).predict_proba(test.images).argmax(1) == test.labels).mean()
    assert accuracy == pytest.approx(runs.load_metrics(run)["accuracy"])  # the whole split


def _rank_pid(launcher: int, rank: int) -> int:
    """The pid of the worker torchrun started with RANK=rank."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        if f"RANK={rank}".encode() in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
            return int(child)
    raise AssertionError(f"no worker of rank {rank} under {launcher}")


@pytest.mark.slow
def test_a_killed_rank_stops_the_run_and_resume_continues_it_bit_for_bit(tmp_path, cli, pairs):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mnistlab", "train", "--nproc", "2", "--model", "cnn", *SUBSET,
           "--out", str(out)]  # fmt: skip
    launcher = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not runs.has_checkpoint(out):
        assert launcher.poll() is None and time.monotonic() < deadline, "no epoch finished"
        time.sleep(0.01)
    os.kill(_rank_pid(launcher.pid, 1), signal.SIGKILL)  # rank 1 dies during epoch 2
    killed = time.monotonic()
    _, stderr = launcher.communicate(timeout=60)  # bounded: no hang
    assert launcher.returncode != 0 and time.monotonic() - killed < 60
    assert "rank 1 was killed by SIGKILL" in stderr and "--resume --nproc 2" in stderr
    assert not runs.load_metrics(out)
    model = build_model("cnn", **runs.load_config(out)["model_args"])
    _, state = runs.load_checkpoint(out, model)  # the last checkpoint is whole
    assert state["epoch"] >= 1

    alone = cli("train", "--out", out, "--resume")  # one process may not continue it
    assert alone.returncode == 1 and "--nproc 2" in alone.stderr
    assert len(alone.stderr.strip().splitlines()) == 1
    resumed = cli("train", "--nproc", "2", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    straight = Path(json.loads(pairs("cnn")[1].stdout)["run"])  # the same run, never stopped
    weights = [(d / "model.safetensors").read_bytes() for d in (out, straight)]
    assert weights[0] == weights[1]
    drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert drop(runs.load_history(out)) == drop(runs.load_history(straight))


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_says_how_to_continue_on_as_many(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--nproc", "2", "--model", "mlp", "--epochs", "2", "--train-limit", "20000",
            "--val-size", "1000", "--out", out]  # fmt: skip  # Ctrl-C lands in a long epoch
    stopped = signalled(args, after="Epoch 1/2")  # the whole group, as a terminal sends it
    assert stopped.returncode == 130 and "Traceback" not in stopped.stderr, stopped.stderr
    assert stopped.stderr.count("interrupted") == 1  # rank 0 alone says it, torchrun nothing
    assert stopped.stderr.strip().splitlines()[-1] == (
        "interrupted in epoch 2 of 2; the last checkpoint is epoch 1; continue with: "
        f"mnistlab train --out {out} --resume --nproc 2"
    )
    assert runs.checkpoint_state(out)["epoch"] == 1


def test_what_two_processes_cannot_do_is_refused_in_one_line(tmp_path, cli_here):
    numpy = cli_here("train", "--model", "numpy", "--nproc", "2", "--out", tmp_path / "n")
    assert numpy.returncode == 1 and "one process only" in numpy.stderr
    assert len(numpy.stderr.strip().splitlines()) == 1 and not (tmp_path / "n").exists()
    with pytest.raises(MnistlabError, match="with --nproc give --epochs"):
        distributed.check_run("mlp", 2, True, None, None)
    with pytest.raises(MnistlabError, match="cannot be shared by 2"):
        distributed.check_batches(500, 1001, 2)  # the last batch holds one image
    distributed.check_batches(128, 2000, 2)


def test_the_command_each_process_runs_drops_only_nproc():
    argv = ["train", "--nproc", "2", "--model", "cnn", "--nproc=3", "--threads", "1"]
    assert distributed.without_nproc(argv) == ["train", "--model", "cnn", "--threads", "1"]


def test_whole_chunks_predict_what_the_whole_split_does():
    # what lets ranks split a split: by chunks of PREDICT_BATCH, the probabilities are the
    # bits one process computes, so the figures are those of one pass over the whole split
    model = build_model("mlp", mean=0.13, std=0.31)
    images = np.random.default_rng(0).integers(0, 256, (2500, 28, 28), dtype=np.uint8)
    starts = range(0, len(images), PREDICT_BATCH)
    chunks = [model.predict_proba(images[i : i + PREDICT_BATCH]) for i in starts]
    np.testing.assert_array_equal(np.concatenate(chunks), model.predict_proba(images))
