"""Load a dataset split as uint8 images and int64 labels, with a seeded validation split."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from mnistlab.data import idx
from mnistlab.data.datasets import FILES, DatasetSpec, get_spec
from mnistlab.data.sources import Fetcher
from mnistlab.errors import MnistlabError

SPLITS = ("train", "val", "test")
DEFAULT_VAL_SIZE = 5000
IMAGE_SIDE = 28  # pixels; both datasets' images are IMAGE_SIDE × IMAGE_SIDE


@dataclass(frozen=True)
class Dataset:
    """One split: images (N, 28, 28) uint8, labels (N,) int64, and the class names."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Official:
    """The two official splits of a dataset, verified, plus where each file came from."""

    spec: DatasetSpec
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    origins: dict[str, str]


def _images_and_labels(spec: DatasetSpec, images: bytes, labels: bytes, split: str):
    image_file, label_file = FILES[f"{split}-images"], FILES[f"{split}-labels"]
    x = idx.parse(images, image_file, ndim=3)
    y = idx.parse(labels, label_file, ndim=1)
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise MnistlabError(f"{spec.name}: {split} files must hold uint8 values")
    if len(x) != len(y):
        raise MnistlabError(
            f"{spec.name}: {image_file} has {len(x)} images but {label_file} has {len(y)} labels"
        )
    if len(y) and y.max() >= len(spec.classes):
        raise MnistlabError(
            f"{label_file}: label {int(y.max())} is outside the {len(spec.classes)} classes "
            f"of {spec.name}"
        )
    x.flags.writeable = False
    y = y.astype(np.int64)
    y.flags.writeable = False
    return x, y


@functools.lru_cache(maxsize=4)
def _official(name: str, data_dir: str | None) -> Official:
    spec = get_spec(name)
    fetcher = Fetcher(spec, data_dir)
    try:
        raw, origins = {}, {}
        for role, file in FILES.items():
            raw[role], origins[file] = fetcher.get(file)
    finally:
        fetcher.close()
    train = _images_and_labels(spec, raw["train-images"], raw["train-labels"], "train")
    test = _images_and_labels(spec, raw["test-images"], raw["test-labels"], "test")
    return Official(spec, *train, *test, origins)


def load_official(name: str, data_dir: str | os.PathLike | None = None) -> Official:
    """Both official splits, fetched and verified once per process."""
    return _official(name, str(data_dir) if data_dir else os.environ.get("MNISTLAB_DATA_DIR"))


def val_indices(n_train: int, val_size: int, seed: int) -> np.ndarray:
    """Sorted indices of the validation images carved from the official train split."""
    if not 0 <= val_size < n_train:
        raise MnistlabError(f"validation size must be between 0 and {n_train - 1}, got {val_size}")
    perm = np.random.default_rng(seed).permutation(n_train)
    return np.sort(perm[:val_size])


def load_dataset(
    name: str = "mnist",
    split: str = "train",
    val_size: int = DEFAULT_VAL_SIZE,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load one split. "train" excludes the `val_size` images that "val" holds (seeded)."""
    if split not in SPLITS:
        raise MnistlabError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    data = load_official(name, data_dir)
    classes = data.spec.classes
    if split == "test":
        return Dataset(name, split, data.test_images, data.test_labels, classes)
    held_out = val_indices(len(data.train_labels), val_size, seed)
    if split == "val":
        chosen = held_out
    else:
        keep = np.ones(len(data.train_labels), dtype=bool)
        keep[held_out] = False
        chosen = np.flatnonzero(keep)
    if len(chosen) == len(data.train_labels):
        return Dataset(name, split, data.train_images, data.train_labels, classes)
    return Dataset(name, split, data.train_images[chosen], data.train_labels[chosen], classes)
