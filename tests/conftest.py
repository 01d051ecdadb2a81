"""Fixtures shared by the test modules.

Fixtures live here; plain helpers that tests import by name live in train_helpers.py (training,
interrupting, reloading runs) and predict_helpers.py (the prediction run, images people make).
"""

import dataclasses
import functools
import os
import subprocess
import sys

import pytest


def pytest_configure(config):
    """Under pytest-xdist, split the cores between the workers: two processes that each run
    as many threads as there are cores wait on each other at every parallel region. Set in
    the environment before torch is imported, so the processes tests start inherit it."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, threads)
    # train() fits no reject rule (seconds per run, dozens of runs): the tests that need one
    # ask for it (TrainConfig.reject_outliers, --reject-outliers; predict_helpers' run has one).
    os.environ.setdefault("MNISTLAB_REJECT_OUTLIERS", "0")


@pytest.fixture(scope="session")
def python():
    """`python(*args, cwd=None)`: this interpreter in a fresh process, stdout and stderr apart.

    Arguments may be paths. Session-scoped, so module-scoped fixtures can use it too.
    """

    def run(*args, cwd=None, timeout=300):
        cmd = [sys.executable, *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def cli(python):
    """`cli(*args, cwd=None)`: `python -m mnistlab ARGS` as a user runs it, one process a call."""
    return functools.partial(python, "-m", "mnistlab")


@pytest.fixture
def cli_here(capsys, monkeypatch):
    """`cli_here(*args, cwd=None)`: the `mnistlab` command's main() in this process, stdout and
    stderr captured apart, for commands that refuse or finish at once: a fresh process spends
    2-3 s importing torch before it can say one line (`cli` keeps the real process)."""
    from mnistlab import precision
    from mnistlab.cli import main

    def run(*args, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["mnistlab", *map(str, args)])
        threads = torch.get_num_threads() if (torch := sys.modules.get("torch")) else None
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        finally:
            precision.use(None)  # what a command set for its own process
            if threads:
                torch.set_num_threads(threads)
        stdout, stderr = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, stdout, stderr)

    return run


@pytest.fixture
def small_test_split(monkeypatch):
    """Make train() and evaluate score a run on the first `n` test images, not all 10,000.

    For tests of `best`, whose test pass is most of a short run's cost (with Fashion-MNIST's
    10-view averaging, 100,000 forward passes: about 4 minutes on a 2-core AVX2 CPU). What is
    tested is the run's mechanics, not the accuracy on the whole test set.
    """
    import mnistlab.data
    from mnistlab.explanation import embedding

    train_module = sys.modules["mnistlab.training.run"]
    load = mnistlab.data.load_dataset

    def limit(n: int) -> None:
        def load_dataset(name: str, split: str = "train", **kwargs):
            ds = load(name, split, **kwargs)
            if split != "test":
                return ds
            return dataclasses.replace(ds, images=ds.images[:n], labels=ds.labels[:n])

        monkeypatch.setattr(train_module, "load_dataset", load_dataset)
        monkeypatch.setattr(mnistlab.data, "load_dataset", load_dataset)  # evaluate's import
        monkeypatch.setattr(embedding, "MAP_IMAGES", n)  # evaluate's map of the test set

    return limit
