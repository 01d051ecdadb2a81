"""Facts about a dataset for `mnistlab data info` and `data list`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mnistlab.data import sources
from mnistlab.data.datasets import FILES, get_spec
from mnistlab.data.load import load_official


def dataset_info(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """Counts, class balance and pixel statistics of the official splits, all verified."""
    data = load_official(name, data_dir)
    spec = data.spec
    pixels = data.train_images.reshape(-1)
    mean = float(pixels.mean(dtype=np.float64)) / 255
    std = float(pixels.std(dtype=np.float64)) / 255
    counts = lambda y: np.bincount(y, minlength=len(spec.classes)).tolist()  # noqa: E731
    return {
        "name": spec.name,
        "train": int(len(data.train_labels)),
        "test": int(len(data.test_labels)),
        "image_shape": list(data.train_images.shape[1:]),
        "classes": list(spec.classes),
        "class_counts": {"train": counts(data.train_labels), "test": counts(data.test_labels)},
        "pixel_mean": round(mean, 6),
        "pixel_std": round(std, 6),
        "verified": True,
        "path": str(sources.cache_dir(spec)),
        "sources": data.origins,
    }


def cache_status(name: str) -> dict:
    """Whether each file is in the cache and matches its checksum, without fetching."""
    spec = get_spec(name)
    folder = sources.cache_dir(spec)
    present = verified = 0
    for file in FILES.values():
        path = Path(folder) / file
        if path.is_file():
            present += 1
            verified += sources.sha256(path.read_bytes()) == spec.sha256[file]
    return {
        "name": spec.name,
        "classes": len(spec.classes),
        "cached": present == len(FILES),
        "verified": verified == len(FILES),
        "path": str(folder),
    }
