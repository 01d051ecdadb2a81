"""`mnistlab calibrate`: the temperature (and reject rule) of a run trained before they were."""

from __future__ import annotations

from mnistlab.cli.common import DataDir, JsonFlag, RunDir, app, console, print_json

WHERE = {"val": "validation", "calibration": "held-out calibration", "test": "test"}


@app.command("calibrate")
def calibrate_cmd(run_dir: RunDir, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Fit RUN_DIR's temperature on images it did not train on (calibration.json); training
    does this itself, so this is for runs trained before it, or to fit again."""
    from mnistlab import runs
    from mnistlab.prediction.calibrate import calibrate_run

    fitted = calibrate_run(run_dir, str(data_dir) if data_dir else None)
    test = (runs.load_metrics(run_dir) or {}).get("calibration")
    if json_out:
        print_json({"calibration": fitted, "test": test})
        return
    console.print(f"temperature {fitted['temperature']:.3f}, fitted on {fitted['images']:,} "
              f"{WHERE[fitted['fitted_on']]} images")  # fmt: skip
    if test:
        console.print(f"test split: NLL {test['nll_before']:.4f} → {test['nll']:.4f}, "
                  f"ECE {test['ece_before']:.4f} → {test['ece']:.4f}")  # fmt: skip
