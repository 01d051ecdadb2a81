"""The `mnistlab` command: thin wrappers that parse flags and call the Python API.

`--json` prints one JSON document on stdout and nothing else there; progress
and messages go to stderr. A user error prints one line and exits 1.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mnistlab.errors import MnistlabError

app = typer.Typer(
    help="Train, understand and use image classifiers on MNIST-style data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Datasets: list, fetch, inspect, show.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder holding the IDX files (also MNISTLAB_DATA_DIR)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


# ── data ────────────────────────────────────────────────────────────────────


@data_app.command("list")
def data_list(json_out: JsonFlag = False) -> None:
    """Known datasets, and whether each is cached and verified."""
    from mnistlab.data import DATASETS
    from mnistlab.data.info import cache_status

    rows = [cache_status(name) for name in DATASETS]
    if json_out:
        print_json(rows)
        return
    table = Table("dataset", "classes", "cached", "verified", "path")
    for r in rows:
        cells = (str(r["classes"]), _yes(r["cached"]), _yes(r["verified"]))
        table.add_row(r["name"], *cells, r["path"])
    out.print(table)


@data_app.command("fetch")
def data_fetch(name: str, data_dir: DataDir = None) -> None:
    """Find, verify and cache a dataset's four IDX files."""
    from mnistlab.data import load_official

    data = load_official(name, data_dir)
    for file, origin in data.origins.items():
        err.print(f"{name}/{file}: verified, from {origin}")


@data_app.command("info")
def data_info(name: str, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Counts, classes, class balance and pixel statistics (verified data only)."""
    from mnistlab.data.info import dataset_info

    info = dataset_info(name, data_dir)
    if json_out:
        print_json(info)
        return
    table = Table(title=f"{info['name']}: {info['train']} train / {info['test']} test images")
    table.add_column("label", justify="right")
    table.add_column("class")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for i, cls in enumerate(info["classes"]):
        table.add_row(str(i), cls, str(info["class_counts"]["train"][i]),
                      str(info["class_counts"]["test"][i]))
    out.print(table)
    out.print(f"pixel mean {info['pixel_mean']:.4f}, std {info['pixel_std']:.4f} (train, of 1.0); "
              f"verified: {_yes(info['verified'])}; cache: {info['path']}")


@data_app.command("show")
def data_show(
    name: str,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "train",
    n: Annotated[int, typer.Option("--n", min=1, max=400, help="How many images.")] = 25,
    out_path: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path(
        "samples.png"
    ),
    seed: Annotated[
        int | None, typer.Option(help="Pick random images with this seed; omit for the first n.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a grid of images titled with their labels."""
    import numpy as np

    from mnistlab import plots
    from mnistlab.data import load_dataset

    ds = load_dataset(name, split, val_size=0 if split == "train" else 5000, data_dir=data_dir)
    n = min(n, len(ds))
    pick = np.arange(n) if seed is None else np.random.default_rng(seed).choice(len(ds), n, False)
    fig = plots.sample_grid(ds.images[pick], ds.labels[pick], ds.classes, f"{name} ({split})")
    try:
        plots.save(fig, out_path)
    except OSError as e:
        raise MnistlabError(f"cannot write {out_path}: {e.strerror}") from None
    err.print(f"wrote {out_path}")


# ── train / summary (training) ─────────────────────────────────────────────


# ── evaluate / report / compare (evaluation) ───────────────────────────────


# ── predict / serve (prediction) ───────────────────────────────────────────


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def main() -> None:
    """Entry point: one line for a user error, no traceback."""
    logging.basicConfig(level=logging.INFO, format="mnistlab: %(message)s", stream=sys.stderr)
    try:
        app()
    except MnistlabError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
