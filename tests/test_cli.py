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
