"""The `mnistlab` command: thin wrappers that parse flags and call the Python API.

`--json` prints one JSON document on stdout and nothing else there; progress
and messages go to stderr. A user error prints one line and exits 1.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mnistlab import tables
from mnistlab.errors import MnistlabError
from mnistlab.models import MODEL_NAMES

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
    tables.data_list(out, rows)


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
    tables.data_info(out, info)


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

_MODEL_HELP = (
    f"{', '.join(MODEL_NAMES[:-1])} or {MODEL_NAMES[-1]} (default cnn); "
    "`mnistlab summary` shows the layers."
)
_PER_MODEL = "(Default: per model.)"


def _per_model(text: str, *names: str) -> Any:
    """A flag whose default comes from the model's recipe (mnistlab.models), saying so."""
    return typer.Option(*names, help=f"{text} {_PER_MODEL}")


@app.command("train")
def train_command(
    dataset: Annotated[
        str | None, typer.Option(help="mnist or fashion-mnist (default mnist).")
    ] = None,
    model: Annotated[str | None, typer.Option(help=_MODEL_HELP)] = None,
    epochs: Annotated[int | None, _per_model("Passes over the data.")] = None,
    batch_size: Annotated[int | None, _per_model("Images per step; 0 = full batch.")] = None,
    lr: Annotated[float | None, _per_model("Peak learning rate.")] = None,
    optimizer: Annotated[str | None, _per_model("sgd, momentum, adam or adamw.")] = None,
    schedule: Annotated[str | None, _per_model("constant, step, cosine or onecycle.")] = None,
    weight_decay: Annotated[float | None, _per_model("L2 penalty.")] = None,
    augment: Annotated[int | None, _per_model("Shift training images by up to N pixels.")] = None,
    rotate: Annotated[float | None, _per_model("Rotate training images by up to ± N°.")] = None,
    scale: Annotated[float | None, _per_model("Zoom training images by 1 ± up to N.")] = None,
    erase: Annotated[float | None, _per_model("Random erasing probability.")] = None,
    flip: Annotated[bool | None, _per_model("Mirror half the images.", "--flip/--no-flip")] = None,
    label_smoothing: Annotated[
        float | None, _per_model("Target mass spread over all classes.")
    ] = None,
    betas: Annotated[str | None, _per_model("Adam moment decay rates, e.g. 0.9,0.999.")] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default all; 1 on a busy machine).")
    ] = None,
    hidden: Annotated[
        str | None, typer.Option(help="numpy model: hidden sizes, e.g. 512 or 256,128.")
    ] = None,
    activation: Annotated[str | None, typer.Option(help="numpy model: relu or sigmoid.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for split, init, batches (default 0).")
    ] = None,
    val_size: Annotated[
        int | None, typer.Option(help="Images held out for validation (default 5000).")
    ] = None,
    patience: Annotated[
        int | None, typer.Option(help="Early stopping: epochs without better val_loss (0: off).")
    ] = None,
    train_limit: Annotated[
        int | None, typer.Option(help="Train on the first N images only (quick trials).")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(help="End inside this wall time, e.g. 30m or 1h: sets the epochs."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA if present), cpu or cuda.")] = "auto",
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto (bf16 where native), bf16 or fp32 (default MNISTLAB_PRECISION, else auto)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/DATASET-MODEL-TIME).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last epoch.")
    ] = False,
    log_every: Annotated[
        int, typer.Option(min=0, help="Also print batch loss and accuracy every N steps.")
    ] = 0,
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Train a model; write config, weights, history and test metrics to a run folder."""
    options = dict(locals())  # first, so it holds the flags only
    from mnistlab import budget as budgets
    from mnistlab.train import TrainConfig, train

    converted = {  # the flags whose text becomes another type, or whose name differs
        "budget": budgets.parse(budget) if budget is not None else None,
        "hidden": _numbers(hidden, int, "--hidden", "512 or 256,128"),
        "betas": _numbers(betas, float, "--betas", "0.9,0.999"),
        "out": str(out_dir) if out_dir else None,
        "data_dir": str(data_dir) if data_dir else None,
    }
    if threads:
        _limit_threads(threads)
    run = train(TrainConfig(**_config_values(TrainConfig, options) | converted))
    if json_out:
        print_json({
            "run": str(run.dir), "dataset": run.config["dataset"], "model": run.config["model"],
            "epochs": len(run.history), "test_accuracy": run.metrics["accuracy"],
            "test_loss": run.metrics["loss"], "train_seconds": run.metrics["train_seconds"],
        })  # fmt: skip


def _config_values(config_class: type, options: dict[str, Any]) -> dict[str, Any]:
    """The options named like a field of the config dataclass: each field is written once,
    there, and a flag reaches it by having the same name."""
    return {f.name: options[f.name] for f in fields(config_class) if f.name in options}


def _numbers(text: str | None, kind: type, flag: str, example: str) -> tuple | None:
    """ "512,256" → (512, 256) for list-valued flags; a malformed list is a user error."""
    if text is None:
        return None
    try:
        return tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise MnistlabError(f"{flag} takes numbers like {example}, got {text!r}") from None


def _limit_threads(threads: int) -> None:
    """Cap torch's and the BLAS/OpenMP pools: on a shared machine, threads that wait for
    each other at every parallel region are many times slower than one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


@app.command("summary")
def summary_command(
    model: Annotated[str, typer.Option(help=_MODEL_HELP)] = "cnn",
    dataset: Annotated[
        str, typer.Option(help="Its pixel statistics fill the Normalize layer.")
    ] = "mnist",
    data_dir: DataDir = None,  # still accepted; the registry's constants need no data
    json_out: JsonFlag = False,
) -> None:
    """Layers, output shapes and parameter counts of a model, like Keras' model.summary()."""
    from mnistlab.data import get_spec
    from mnistlab.models import build_model, get_model_spec, summary

    spec = get_model_spec(model)
    data = get_spec(dataset)
    m = build_model(model, mean=data.pixel_mean, std=data.pixel_std)
    rows = summary(m)
    if json_out:
        print_json({"model": model, "layers": rows, "total_params": m.num_parameters()})
        return
    tables.model_summary(out, model, spec.about, rows, m.num_parameters())


# ── evaluate / report / compare (evaluation) ───────────────────────────────

RunDir = Annotated[Path, typer.Argument(help="A run folder written by `mnistlab train`.")]


@app.command("evaluate")
def evaluate_cmd(
    run_dir: RunDir,
    split: Annotated[
        str,
        typer.Option(help='test, or val (saved under "val" in metrics.json, plots in plots/val).'),
    ] = "test",
    json_out: JsonFlag = False,
) -> None:
    """Metrics, plots and report.html for a run; never changes its weights or history."""
    from mnistlab.evaluate import evaluate_run

    metrics = evaluate_run(run_dir, split)
    if json_out:
        print_json(metrics)
    else:
        tables.evaluation(out, split, metrics)
    err.print(f"report: {run_dir / 'report.html'}")


@app.command("report")
def report_cmd(run_dir: RunDir) -> None:
    """Rebuild RUN_DIR/report.html from the run folder; prints its path."""
    from mnistlab.report import write_report

    out.print(str(write_report(run_dir)), markup=False, highlight=False, soft_wrap=True)


@app.command("compare")
def compare_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders to compare.")],
    json_out: JsonFlag = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write validation curves to this PNG.")
    ] = None,
) -> None:
    """A table of runs, best test accuracy first."""
    from mnistlab.compare import compare_runs, plot_comparison

    rows = compare_runs(run_dirs)
    if plot is not None:
        err.print(f"wrote {plot_comparison([Path(r['run']) for r in rows], plot)}")
    if json_out:
        print_json(rows)
        return
    tables.comparison(out, rows)


# ── predict / serve (prediction) ───────────────────────────────────────────

RunOption = Annotated[Path, typer.Option("--run", help="A run folder written by `mnistlab train`.")]


@app.command("predict")
def predict_cmd(
    images: Annotated[list[Path], typer.Argument(help="Image files, or folders (recursive).")],
    run: RunOption,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Classes shown per image.")] = 3,
    json_out: JsonFlag = False,
    save_preprocessed: Annotated[
        Path | None, typer.Option(help="Folder for the 28x28 image the model saw, per file.")
    ] = None,
) -> None:
    """Predict your own images (PNG, JPEG, BMP, GIF, WebP, TIFF).

    A file that cannot be used is reported on stderr and skipped; the others are still
    predicted, and the exit status is 1 at the end.
    """
    from mnistlab.predict import Classifier, predict_files, save_images

    classifier = Classifier.load(run)
    results = predict_files(classifier, images)
    for line in results.errors:
        err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    if save_preprocessed is not None:
        save_images(save_preprocessed, results.predictions, results.images)
    if json_out:
        print_json([
            {**p.to_dict(), "top_k": [
                {"label": i, "name": classifier.classes[i], "probability": q}
                for i, q in p.top_k(top_k)
            ]}
            for p in results.predictions
        ])  # fmt: skip
    elif results.predictions:
        tables.predictions(out, results.predictions, classifier.classes, top_k)
    if results.errors:
        n = len(results.errors)
        raise MnistlabError(f"{n} of {n + len(results.predictions)} images could not be used")


@app.command("serve")
def serve_cmd(
    run: RunOption,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the draw-a-digit page at / and the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from mnistlab.serve import create_app

    application = create_app(run)
    err.print(f"serving {run} on http://{host}:{port}/ (API docs: /docs); Ctrl+C stops")
    uvicorn.run(application, host=host, port=port, log_level="info")


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
