"""`mnistlab calibrate RUN`: fit a run's temperature on images it did not train on, and write
calibration.json (and the test split's figures into metrics.json).

Training does the temperature itself at its end (training/run.py); this calibrates a run
trained before that, or again. The images: the run's validation split, else its calibration
split (config.json's calibration_size), else, for a run that held nothing out, the test
split, said in a warning, since the test figures then flatter the fit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mnistlab import runs
from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.models import calibration

log = logging.getLogger("mnistlab.prediction.calibrate")


def held_out(config: dict, data_dir: str | None = None) -> tuple[Dataset, str]:
    """The images this run did not train on, and what they are: "val", "calibration", "test"."""
    name, seed = config["dataset"], int(config.get("seed", 0))
    size = int(config.get("val_size", 0)) or int(config.get("calibration_size", 0))
    try:
        if size:
            split = "val" if config.get("val_size") else "calibration"
            return load_dataset(name, "val", val_size=size, seed=seed, data_dir=data_dir), split
        return load_dataset(name, "test", data_dir=data_dir), "test"
    except MnistlabError as e:
        raise MnistlabError(f"cannot calibrate: dataset {name!r} is not available ({e})") from None


def calibrate_run(run_dir: str | Path, data_dir: str | None = None) -> dict:
    """Fit and write the run's calibration; returns calibration.json's content."""
    run_dir = Path(run_dir)
    config, model = runs.load_config(run_dir), runs.load_model(run_dir)
    images, where = held_out(config, data_dir)
    if where == "test":
        log.warning("%s held no images out (trained before calibration splits, with "
                    "val_size 0): fitting on the test split, whose figures then flatter the fit",
                    run_dir)  # fmt: skip
    fitted = calibration.fitted(model.predict_proba(images.images), images.labels, where)
    runs.write_calibration(run_dir, fitted)
    test = images if where == "test" else load_dataset(config["dataset"], "test", data_dir=data_dir)
    proba = model.predict_proba(test.images)
    if runs.load_metrics(run_dir) is not None:
        summary = calibration.summary(proba, test.labels, fitted["temperature"])
        runs.write_metrics(run_dir, {"calibration": summary})
    return fitted
