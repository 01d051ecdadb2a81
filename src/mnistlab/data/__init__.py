"""Datasets: IDX files, verified sources, and splits ready for a model."""

from mnistlab.data.datasets import DATASETS, DatasetSpec, get_spec
from mnistlab.data.load import Dataset, load_dataset, load_official

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "get_spec", "load_dataset", "load_official"]
