"""`mnistlab calibrate`: the temperature (and reject rule) of a run trained before they were."""

from __future__ import annotations

from typing import Annotated

import typer

from mnistlab.cli.common import DataDir, JsonFlag, RunDir, app, console, print_json

WHERE = {"val": "validation", "calibration": "held-out calibration", "test": "test"}


@app.command("calibrate")
def calibrate_cmd(
    run_dir: RunDir,
    accept: Annotated[float | None, typer.Option(min=0.5, max=1.0, help=(
        "The share of held-out images the reject rule keeps (default: training's, 0.99): "
        "higher refuses fewer real digits and lets more non-digits through."))] = None,
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:  # fmt: skip
    """Fit RUN_DIR's temperature and reject rule on images it did not train on
    (calibration.json); training does this itself, so this is for runs trained before it,
    to fit again, or to move the rule's threshold (--accept)."""
    from mnistlab import runs
    from mnistlab.prediction.calibrate import calibrate_run

    fitted = calibrate_run(run_dir, str(data_dir) if data_dir else None, accept=accept)
    test = (runs.load_metrics(run_dir) or {}).get("calibration")
    if json_out:
        print_json({"calibration": fitted, "test": test})
        return
    console.print(f"temperature {fitted['temperature']:.3f}, fitted on {fitted['images']:,} "
              f"{WHERE[fitted['fitted_on']]} images")  # fmt: skip
    if test:
        console.print(f"test split: NLL {test['nll_before']:.4f} → {test['nll']:.4f}, "
                  f"ECE {test['ece_before']:.4f} → {test['ece']:.4f}")  # fmt: skip
