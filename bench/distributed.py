"""Does data-parallel training pay on this machine? One process with 2 threads against
2 processes (`mnistlab train --nproc 2`) with 1 thread each, the same recipe and global batch,
and one process with 1 thread as the control: seconds per epoch (each run's mean, the median
of the repeats) and test accuracy.

    .venv/bin/python bench/distributed.py [--model cnn] [--train-limit 4000] [--epochs 2]
                                          [--repeats 3] [--json]

Two processes each augment the whole batch and wait for the gradient all-reduce every step,
and two threads wait for each other at every parallel region when other jobs share the
cores: which layout wins depends on the machine. No targets. Each invocation appends a
record to bench/results/distributed.jsonl; the figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mnistlab import runs

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

LAYOUTS = {"1 process × 2 threads": ["--threads", "2"],
           "2 processes × 1 thread": ["--nproc", "2", "--threads", "1"],
           "1 process × 1 thread": ["--threads", "1"]}  # control: is it the threads?  # fmt: skip


def one_run(flags: list[str], out: Path) -> dict:
    """Train once in fresh processes; the run folder's per-epoch seconds and test accuracy."""
    cmd = [sys.executable, "-m", "mnistlab", "train", *flags, "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = [row["seconds"] for row in runs.load_history(out)]
    accuracy = runs.load_metrics(out)["accuracy"]
    return {"epoch_seconds": statistics.mean(seconds), "accuracy": accuracy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--train-limit", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    records.add_options(parser)
    args = parser.parse_args()
    recipe = ["--model", args.model, "--train-limit", str(args.train_limit), "--val-size",
              "1000", "--epochs", str(args.epochs)]  # fmt: skip
    info, rows = machine.machine(), []
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in LAYOUTS.items():
            tries = [one_run(recipe + flags, Path(tmp) / f"{len(rows)}-{i}")
                     for i in range(args.repeats)]  # fmt: skip
            rows.append({
                "layout": name,
                "epoch_seconds": statistics.median(t["epoch_seconds"] for t in tries),
                "epoch_seconds_all": [round(t["epoch_seconds"], 3) for t in tries],
                "accuracy": statistics.median(t["accuracy"] for t in tries),
            })  # fmt: skip
    load_after = os.getloadavg()
    document = {"machine": info, "load_after": load_after, "recipe": recipe, "rows": rows}
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(machine.line(info) + f" (after: {load_after[0]:.1f})")
        print(f"# {' '.join(recipe)}, median of {args.repeats}")
        for row in rows:
            print(f"{row['layout']:<24} {row['epoch_seconds']:6.2f} s/epoch (runs "
                  f"{row['epoch_seconds_all']})  test accuracy {row['accuracy']:.4f}")  # fmt: skip
    return records.finish(__file__, args, document, info)


if __name__ == "__main__":
    sys.exit(main())
