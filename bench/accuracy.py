"""Accuracy benchmark: each model on each dataset, trained with its default hyper-parameters.

Prints test accuracy and training seconds (the epochs' wall time, validation included) per
run, plus the machine it ran on, as a table or, with --json, as one JSON document. Each run
is a normal run folder under --runs, so `mnistlab evaluate` can look at any of them. Seed 0
fixes the split, the weights, the batch order and the augmentation: the accuracies repeat,
the seconds drift with the host.

    .venv/bin/python bench/accuracy.py                      # 8 runs, about 8 minutes
    .venv/bin/python bench/accuracy.py --models numpy --datasets mnist --no-record
    .venv/bin/python bench/accuracy.py --models fast,best   # + about an hour for best

Targets (issue 3), `--min-accuracy`: numpy ≥ 97.5% MNIST; mlp ≥ 98.0% MNIST / ≥ 89%
Fashion-MNIST; cnn ≥ 98.8% / ≥ 91%; lenet5 ≥ 98.9% MNIST. It exits 1 naming any run below
its target. Each invocation appends a record to bench/results/accuracy.jsonl; the figures
are in docs/benchmarks.md (`make benchmarks`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from mnistlab.training.run import TrainConfig, train

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

DATASETS = ("mnist", "fashion-mnist")
TARGETS = {"numpy:mnist": 0.975, "mlp:mnist": 0.98, "mlp:fashion-mnist": 0.89,
           "cnn:mnist": 0.988, "cnn:fashion-mnist": 0.91, "lenet5:mnist": 0.989}  # fmt: skip


def parse_targets(text: str) -> dict[str, float]:
    """`numpy:mnist=0.975,cnn:mnist=0.988` as {"numpy:mnist": 0.975, "cnn:mnist": 0.988}."""
    pairs = (item.split("=") for item in text.split(",") if item)
    return {key.strip(): float(value) for key, value in pairs}


def check(rows: list[dict], targets: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """The targets that apply to these runs, and one phrase per run below its target."""
    applied, missed = {}, []
    for r in rows:
        key = f"{r['model']}:{r['dataset']}"
        if key in targets:
            applied[key] = targets[key]
            if r["test_accuracy"] < targets[key]:
                missed.append(f"{r['model']} on {r['dataset']} {r['test_accuracy']:.2%} "
                              f"< {targets[key]:.2%}")  # fmt: skip
    return applied, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="numpy,mlp,cnn,lenet5", help="comma-separated")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--runs", default="runs/bench", help="folder for the run folders")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--min-accuracy", type=parse_targets,
                        default=",".join(f"{k}={v}" for k, v in TARGETS.items()),
                        help="MODEL:DATASET=ACCURACY,... test accuracy to reach (default: "
                        "issue 3's); a run without one is not checked")  # fmt: skip
    args = records.parse(parser)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            out = Path(args.runs) / f"{stamp}-{dataset}-{model}"
            run = train(TrainConfig(dataset=dataset, model=model, out=str(out)))
            results.append(
                {
                    "model": model,
                    "dataset": dataset,
                    "epochs": len(run.history),
                    "test_accuracy": run.metrics["accuracy"],
                    "test_loss": run.metrics["loss"],
                    "train_seconds": run.metrics["train_seconds"],
                    "run": str(out),
                }
            )
    targets, missed = check(results, args.min_accuracy)
    doc = {"machine": machine.machine(), "results": results,
           "targets": {"min_accuracy": targets} if targets else {}, "met": not missed}  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        print(machine.line(doc["machine"]))
        print(f"{'model':8}{'dataset':16}{'epochs':>6}{'test acc':>10}{'train s':>9}")
        for r in results:
            print(
                f"{r['model']:8}{r['dataset']:16}{r['epochs']:>6}"
                f"{r['test_accuracy']:>10.2%}{r['train_seconds']:>9.1f}"
            )
    return records.finish(__file__, args, doc, doc["machine"], missed)


if __name__ == "__main__":
    sys.exit(main())
