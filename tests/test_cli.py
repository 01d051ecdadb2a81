"""What every command shares: the version, and libraries kept quiet unless asked."""

import importlib.metadata
import sys

import mnistlab


def test_version_names_mnistlab_torch_and_python(cli_here):
    done = cli_here("--version")
    torch = importlib.metadata.version("torch")
    python = sys.version.split()[0]
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"mnistlab {mnistlab.__version__} (torch {torch}, Python {python})\n"


def test_libraries_are_quiet_unless_asked_and_mnistlab_is_not(python, monkeypatch):
    """What `mnistlab export` relies on: the ONNX optimizer's INFO notes (about ten lines an
    export) are not shown, mnistlab's own lines are; MNISTLAB_VERBOSE=1 (as -v) shows both."""
    code = ("import logging; from mnistlab.cli import configure_logging; configure_logging(); "
            "logging.getLogger('onnxscript.optimizer').info('a note'); "
            "logging.getLogger('mnistlab.prediction.export').info('ours')")  # fmt: skip
    quiet = python("-c", code)
    assert quiet.returncode == 0 and quiet.stderr == "mnistlab: ours\n", quiet.stderr
    monkeypatch.setenv("MNISTLAB_VERBOSE", "1")
    chatty = python("-c", code)
    assert "onnxscript.optimizer: a note" in chatty.stderr and "ours" in chatty.stderr
