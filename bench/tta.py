"""Does test-time augmentation or an ensemble pay off? Test accuracy of trained `best` runs
with each kind of averaging switched on and off, plus the ensemble of all given runs of a
dataset (mean probabilities), as a table or, with --json, one JSON document.

- plain: one pass, no averaging;
- flip: the mean probabilities over the image and its mirror image (clothes only: a
  mirrored 2 is no 2);
- shift: over the image and its 1-pixel shifts up, down, left and right (5 passes);
- flip+shift: both (10 passes; clothes only).

    .venv/bin/python bench/tta.py runs/best-mnist runs/best-fashion [--json]

No targets. Each invocation appends a record to bench/results/tta.jsonl; the figures are in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np

from mnistlab import runs
from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError

sys.path.insert(0, os.path.dirname(__file__))
import machine  # noqa: E402  (bench/ is a folder of scripts, not a package)
import records  # noqa: E402

VARIANTS = {"plain": (False, False), "flip": (True, False), "shift": (False, True),
            "flip+shift": (True, True)}  # name: (flip_tta, shift_tta)  # fmt: skip


def evaluate(run_dir: str) -> tuple[dict, dict[str, np.ndarray]]:
    config, model = runs.load_config(run_dir), runs.load_model(run_dir)
    if not hasattr(model.net, "shift_tta"):
        raise MnistlabError(f"{run_dir}: a {config['model']} run; test-time averaging is `best`'s")
    test = load_dataset(config["dataset"], "test")
    y = test.labels
    saved = (model.net.flip_tta, model.net.shift_tta)
    row = {"run": run_dir, "model": config["model"], "dataset": config["dataset"]}
    outputs = {"labels": y}
    for name, (flip, shift) in VARIANTS.items():
        if flip and config["preprocessing"] != "objects":
            continue
        model.net.flip_tta, model.net.shift_tta = flip, shift
        p = model.predict_proba(test.images)
        row[name] = float((p.argmax(1) == y).mean())
        if (flip, shift) == saved:
            row["saved_default"], outputs["default"] = name, p
    return row, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="trained run folders")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = records.parse(parser)
    try:
        results, by_dataset = [], defaultdict(list)
        for run_dir in args.runs:
            row, outputs = evaluate(run_dir)
            results.append(row)
            by_dataset[row["dataset"]].append(outputs)
    except MnistlabError as e:
        sys.exit(f"error: {e}")
    ensembles = {
        dataset: float((sum(o["default"] for o in outs).argmax(1) == outs[0]["labels"]).mean())
        for dataset, outs in by_dataset.items()
        if len(outs) > 1
    }
    doc = {"machine": machine.machine(), "results": results, "ensembles": ensembles}
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        print_table(doc, {dataset: len(outs) for dataset, outs in by_dataset.items()})
    return records.finish(__file__, args, doc, doc["machine"])


def print_table(doc: dict, runs_per_dataset: dict[str, int]) -> None:
    print(machine.line(doc["machine"]))
    print(f"{'run':32}{'dataset':15}" + "".join(f"{v:>12}" for v in VARIANTS) + "  default")
    for r in doc["results"]:
        cells = "".join(f"{r[v]:>12.2%}" if v in r else f"{'-':>12}" for v in VARIANTS)
        print(f"{r['run'][-32:]:32}{r['dataset']:15}{cells}  {r['saved_default']}")
    for dataset, acc in doc["ensembles"].items():
        print(f"ensemble of {runs_per_dataset[dataset]} {dataset} runs: {acc:.2%}")


if __name__ == "__main__":
    sys.exit(main())
