"""Inference benchmark: batch throughput and single-image latency of trained runs.

For each run folder: (1) `Classifier.predict_arrays` on the run's 10,000 test images, the
median of --repeats passes after one warm-up (images/s, seconds, and that pass's accuracy as a
sanity check); (2) the latency of --n single-image `Classifier.predict(png_bytes)` calls, the
way a person hands over a file, so image decoding and preprocessing are counted; (3) the
latency of --n `POST /api/predict` uploads of the same PNGs to the real server (`mnistlab
serve` in a subprocess on a free localhost port), over one keep-alive httpx connection after
a few warm-ups. Latencies are wall milliseconds per call, p50 and p99. --threads sets torch's
threads here and, through OMP_NUM_THREADS, in the server. Without RUN_DIR it trains `fast` on
MNIST into a temporary folder first (~5 s on an idle machine).

Then the runtimes side by side, the model alone (no decoding or preprocessing): PyTorch
eager (the run's Model, in the process's --precision) and onnxruntime (the float32 file
`mnistlab export` writes), each with 1 and 2 threads (--runtime-threads): throughput over
--batch-images test images in batches of 1,000 (median of --repeats after a warm-up), the
p50/p99 latency of --n single-image `predict_proba` calls, and the largest probability
difference from PyTorch's answer. --runtimes-only skips (1)-(3).

    .venv/bin/python bench/inference.py                       # fast, trained on the spot
    .venv/bin/python bench/inference.py runs/mnist-best runs/fashion-best --threads 1 --json

No targets. Each invocation appends a record to bench/results/inference.jsonl; the figures
are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.prediction import export
from mnistlab.prediction.classifier import Classifier
from mnistlab.prediction.images import png_bytes
from mnistlab.serve.live import serving
from mnistlab.training.run import TrainConfig, train

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

WARMUPS = 5  # untimed single-image calls before each latency series
COLUMNS = ("run", "model", "dataset", "params", "batch img/s", "API p50 ms", "API p99 ms",
           "HTTP p50 ms", "HTTP p99 ms", "accuracy")  # fmt: skip
RUNTIME_COLUMNS = ("run", "runtime", "threads", "batch img/s", "p50 ms", "p99 ms",
                   "max |Δp| vs torch", "accuracy")  # fmt: skip
console = Console(stderr=True)


def throughput(clf: Classifier, images: np.ndarray, labels: np.ndarray, repeats: int) -> dict:
    """Median seconds of one `predict_arrays` pass over all images, after a warm-up pass."""
    clf.predict_arrays(images)
    seconds, hits = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        predictions = clf.predict_arrays(images)
        seconds.append(time.perf_counter() - t)
        hits = sum(int(p.label == y) for p, y in zip(predictions, labels, strict=True))
    median = statistics.median(seconds)
    return {
        "batch_seconds": median,
        "images_per_second": len(images) / median,
        "accuracy": hits / len(images),
    }


def latency(ask: Callable[[bytes], int], pngs: list[bytes], labels: np.ndarray) -> dict:
    """p50/p99 milliseconds of `ask(png) -> label`, one image per call, and its accuracy.
    The first WARMUPS images are asked untimed; `labels` are those of the others."""
    for png in pngs[:WARMUPS]:
        ask(png)
    ms, hits = [], 0
    for png, y in zip(pngs[WARMUPS:], labels, strict=True):
        t = time.perf_counter()
        hits += int(ask(png) == y)
        ms.append(1000 * (time.perf_counter() - t))
    p50, p99 = np.percentile(ms, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "accuracy": hits / len(labels)}


def bench_run(clf: Classifier, args: argparse.Namespace, work: Path) -> dict:
    """One run's row: its identity, batch throughput, API and HTTP latency."""
    run, test = clf.run_dir, load_dataset(clf.config["dataset"], "test")
    row = {
        "run": str(run),
        "model": clf.config["model"],
        "dataset": clf.config["dataset"],
        "parameters": clf.model.num_parameters(),
    }
    console.print(f"{run}: batch of {len(test.labels):,} test images")
    row |= throughput(clf, test.images, test.labels, args.repeats)
    picks = np.arange(WARMUPS + args.n) % len(test.labels)
    pngs, labels = [png_bytes(image) for image in test.images[picks]], test.labels[picks[WARMUPS:]]
    console.print(f"{run}: {args.n} single images through the Python API")
    api = latency(lambda png: clf.predict(png).label, pngs, labels)
    row |= {f"api_{k}": v for k, v in api.items()}
    console.print(f"{run}: {args.n} single images through POST /api/predict")
    env = {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}
    with (
        (work / "serve.log").open("w") as log,
        serving(run, log, env) as url,
        httpx.Client(base_url=url) as http,
    ):

        def ask(png: bytes) -> int:
            answer = http.post("/api/predict", files={"file": ("image.png", png, "image/png")})
            if answer.status_code != 200:
                raise MnistlabError(
                    f"POST /api/predict answered {answer.status_code}: {answer.text}"
                )
            return answer.json()["label"]

        return row | {f"http_{k}": v for k, v in latency(ask, pngs, labels).items()}


def runtime_rows(clf: Classifier, args: argparse.Namespace) -> list[dict]:
    """PyTorch eager and onnxruntime on the same images, per thread count: the model alone."""
    test = load_dataset(clf.config["dataset"], "test")
    images, labels = test.images[: args.batch_images], test.labels[: args.batch_images]
    singles = [images[i % len(images)][None] for i in range(WARMUPS + args.n)]
    data, before, rows = export.onnx_bytes(clf.run_dir), torch.get_num_threads(), []
    reference = None
    for threads in args.runtime_threads:
        torch.set_num_threads(threads)
        models = {"torch": clf.model, "onnx": export.OnnxModel(data, threads=threads)}
        for runtime, model in models.items():
            console.print(f"{clf.run_dir}: {runtime}, {threads} thread(s)")
            proba = model.predict_proba(images)  # warm-up, and the answer compared
            reference = proba if reference is None else reference
            seconds = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                model.predict_proba(images)
                seconds.append(time.perf_counter() - t)
            for x in singles[:WARMUPS]:
                model.predict_proba(x)
            ms = []
            for x in singles[WARMUPS:]:
                t = time.perf_counter()
                model.predict_proba(x)
                ms.append(1000 * (time.perf_counter() - t))
            p50, p99 = np.percentile(ms, [50, 99])
            rows.append({
                "run": str(clf.run_dir), "runtime": runtime, "threads": threads,
                "images_per_second": len(images) / statistics.median(seconds),
                "p50_ms": float(p50), "p99_ms": float(p99),
                "max_abs_diff": float(np.abs(proba - reference).max()),
                "accuracy": float((proba.argmax(1) == labels).mean()),
            })  # fmt: skip
    torch.set_num_threads(before)
    return rows


def print_tables(info: dict, rows: list[dict], runtimes: list[dict]) -> None:
    out = Console()
    out = out if out.is_terminal else Console(width=160)  # piped: no squeezed columns
    title = f"{machine.line(info)[2:]} → {info['load_average_after'][0]:.1f}"
    if rows:
        table = Table(title=f"Inference {title}")
        for i, column in enumerate(COLUMNS):
            table.add_column(column, justify="left" if i < 3 else "right")
        for r in rows:
            keys = ("api_p50_ms", "api_p99_ms", "http_p50_ms", "http_p99_ms")
            table.add_row(Path(r["run"]).name, r["model"], r["dataset"], f"{r['parameters']:,}",
                          f"{r['images_per_second']:,.0f}", *(f"{r[k]:.2f}" for k in keys),
                          f"{r['accuracy']:.2%}")  # fmt: skip
        out.print(table)
    table = Table(title=f"PyTorch eager vs onnxruntime, the model alone {title}")
    for i, column in enumerate(RUNTIME_COLUMNS):
        table.add_column(column, justify="left" if i < 2 else "right")
    for r in runtimes:
        table.add_row(Path(r["run"]).name, r["runtime"], str(r["threads"]),
                      f"{r['images_per_second']:,.0f}", f"{r['p50_ms']:.3f}",
                      f"{r['p99_ms']:.3f}", f"{r['max_abs_diff']:.1e}",
                      f"{r['accuracy']:.2%}")  # fmt: skip
    out.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR",
                        help="trained run folders (default: train `fast` now)")  # fmt: skip
    parser.add_argument("--n", type=int, default=200, help="single-image calls per latency")
    parser.add_argument("--repeats", type=int, default=3, help="timed batch passes (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--batch-images", type=int, default=3000,
                        help="test images per timed pass in the runtime comparison")  # fmt: skip
    parser.add_argument("--runtime-threads", type=lambda v: [int(t) for t in v.split(",")],
                        default=[1, 2], help="thread counts compared, e.g. 1,2")  # fmt: skip
    parser.add_argument("--runtimes-only", action="store_true",
                        help="only the PyTorch vs onnxruntime comparison")  # fmt: skip
    args = records.parse(parser)
    info = machine.machine()
    with tempfile.TemporaryDirectory(prefix="mnistlab-bench-") as tmp:
        work = Path(tmp)
        runs = args.runs
        if not runs:
            console.print("no RUN_DIR: training `fast` on MNIST first")
            runs = [train(TrainConfig(model="fast", dataset="mnist", out=str(work / "fast"))).dir]
        classifiers = [Classifier.load(run) for run in runs]  # every folder checked first
        rows = [] if args.runtimes_only else [bench_run(clf, args, work) for clf in classifiers]
        runtimes = [row for clf in classifiers for row in runtime_rows(clf, args)]
    info["load_average_after"] = os.getloadavg()
    document = {"machine": info, "results": rows, "runtimes": runtimes}
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print_tables(info, rows, runtimes)
    return records.finish(__file__, args, document, info)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MnistlabError as e:
        console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
