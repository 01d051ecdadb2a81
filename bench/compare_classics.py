"""The classic trio on Fashion-MNIST, beside the figures the classic tutorial reported.

Trains the from-scratch NumPy network in the tutorial's own setting, the MLP and the CNN
(each with its mnistlab defaults), evaluates each run (metrics.json, plots/, report.html) and
prints one table: our test accuracy next to the tutorial's. Each run is a normal run folder
under --runs; the validation curves of all three go to RUNS/classics-curves.png.

    .venv/bin/python bench/compare_classics.py                # make compare-classics
    .venv/bin/python bench/compare_classics.py --quick        # smoke run, ~1 minute

The tutorial's NumPy network had a sigmoid output layer trained with squared error; ours
keeps the 512 sigmoid hidden units, full batch and 150 iterations but trains softmax
cross-entropy, like every model here, so it lands higher.

Targets: each model at least the tutorial's test accuracy, `--min-accuracy` (NumPy 74.53%,
MLP 88.49%, CNN 90.31%), and the whole comparison within `--max-minutes` (15, on the 2-core
CPU machine); --quick checks none. It exits 1 naming what was missed. Each invocation
appends a record to bench/results/compare_classics.jsonl; the figures are in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mnistlab.evaluation.compare import compare_runs, plot_comparison
from mnistlab.evaluation.evaluate import evaluate_run
from mnistlab.runs import default_run_dir
from mnistlab.training.run import TrainConfig, train

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402
from accuracy import parse_targets  # noqa: E402

DATASET = "fashion-mnist"
TUTORIAL = {"numpy": 0.7453, "mlp": 0.8849, "cnn": 0.9031}  # reported test accuracy
SETTINGS = {
    # The tutorial's NumPy network: 784 → 512 sigmoid → 10, plain full-batch gradient descent,
    # 150 iterations (full batch, so one iteration per epoch), constant rate.
    "numpy": dict(
        hidden=(512,),
        activation="sigmoid",
        batch_size=0,
        epochs=150,
        lr=1.0,
        optimizer="sgd",
        schedule="constant",
    ),  # fmt: skip
    "mlp": {},  # mnistlab's defaults: 784 → 512 → 256 → 10 ReLU, AdamW, 10 epochs
    "cnn": {},  # mnistlab's defaults: the tutorial's conv 2×2 → max-pool → dense 256, 10 epochs
}
QUICK = {"train_limit": 2000}  # --quick: a smoke run of the whole pipeline
QUICK_EPOCHS = {"numpy": 10, "mlp": 1, "cnn": 1}


def check(rows: list[dict], args: argparse.Namespace, seconds: float) -> tuple[dict, list[str]]:
    """The targets (none with --quick), and one phrase per miss."""
    if args.quick:
        return {}, []
    targets = {"min_accuracy": args.min_accuracy, "max_minutes": args.max_minutes}
    low = [(r, args.min_accuracy[r["model"]]) for r in rows
           if r["test_accuracy"] < args.min_accuracy.get(r["model"], 0)]  # fmt: skip
    missed = [f"{r['model']} {r['test_accuracy']:.2%} < {target:.2%}" for r, target in low]
    if seconds > 60 * args.max_minutes:
        missed.append(f"{seconds / 60:.1f} minutes > {args.max_minutes:g}")
    return targets, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where run folders go")
    parser.add_argument("--quick", action="store_true", help="2000 images, few epochs")
    parser.add_argument("--min-accuracy", type=parse_targets,
                        default=",".join(f"{k}={v}" for k, v in TUTORIAL.items()),
                        help="MODEL=ACCURACY,... to reach (default: the tutorial's)")  # fmt: skip
    parser.add_argument("--max-minutes", type=float, default=15.0,
                        help="target: minutes for the whole comparison")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = records.parse(parser)
    console = Console(stderr=True)
    start, dirs = time.perf_counter(), {}
    for model, settings in SETTINGS.items():
        config = dict(settings)
        if args.quick:
            config |= {**QUICK, "epochs": QUICK_EPOCHS[model]}
        out = default_run_dir(DATASET, f"classic-{model}", args.runs)
        console.print(f"[bold]{model}[/]: training into {out}")
        dirs[model] = train(TrainConfig(dataset=DATASET, model=model, out=str(out), **config)).dir
        evaluate_run(dirs[model])
    rows = compare_runs(list(dirs.values()))
    curves = plot_comparison([Path(r["run"]) for r in rows], args.runs / "classics-curves.png")
    seconds, info = time.perf_counter() - start, machine.machine()
    results = [{key: r[key] for key in ("model", "parameters", "epochs", "train_seconds",
                                        "test_accuracy", "run")}
               | {"tutorial": TUTORIAL[r["model"]]} for r in rows]  # fmt: skip
    targets, missed = check(results, args, seconds)
    document = {"machine": info, "dataset": DATASET, "quick": args.quick, "seconds": seconds,
                "results": results, "targets": targets, "met": not missed}  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    else:
        print_table(info, results)
    console.print(f"runs: {', '.join(map(str, dirs.values()))}; validation curves: {curves}")
    return records.finish(__file__, args, document, info, missed)


def print_table(info: dict, rows: list[dict]) -> None:
    table = Table(title=f"The classic trio on {DATASET} (test accuracy)")
    for column in ("model", "parameters", "epochs", "train s", "mnistlab", "tutorial", "Δ points"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        ours, theirs = r["test_accuracy"], r["tutorial"]
        table.add_row(r["model"], f"{r['parameters']:,}", str(r["epochs"]),
                      f"{r['train_seconds']:.0f}", f"{ours:.2%}", f"{theirs:.2%}",
                      f"{100 * (ours - theirs):+.2f}")  # fmt: skip
    print(machine.line(info))
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
