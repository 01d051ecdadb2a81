"""The training images nearest to an image, as the model sees them (its penultimate layer).

"Nearest" is the cosine distance between the penultimate-layer activations
(Model.predict_features), reduced by PCA to DIMS components fitted on the indexed images:
what the last layer reads, so images the model finds alike, whatever their pixels. The
index holds the first INDEX_IMAGES images of the dataset's official training file (fewer
for a run trained on fewer, `--train-limit`), built once per run and kept in
RUN_DIR/explain/index.safetensors as float16 (about 1.3 MB; the images themselves are read
from the dataset, by their index in that file).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnistlab import runs
from mnistlab.explanation import store
from mnistlab.models.model import Model

INDEX_IMAGES = 10_000  # enough that 6 neighbours share the label of ~99% of right answers
DIMS = 64  # PCA components kept: as good a neighbour as all of them (docs/explaining.md)
FILE = "index.safetensors"
log = logging.getLogger("mnistlab.explanation")


class Neighbor(NamedTuple):
    index: int  # in the dataset's official training file
    label: int
    distance: float  # cosine distance, 0 (same direction) to 2


@dataclass
class Projection:
    """Features (N, D) → unit vectors (N, DIMS): normalized, centred, PCA, normalized again."""

    mean: np.ndarray  # (D,) float32
    components: np.ndarray  # (D, DIMS) float32

    @classmethod
    def fit(cls, features: np.ndarray, dims: int = DIMS) -> Projection:
        return cls(*principal_axes(_unit(features), dims))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return _unit((_unit(features) - self.mean) @ self.components)


def principal_axes(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean (D,) of rows x (N, D) and their k leading principal directions (D, k), both
    float32, from the D×D covariance (milliseconds, where an SVD of x takes seconds)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))  # ascending
    axes = vectors[:, ::-1][:, :k] * np.where(vectors[:, ::-1][:1, :k] < 0, -1, 1)  # one sign
    return mean.astype(np.float32), np.ascontiguousarray(axes, dtype=np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class NeighborIndex:
    projection: Projection
    vectors: np.ndarray  # (M, DIMS) float16 unit vectors of the indexed training images
    labels: np.ndarray  # (M,) int64
    indices: np.ndarray  # (M,) int64, positions in the dataset's official training file
    dataset: str
    model: Model | None = None  # to read features from images

    def features(self, images: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ValueError("this index was loaded without its model: pass features")
        return self.model.predict_features(images)[1]

    def nearest(self, images_or_features: np.ndarray, k: int = 6) -> list[list[Neighbor]]:
        """For each query, its k nearest indexed training images, nearest first. Queries are
        images (N, 28, 28) or penultimate features (N, D)."""
        q = np.asarray(images_or_features)
        q = self.projection(self.features(q) if q.ndim == 3 else q)
        distance = 1.0 - q @ self.vectors.astype(np.float32).T  # cosine: unit vectors
        k = min(k, len(self.labels))
        order = np.argsort(distance, axis=1, kind="stable")[:, :k]
        ids, labels = self.indices, self.labels
        return [[Neighbor(int(ids[j]), int(labels[j]), max(float(row[j]), 0.0)) for j in nearest]
                for row, nearest in zip(distance, order, strict=True)]  # fmt: skip

    def image(self, i: int) -> np.ndarray:
        """Training image `i` of the dataset's official file, uint8 (28, 28)."""
        return store.official(self.dataset).train_images[i]


def neighbor_index(run_dir: str | Path, model: Model | None = None) -> NeighborIndex:
    """The run's index, from RUN_DIR/explain/index.safetensors, built (and kept) on first use,
    or when the file is damaged or from other weights; `model` saves loading it again."""
    config = runs.load_config(run_dir)
    dataset = config["dataset"]
    kept = store.load(run_dir, FILE)
    shapes = {"mean": "D", "components": "D,K", "vectors": "M,K", "labels": "M", "indices": "M"}
    if kept is not None and store.require(kept[0], shapes, store.path(run_dir, FILE)):
        a = kept[0]
        return NeighborIndex(Projection(a["mean"], a["components"]), a["vectors"],
                             a["labels"], a["indices"], dataset, model)  # fmt: skip
    model = model if model is not None else runs.load_model(run_dir)
    data = store.official(dataset)
    images, labels = data.train_images, data.train_labels
    limit = min(INDEX_IMAGES, config.get("train_limit") or INDEX_IMAGES, len(labels))
    indices = np.arange(limit, dtype=np.int64)
    log.info("indexing %d training images of %s for explanations", len(indices), run_dir)
    features = model.predict_features(images[indices])[1]
    projection = Projection.fit(features)
    index = NeighborIndex(projection, projection(features).astype(np.float16),
                          labels[indices].astype(np.int64), indices, dataset, model)  # fmt: skip
    store.save(run_dir, FILE, {"mean": projection.mean, "components": projection.components,
                               "vectors": index.vectors, "labels": index.labels,
                               "indices": indices}, {"dataset": dataset})  # fmt: skip
    return index
