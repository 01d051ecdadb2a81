"""mnistlab: train, understand and use image classifiers on MNIST-style data."""

from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import MnistlabError

__all__ = ["Dataset", "MnistlabError", "load_dataset"]
__version__ = "0.1.0"
