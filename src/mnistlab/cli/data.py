"""`mnistlab data ...`: list, fetch, inspect and show the datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli import tables
from mnistlab.cli.common import DataDir, JsonFlag, console, data_app, out, print_json
from mnistlab.errors import MnistlabError


@data_app.command("list")
def data_list_cmd(json_out: JsonFlag = False) -> None:
    """Known datasets, and whether each is cached and verified."""
    from mnistlab.data import DATASETS
    from mnistlab.data.info import cache_status

    rows = [cache_status(name) for name in DATASETS]
    if json_out:
        print_json(rows)
        return
    tables.data_list(out, rows)


@data_app.command("fetch")
def data_fetch_cmd(name: str, data_dir: DataDir = None) -> None:
    """Find, verify and cache a dataset's four IDX files."""
    from mnistlab.data import load_official

    data = load_official(name, data_dir)
    for file, origin in data.origins.items():
        console.print(f"{name}/{file}: verified, from {origin}")


@data_app.command("info")
def data_info_cmd(name: str, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Counts, classes, class balance and pixel statistics (verified data only)."""
    from mnistlab.data.info import dataset_info

    info = dataset_info(name, data_dir)
    if json_out:
        print_json(info)
        return
    tables.data_info(out, info)


@data_app.command("show")
def data_show_cmd(
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

    from mnistlab.data import load_dataset
    from mnistlab.data.load import DEFAULT_VAL_SIZE
    from mnistlab.evaluation import plots

    val_size = 0 if split == "train" else DEFAULT_VAL_SIZE
    ds = load_dataset(name, split, val_size=val_size, data_dir=data_dir)
    n = min(n, len(ds))
    pick = np.arange(n) if seed is None else np.random.default_rng(seed).choice(len(ds), n, False)
    fig = plots.sample_grid(ds.images[pick], ds.labels[pick], ds.classes, f"{name} ({split})")
    try:
        plots.save(fig, out_path)
    except OSError as e:
        raise MnistlabError(f"cannot write {out_path}: {e.strerror}") from None
    console.print(f"wrote {out_path}")
