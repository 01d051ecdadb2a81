"""mnistlab: train, understand and use image classifiers on MNIST-style data."""

from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import MnistlabError

__all__ = [
    "Classifier", "Dataset", "MnistlabError", "Prediction", "Run", "TrainConfig", "load_dataset",
    "train",
]  # fmt: skip
__version__ = "0.1.0"


def __getattr__(name: str):
    # Training imports torch, prediction Pillow and scipy: load them on first use, so that
    # `mnistlab data ...` stays fast. train() lives in mnistlab.training.
    if name in ("train", "TrainConfig", "Run"):
        from mnistlab import training

        return getattr(training, name)
    if name in ("Classifier", "Prediction"):
        from mnistlab import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
