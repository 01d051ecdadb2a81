"""Real MNIST and Fashion-MNIST, verified against the published checksums."""

import numpy as np
import pytest

from mnistlab.data import get_spec, load_dataset, load_official
from mnistlab.data.info import dataset_info
from mnistlab.errors import MnistlabError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_official_splits(name):
    data = load_official(name)
    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10000, 28, 28)
    assert data.train_labels.dtype == np.int64 and len(data.test_labels) == 10000


def test_mnist_known_facts():
    train = load_dataset("mnist", "train", val_size=0)
    test = load_dataset("mnist", "test")
    assert train.labels[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert test.labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    assert np.bincount(train.labels).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(test.labels).tolist() == MNIST_TEST_COUNTS
    assert train.images.mean() == pytest.approx(33.318, abs=1e-3)
    assert train.classes == tuple("0123456789")


def test_fashion_known_facts():
    train = load_dataset("fashion-mnist", "train", val_size=0)
    test = load_dataset("fashion-mnist", "test")
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.labels[:8].tolist() == [9, 0, 0, 3, 0, 2, 7, 2]
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"


def test_validation_split_is_seeded_and_disjoint():
    train = load_dataset("mnist", "train", val_size=5000, seed=1)
    val = load_dataset("mnist", "val", val_size=5000, seed=1)
    assert len(train) == 55000 and len(val) == 5000
    again = load_dataset("mnist", "val", val_size=5000, seed=1)
    np.testing.assert_array_equal(val.images, again.images)
    other = load_dataset("mnist", "val", val_size=5000, seed=2)
    assert not np.array_equal(val.labels, other.labels)
    pixels = {img.tobytes() for img in val.images[:500]}
    assert not pixels & {img.tobytes() for img in train.images}
    assert len(load_dataset("mnist", "val", val_size=0)) == 0


def test_bad_split_and_sizes():
    with pytest.raises(MnistlabError, match="unknown split"):
        load_dataset("mnist", "dev")
    with pytest.raises(MnistlabError, match="validation size"):
        load_dataset("mnist", "train", val_size=60000)
    with pytest.raises(MnistlabError, match="unknown dataset 'kmnist'"):
        load_dataset("kmnist")


def test_info():
    info = dataset_info("mnist")
    assert (info["train"], info["test"], info["verified"]) == (60000, 10000, True)
    assert info["class_counts"]["test"] == MNIST_TEST_COUNTS
    assert info["pixel_mean"] == pytest.approx(0.1307, abs=1e-4)
    assert info["pixel_std"] == pytest.approx(0.3081, abs=1e-4)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_registry_pixel_statistics_match_the_training_images(name):
    # `mnistlab summary` fills the Normalize layer from these constants instead of the data.
    from mnistlab.models import pixel_stats

    spec = get_spec(name)
    stats = pixel_stats(load_official(name).train_images)
    assert spec.pixel_mean == pytest.approx(stats["mean"], abs=1e-6)
    assert spec.pixel_std == pytest.approx(stats["std"], abs=1e-6)
