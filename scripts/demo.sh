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
# `fast` (one epoch by default) for three epochs with 5,000 images held out, so the
# report's curves show training against validation; with outlier exposure, so that the
# reader refuses more of what is not a digit (docs/decisions/honest-answers.md).
mnistlab train --dataset mnist --model fast --epochs 3 --val-size 5000 --outlier-exposure 0.5 \
  --out "$run"
mnistlab evaluate "$run"  # per-class table, plots, report.html; its last line is the report's path

echo
echo "Next, in a new shell:"
printf '  %-58s # %s\n' \
  "source .venv/bin/activate" "puts mnistlab on the PATH" \
  "mnistlab predict --run $run my-digit.png" "your own photo, scan or drawing" \
  "mnistlab serve --run $run" "the draw-a-digit page: http://127.0.0.1:8000" \
  "mnistlab compare $RUNS/*/" "every run folder side by side"
