"""The test set as the model sees it, on a 2-D map, and where a new image lands on it.

The map is the first two principal components of MAP_IMAGES test images' penultimate
features, in the neighbour index's space (mnistlab.explanation.neighbors): a linear map, so
a new image is placed exactly (its features times the same two axes), in microseconds, and
building it costs the features alone. UMAP draws the classes as cleaner islands, but its
numba code compiles for seconds in every process that fits one, which `evaluate`, `serve`'s
start and the tests would pay (docs/explaining.md has both measured); t-SNE cannot place a
new point. Kept in RUN_DIR/explain/map.safetensors (about 70 KB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab import runs
from mnistlab.explanation import store
from mnistlab.explanation.neighbors import (
    NeighborIndex,
    Projection,
    neighbor_index,
    principal_axes,
)
from mnistlab.models.model import Model

MAP_IMAGES = 10_000  # the whole test set (MNIST's and Fashion-MNIST's)
FILE = "map.safetensors"
log = logging.getLogger("mnistlab.explanation")


@dataclass
class DataMap:
    points: np.ndarray  # (M, 2) float32
    labels: np.ndarray  # (M,) int64, the true labels
    predicted: np.ndarray  # (M,) int64, the model's answers
    indices: np.ndarray  # (M,) positions in the test set
    center: np.ndarray  # (DIMS,) float32: the mean of the points' vectors
    axes: np.ndarray  # (DIMS, 2) float32: the two principal directions
    projection: Projection  # the neighbour index's: features → its unit vectors
    model: Model | None = None

    def place(self, images: np.ndarray) -> np.ndarray:
        """Where images (N, 28, 28) land on the map, float32 (N, 2)."""
        if self.model is None:
            raise ValueError("this map was loaded without its model: use place_features")
        return self.place_features(self.model.predict_features(images)[1])

    def place_features(self, features: np.ndarray) -> np.ndarray:
        """Where images with these penultimate features (N, D) land, float32 (N, 2)."""
        return ((self.projection(features) - self.center) @ self.axes).astype(np.float32)

    def to_dict(self, classes: tuple[str, ...] | list[str]) -> dict:
        """`GET /api/map`: the points (x, y rounded), their labels and the model's answers."""
        return {"method": "pca", "classes": list(classes),
                "x": np.round(self.points[:, 0].astype(np.float64), 4).tolist(),
                "y": np.round(self.points[:, 1].astype(np.float64), 4).tolist(),
                "labels": self.labels.tolist(), "predicted": self.predicted.tolist(),
                "test_index": self.indices.tolist()}  # fmt: skip


def data_map(run_dir: str | Path, model: Model | None = None,
             index: NeighborIndex | None = None) -> DataMap:  # fmt: skip
    """The run's map, from RUN_DIR/explain/map.safetensors, built (and kept) on first use, or
    when the file is damaged or from other weights; `index` (the run's) saves reading it."""
    index = index if index is not None else neighbor_index(run_dir, model)
    model = model if model is not None else index.model
    kept = store.load(run_dir, FILE)
    k = str(index.vectors.shape[1])  # the index's space, which the map's axes live in
    shapes = {"points": "M,2", "labels": "M", "predicted": "M", "indices": "M", "center": k,
              "axes": f"{k},2"}  # fmt: skip
    names = tuple(shapes)
    if kept is not None and store.require(kept[0], shapes, store.path(run_dir, FILE)):
        a = kept[0]
        return DataMap(*(a[n] for n in names), index.projection, model)
    model = model if model is not None else runs.load_model(run_dir)
    data = store.official(index.dataset)
    indices = np.arange(min(MAP_IMAGES, len(data.test_labels)), dtype=np.int64)
    log.info("mapping %d test images of %s for explanations", len(indices), run_dir)
    proba, features, _ = model.predict_features(data.test_images[indices])
    vectors = index.projection(features)
    center, axes = principal_axes(vectors, 2)
    found = DataMap((vectors - center) @ axes, data.test_labels[indices].astype(np.int64),
                    proba.argmax(axis=1).astype(np.int64), indices, center, axes,
                    index.projection, model)  # fmt: skip
    store.save(run_dir, FILE, {n: getattr(found, n) for n in names}, {"method": "pca"})
    return found
