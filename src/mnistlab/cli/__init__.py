"""The `mnistlab` command: thin wrappers that parse flags and call the Python API.

`--json` prints one JSON document on stdout and nothing else there; progress
and messages go to stderr (tables: mnistlab.cli.tables). A user error prints one line and
exits 1. One module per group of commands; importing this package registers them all.
"""

from __future__ import annotations

import logging
import os
import sys

# Each import registers its module's commands; --help lists them in that order (not sorted).
from mnistlab.cli import data, export, predict, explain, serve, runs, calibrate, sweep, train  # noqa: F401  # isort: skip
from mnistlab.cli.common import app, console, show_everything
from mnistlab.errors import MnistlabError


def configure_logging() -> None:
    """mnistlab's own messages go to stderr; other libraries' (the ONNX exporter's optimizer
    logs about ten lines an export) only with `-v` or MNISTLAB_VERBOSE=1, so that a command
    says what it did and no more."""
    logging.basicConfig(level=logging.WARNING, format="mnistlab: %(message)s", stream=sys.stderr)
    logging.getLogger("mnistlab").setLevel(logging.INFO)
    if os.environ.get("MNISTLAB_VERBOSE", "") not in ("", "0"):
        show_everything()


def main() -> None:
    """Entry point: one line for a user error, no traceback."""
    configure_logging()
    try:
        app()
    except MnistlabError as e:
        console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        console.print("interrupted")
        raise SystemExit(130) from None
