"""The classic trio on Fashion-MNIST, beside the figures the classic tutorial reported.

Trains the from-scratch NumPy network in the tutorial's own setting, the MLP and the CNN
(each with its mnistlab defaults), evaluates each run (metrics.json, plots/, report.html) and
prints one table: our test accuracy next to the tutorial's. Each run is a normal run folder
under --runs; the validation curves of all three go to RUNS/classics-curves.png.

    .venv/bin/python bench/compare_classics.py                # make compare-classics
    .venv/bin/python bench/compare_classics.py --quick        # smoke run, ~1 minute

Tutorial figures (test accuracy, Fashion-MNIST): NumPy 74.53%, MLP 88.49%, CNN 90.31%.
The tutorial's NumPy network had a sigmoid output layer trained with squared error; ours
keeps the 512 sigmoid hidden units, full batch and 150 iterations but trains softmax
cross-entropy, like every model here, so it lands higher.
Budget: under 15 minutes on the 2-core CPU machine. Measured 2026-11-21 on an otherwise idle
machine (Intel Xeon, 2 cores, AVX-512, torch 2.13.0+cpu, 2 threads): `time make
compare-classics` took 6 min 34 s in all (set-up check, 3 trainings, 3 evaluations):

    model  parameters  epochs  train s  mnistlab  tutorial  Δ points
    cnn     1,387,434      10      153    91.52%    90.31%     +1.21
    mlp       535,818      10       18    89.60%    88.49%     +1.11
    numpy     407,050     150      188    82.31%    74.53%     +7.78
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mnistlab.evaluation.compare import compare_runs, plot_comparison
from mnistlab.evaluation.evaluate import evaluate_run
from mnistlab.runs import default_run_dir
from mnistlab.training.run import TrainConfig, train

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where run folders go")
    parser.add_argument("--quick", action="store_true", help="2000 images, few epochs")
    machine.add_options(parser)
    args = parser.parse_args()
    machine.apply_options(args)
    err = Console(stderr=True)
    dirs = {}
    for model, settings in SETTINGS.items():
        config = dict(settings)
        if args.quick:
            config |= {**QUICK, "epochs": QUICK_EPOCHS[model]}
        out = default_run_dir(DATASET, f"classic-{model}", args.runs)
        err.print(f"[bold]{model}[/]: training into {out}")
        dirs[model] = train(TrainConfig(dataset=DATASET, model=model, out=str(out), **config)).dir
        evaluate_run(dirs[model])
    rows = compare_runs(list(dirs.values()))
    curves = plot_comparison([Path(r["run"]) for r in rows], args.runs / "classics-curves.png")

    table = Table(title=f"The classic trio on {DATASET} (test accuracy)")
    for column in ("model", "parameters", "epochs", "train s", "mnistlab", "tutorial", "Δ points"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        ours, theirs = r["test_accuracy"], TUTORIAL[r["model"]]
        table.add_row(r["model"], f"{r['parameters']:,}", str(r["epochs"]),
                      f"{r['train_seconds']:.0f}", f"{ours:.2%}", f"{theirs:.2%}",
                      f"{100 * (ours - theirs):+.2f}")  # fmt: skip
    print(machine.line(machine.machine()))
    Console().print(table)
    err.print(f"runs: {', '.join(map(str, dirs.values()))}; validation curves: {curves}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
