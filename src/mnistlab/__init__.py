"""mnistlab: train, understand and use image classifiers on MNIST-style data.

The layers are folders: data → models → runs (the run folder) → evaluation → training →
prediction → serve → cli (ARCHITECTURE.md). The names below are the Python API.
"""

import importlib

from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import MnistlabError

# Training imports torch, prediction Pillow and scipy: they load on first use, so that
# `mnistlab data ...` stays fast.
_LAZY = {
    "train": "mnistlab.training.run", "TrainConfig": "mnistlab.training.run",
    "Run": "mnistlab.training.run",
    "evaluate_run": "mnistlab.evaluation.evaluate", "write_report": "mnistlab.evaluation.report",
    "Classifier": "mnistlab.prediction.classifier", "Prediction": "mnistlab.prediction.classifier",
    "export_run": "mnistlab.prediction.export",
}  # fmt: skip
__all__ = ["Dataset", "MnistlabError", "load_dataset", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
