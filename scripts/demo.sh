#!/usr/bin/env bash
# The main job on real data: fetch and verify both datasets, show them.
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
