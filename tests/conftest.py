"""Fixtures shared by the test modules."""

import dataclasses
import sys

import pytest


@pytest.fixture
def small_test_split(monkeypatch):
    """Make train() and evaluate score a run on the first `n` test images, not all 10,000.

    For tests of `best`, whose test pass is most of a short run's cost (with Fashion-MNIST's
    10-view averaging, 100,000 forward passes: about 4 minutes on a 2-core AVX2 CPU). What is
    tested is the run's mechanics, not the accuracy on the whole test set.
    """
    import mnistlab.data

    train_module = sys.modules["mnistlab.training"]
    load = mnistlab.data.load_dataset

    def limit(n: int) -> None:
        def load_dataset(name: str, split: str = "train", **kwargs):
            ds = load(name, split, **kwargs)
            if split != "test":
                return ds
            return dataclasses.replace(ds, images=ds.images[:n], labels=ds.labels[:n])

        monkeypatch.setattr(train_module, "load_dataset", load_dataset)
        monkeypatch.setattr(mnistlab.data, "load_dataset", load_dataset)  # evaluate's import

    return limit
