"""What every command shares: the Typer app, the consoles, the common options, JSON out."""

from __future__ import annotations

import json
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Train, understand and use image classifiers on MNIST-style data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Datasets: list, fetch, inspect, show.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
console = Console(stderr=True)


def show_everything() -> None:
    """Debug messages of mnistlab and the information of every library it calls."""
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("mnistlab").setLevel(logging.DEBUG)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))


def _versions() -> str:
    from mnistlab import __version__

    try:
        torch = version("torch")
    except PackageNotFoundError:
        torch = "not installed"
    return f"mnistlab {__version__} (torch {torch}, Python {sys.version.split()[0]})"


def _print_version(asked: bool) -> None:
    if asked:
        out.print(_versions(), markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=(
        "Also show what the libraries underneath say (also MNISTLAB_VERBOSE=1)."))] = False,
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the versions of mnistlab, torch and Python, and exit.")] = False,
) -> None:  # fmt: skip
    """Train, understand and use image classifiers on MNIST-style data."""
    if verbose:
        show_everything()


DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder holding the IDX files (also MNISTLAB_DATA_DIR)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


RunDir = Annotated[Path, typer.Argument(help="A run folder written by `mnistlab train`.")]
RunOption = Annotated[Path, typer.Option("--run", help="A run folder written by `mnistlab train`.")]
