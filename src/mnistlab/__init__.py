"""mnistlab: train, understand and use image classifiers on MNIST-style data."""

from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import MnistlabError

__all__ = [
    "Classifier", "Dataset", "MnistlabError", "Prediction", "Run", "TrainConfig", "load_dataset",
    "train",
]  # fmt: skip
__version__ = "0.1.0"


def __getattr__(name: str):
    # Training imports torch: load it on first use so `mnistlab data ...` stays fast.
    # `mnistlab.train` is the (callable) module mnistlab/train.py: train(config) works.
    if name in ("train", "TrainConfig", "Run"):
        import importlib

        module = importlib.import_module("mnistlab.train")
        return module if name == "train" else getattr(module, name)
    if name in ("Classifier", "Prediction"):  # prediction imports Pillow, scipy and the models
        from mnistlab import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
