#!/usr/bin/env bash
# The main job on real data: fetch and verify both datasets, show them, train the
# quickest trustworthy model on MNIST, evaluate it and print its report's path.
set -euo pipefail
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-runs}
mnistlab() { "$PY" -m mnistlab "$@"; }
mkdir -p "$RUNS"

for ds in mnist fashion-mnist; do
  mnistlab data fetch "$ds"
  mnistlab data info "$ds"
  mnistlab data show "$ds" --out "$RUNS/$ds-samples.png"
done

run="$RUNS/demo-mnist-fast"
rm -rf "$run"
mnistlab train --dataset mnist --model fast --out "$run"
mnistlab evaluate "$run" > /dev/null
echo "test accuracy: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$run/metrics.json")"
echo "report: $run/report.html"
