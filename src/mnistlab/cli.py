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
        table.add_row(
            str(i), cls, str(info["class_counts"]["train"][i]), str(info["class_counts"]["test"][i])
        )
    out.print(table)
    out.print(
        f"pixel mean {info['pixel_mean']:.4f}, std {info['pixel_std']:.4f} (train, of 1.0); "
        f"verified: {_yes(info['verified'])}; cache: {info['path']}"
    )


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
    "numpy, mlp, cnn, lenet5, fast or best (default cnn); `mnistlab summary` shows the layers."
)
_PER_MODEL = "(Default: per model.)"


@app.command("train")
def train_command(
    dataset: Annotated[
        str | None, typer.Option(help="mnist or fashion-mnist (default mnist).")
    ] = None,
    model: Annotated[str | None, typer.Option(help=_MODEL_HELP)] = None,
    epochs: Annotated[int | None, typer.Option(help=f"Passes over the data. {_PER_MODEL}")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Images per step; 0 = full batch. {_PER_MODEL}")
    ] = None,
    lr: Annotated[float | None, typer.Option(help=f"Peak learning rate. {_PER_MODEL}")] = None,
    optimizer: Annotated[
        str | None, typer.Option(help=f"sgd, momentum, adam or adamw. {_PER_MODEL}")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option(help=f"constant, step, cosine or onecycle. {_PER_MODEL}")
    ] = None,
    weight_decay: Annotated[float | None, typer.Option(help=f"L2 penalty. {_PER_MODEL}")] = None,
    augment: Annotated[
        int | None, typer.Option(help=f"Shift training images by up to N pixels. {_PER_MODEL}")
    ] = None,
    rotate: Annotated[
        float | None, typer.Option(help=f"Rotate training images by up to ± N°. {_PER_MODEL}")
    ] = None,
    scale: Annotated[
        float | None, typer.Option(help=f"Zoom training images by 1 ± up to N. {_PER_MODEL}")
    ] = None,
    erase: Annotated[
        float | None, typer.Option(help=f"Random erasing probability. {_PER_MODEL}")
    ] = None,
    flip: Annotated[
        bool | None, typer.Option("--flip/--no-flip", help=f"Mirror half the images. {_PER_MODEL}")
    ] = None,
    label_smoothing: Annotated[
        float | None, typer.Option(help=f"Target mass spread over all classes. {_PER_MODEL}")
    ] = None,
    betas: Annotated[
        str | None, typer.Option(help=f"Adam moment decay rates, e.g. 0.9,0.999. {_PER_MODEL}")
    ] = None,
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
    from mnistlab import budget as budgets
    from mnistlab.train import TrainConfig, train

    seconds = budgets.parse(budget) if budget is not None else None
    sizes = _numbers(hidden, int, "--hidden", "512 or 256,128")
    beta_pair = _numbers(betas, float, "--betas", "0.9,0.999")
    if threads:
        _limit_threads(threads)
    config = TrainConfig(
        dataset=dataset, model=model, epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer=optimizer, schedule=schedule, weight_decay=weight_decay, augment=augment,
        rotate=rotate, scale=scale, erase=erase, flip=flip, label_smoothing=label_smoothing,
        betas=beta_pair, hidden=sizes, activation=activation, seed=seed, val_size=val_size,
        patience=patience, budget=seconds, precision=precision,
        train_limit=train_limit, device=device, out=str(out_dir) if out_dir else None,
        resume=resume, log_every=log_every, data_dir=str(data_dir) if data_dir else None,
    )  # fmt: skip
    run = train(config)
    if json_out:
        print_json({
            "run": str(run.dir), "dataset": run.config["dataset"], "model": run.config["model"],
            "epochs": len(run.history), "test_accuracy": run.metrics["accuracy"],
            "test_loss": run.metrics["loss"], "train_seconds": run.metrics["train_seconds"],
        })  # fmt: skip


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
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Layers, output shapes and parameter counts of a model, like Keras' model.summary()."""
    from mnistlab.data import load_dataset
    from mnistlab.models import MODELS, build_model, get_model_spec, pixel_stats, summary

    get_model_spec(model)
    args = pixel_stats(load_dataset(dataset, "train", data_dir=data_dir).images)
    m = build_model(model, **args)
    rows = summary(m)
    if json_out:
        print_json({"model": model, "layers": rows, "total_params": m.num_parameters()})
        return
    out.print(f"{model}: {MODELS[model].about}")
    table = Table()
    table.add_column("layer")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for r in rows:
        table.add_row(
            r["layer"], "(" + ", ".join(map(str, r["output_shape"])) + ")", f"{r['params']:,}"
        )
    out.print(table)
    out.print(f"Total params: {m.num_parameters():,}")


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
        table = Table(
            title=f"{split}: accuracy {metrics['accuracy']:.2%}, loss {metrics['loss']:.4f}"
        )
        for column in ("label", "class", "precision", "recall", "F1", "support"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for r in metrics["per_class"]:
            table.add_row(
                str(r["label"]),
                r["name"],
                f"{r['precision']:.4f}",
                f"{r['recall']:.4f}",
                f"{r['f1']:.4f}",
                str(r["support"]),
            )
        out.print(table)
        pairs = ", ".join(
            f"{p['true_name']}→{p['predicted_name']} ({p['count']})"
            for p in metrics["most_confused"]
        )
        out.print(f"most confused (true→predicted): {pairs or 'none'}")
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
    table = Table("run", "dataset", "model")
    for column in ("parameters", "epochs", "train s", "test acc", "test loss"):
        table.add_column(column, justify="right")
    for r in rows:
        acc, loss = r["test_accuracy"], r["test_loss"]
        table.add_row(
            r["run"],
            r["dataset"],
            r["model"],
            f"{r['parameters']:,}",
            str(r["epochs"]),
            f"{r['train_seconds']:.1f}",
            "–" if acc is None else f"{acc:.2%}",
            "–" if loss is None else f"{loss:.4f}",
        )
    # Piped output has no width to fit: keep each run on one line rather than fold it.
    (out if out.is_terminal else Console(width=240)).print(table)


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
        table = Table("file", "prediction", "probability", f"top {top_k}" if top_k > 1 else None)
        for p in results.predictions:
            others = ", ".join(f"{classifier.classes[i]} {q:.1%}" for i, q in p.top_k(top_k))
            row = [p.file or "", p.name, f"{p.probabilities[p.label]:.1%}"]
            table.add_row(*row, *([others] if top_k > 1 else []))
        (out if out.is_terminal else Console(width=240)).print(table)  # piped: one row a line
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
