"""What every command shares: the Typer app, the consoles, the common options, JSON out."""

from __future__ import annotations

import json
import sys
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

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder holding the IDX files (also MNISTLAB_DATA_DIR)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


RunDir = Annotated[Path, typer.Argument(help="A run folder written by `mnistlab train`.")]
RunOption = Annotated[Path, typer.Option("--run", help="A run folder written by `mnistlab train`.")]
