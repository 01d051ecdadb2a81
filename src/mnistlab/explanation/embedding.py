"""The test set as the model sees it, on a 2-D map, and where a new image lands on it.

The map is UMAP (McInnes et al. 2018, umap-learn) of MAP_IMAGES test images' penultimate
features, in the neighbour index's PCA space (mnistlab.explanation.neighbors): it keeps
each class an island and confusable classes side by side, where a 2-D PCA of the same
features piles the classes on each other (docs/explaining.md has both measured). t-SNE draws
similar maps but cannot place a new point. A new image is placed as UMAP's own `transform`
starts: at the similarity-weighted mean of its PLACE_K nearest map points' positions,
computed from arrays alone, so the map file holds no pickled model and placing a point needs
neither umap nor numba. Kept in RUN_DIR/explain/map.safetensors (about 0.3 MB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab import runs
from mnistlab.explanation import store
from mnistlab.explanation.neighbors import NeighborIndex, Projection, neighbor_index
from mnistlab.models.model import Model

MAP_IMAGES = 2_000  # the first test images: a readable scatter, a UMAP fit of seconds
PLACE_K = 10  # map points a new image's place is averaged from
FILE = "map.safetensors"
SEED = 0
log = logging.getLogger("mnistlab.explanation")


@dataclass
class DataMap:
    points: np.ndarray  # (M, 2) float32
    labels: np.ndarray  # (M,) int64, the true labels
    predicted: np.ndarray  # (M,) int64, the model's answers
    indices: np.ndarray  # (M,) positions in the test set
    vectors: np.ndarray  # (M, DIMS) float16, the points' features in the index's space
    projection: Projection
    model: Model | None = None

    def place(self, images: np.ndarray) -> np.ndarray:
        """Where images (N, 28, 28) land on the map, float32 (N, 2)."""
        if self.model is None:
            raise ValueError("this map was loaded without its model: use place_features")
        return self.place_features(self.model.predict_features(images)[1])

    def place_features(self, features: np.ndarray) -> np.ndarray:
        """Where images with these penultimate features (N, D) land, float32 (N, 2)."""
        similarity = self.projection(features) @ self.vectors.astype(np.float32).T
        k = min(PLACE_K, len(self.points))
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 1e-3)
        weights /= weights.sum(axis=1, keepdims=True)
        return (weights[:, :, None] * self.points[nearest]).sum(axis=1).astype(np.float32)

    def to_dict(self, classes: tuple[str, ...] | list[str]) -> dict:
        """`GET /api/map`: the points (x, y rounded), their labels and the model's answers."""
        return {"method": "umap", "classes": list(classes),
                "x": np.round(self.points[:, 0], 3).tolist(),
                "y": np.round(self.points[:, 1], 3).tolist(),
                "labels": self.labels.tolist(), "predicted": self.predicted.tolist(),
                "test_index": self.indices.tolist()}  # fmt: skip


def data_map(run_dir: str | Path, model: Model | None = None,
             index: NeighborIndex | None = None) -> DataMap:  # fmt: skip
    """The run's map, from RUN_DIR/explain/map.safetensors, built (and kept) on first use, or
    when the file is damaged or from other weights."""
    index = index if index is not None else neighbor_index(run_dir, model)
    model = model if model is not None else index.model
    kept = store.load(run_dir, FILE)
    names = ("points", "labels", "predicted", "indices", "vectors")
    if kept is not None and store.require(kept[0], names, store.path(run_dir, FILE)):
        a = kept[0]
        return DataMap(a["points"], a["labels"], a["predicted"], a["indices"], a["vectors"],
                       index.projection, model)  # fmt: skip
    model = model if model is not None else runs.load_model(run_dir)
    data = store.official(index.dataset)
    images, labels = data.test_images, data.test_labels
    indices = np.arange(min(MAP_IMAGES, len(labels)), dtype=np.int64)
    log.info("mapping %d test images of %s for explanations", len(indices), run_dir)
    proba, features, _ = model.predict_features(images[indices])
    vectors = index.projection(features)
    found = DataMap(_umap(vectors), labels[indices].astype(np.int64),
                    proba.argmax(axis=1).astype(np.int64), indices, vectors.astype(np.float16),
                    index.projection, model)  # fmt: skip
    store.save(run_dir, FILE, {"points": found.points, "labels": found.labels,
                               "predicted": found.predicted, "indices": indices,
                               "vectors": found.vectors}, {"method": "umap"})  # fmt: skip
    return found


def _umap(vectors: np.ndarray) -> np.ndarray:
    """UMAP's 2-D layout of unit vectors under the cosine metric, seeded (one thread then)."""
    import warnings

    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state"
        warnings.simplefilter("ignore", UserWarning)
        import umap

        reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=SEED)
        return reducer.fit_transform(vectors).astype(np.float32)
