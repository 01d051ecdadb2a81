"""One image's explanation: the answer, and why (`explain_image` → `Explanation`).

Everything is computed from the image the answer was computed from (the classifier's
`prepare`), with the same calibrated probabilities (its `outputs` and temperature): the
attribution of the top class and of the runner-up, every layer's response, the nearest
training images, the image's place on the map of the test set. `Explanation.to_dict()` is
both `mnistlab explain --json`'s object and `POST /api/explain`'s answer.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from mnistlab.explanation.activations import LayerMaps, layer_maps
from mnistlab.explanation.attribution import attribute
from mnistlab.explanation.embedding import DataMap, data_map
from mnistlab.explanation.neighbors import Neighbor, NeighborIndex, neighbor_index

NEIGHBORS = 6
DECIMALS = 5  # attribution values in JSON: 1e-5 of a log-probability is below what shows


class ClassifierLike(Protocol):
    """What explain_image needs of mnistlab.prediction.Classifier (which it may not import):
    a torch or NumPy `model` (gradients), the run, and the classifier's own answer."""

    model: Any
    temperature: float
    classes: tuple[str, ...]
    run_dir: Any

    def prepare(self, image: Any) -> tuple[np.ndarray, Any]: ...
    def outputs(self, arrays: np.ndarray) -> np.ndarray: ...
    def prediction(self, row: np.ndarray, ink: Any = None, file: str | None = None) -> Any: ...


@dataclass
class Explanation:
    prediction: dict  # label, name, probabilities (calibrated), accepted, reason
    image: np.ndarray  # uint8 (28, 28): what the model saw
    classes: tuple[str, ...]
    attribution: dict[int, np.ndarray]  # class → float32 (28, 28); the top class first
    layers: list[LayerMaps]
    neighbors: list[Neighbor]
    neighbor_images: list[np.ndarray]  # uint8 (28, 28), one per neighbour
    map_point: tuple[float, float]

    def to_dict(self) -> dict:
        """The JSON object: the prediction's fields, the preprocessed image, `attribution`,
        `layers`, `neighbors` and `map` (ARCHITECTURE.md, HTTP contract)."""
        p = self.prediction
        return {
            **{k: p[k] for k in ("label", "name", "probabilities", "accepted", "reason")},
            "preprocessed": png_url(self.image),
            "attribution": [
                {
                    "label": c,
                    "name": self.classes[c],
                    "probability": p["probabilities"][c],
                    "total": float(a.sum()),
                    "values": np.round(a, DECIMALS).tolist(),
                }
                for c, a in self.attribution.items()
            ],
            "layers": [_layer_dict(layer) for layer in self.layers],
            "neighbors": [
                {
                    "index": n.index,
                    "label": n.label,
                    "name": self.classes[n.label],
                    "distance": round(n.distance, DECIMALS),
                    "image": png_url(image),
                }
                for n, image in zip(self.neighbors, self.neighbor_images, strict=True)
            ],
            "map": {"x": self.map_point[0], "y": self.map_point[1]},
        }


def explain_image(
    classifier: ClassifierLike,
    image: Any,
    prepared: bool = False,
    index: NeighborIndex | None = None,
    places: DataMap | None = None,
) -> Explanation:
    """Explain one image (a path, bytes, PIL image or array as a person hands it over; with
    `prepared`, a model-ready uint8 (28, 28)) with the classifier's run. `index` and
    `places` (the run's neighbour index and map) are loaded, or built, when not given."""
    if prepared:
        ready, ink = np.asarray(image, np.uint8), None
    else:
        ready, ink = classifier.prepare(image)
    answer = classifier.prediction(classifier.outputs(ready[None])[0], ink).to_dict()
    model = classifier.model
    index = index if index is not None else neighbor_index(classifier.run_dir, model)
    places = places if places is not None else data_map(classifier.run_dir, model, index)
    order = np.argsort(answer["probabilities"])[::-1][:2]  # the top class and the runner-up
    found = attribute(model, np.stack([ready, ready]), order, classifier.temperature)
    features = model.predict_features(ready[None])[1]
    neighbors = index.nearest(features, NEIGHBORS)[0]
    x, y = places.place_features(features)[0]
    return Explanation(
        prediction=answer,
        image=ready,
        classes=tuple(classifier.classes),
        attribution={int(c): a for c, a in zip(order, found, strict=True)},
        layers=layer_maps(model, ready),
        neighbors=neighbors,
        neighbor_images=[index.image(n.index) for n in neighbors],
        map_point=(float(x), float(y)),
    )


def _layer_dict(layer: LayerMaps) -> dict:
    """A layer's JSON: a convolution's shown maps as PNG data URLs (their positive part, the
    layer's brightest pixel white), a dense layer's unit values."""
    strength = [round(s, DECIMALS) for s in layer.strength]
    out = {"name": layer.name, "kind": layer.kind, "shape": layer.shape,
           "channels": layer.channels, "strength": strength}  # fmt: skip
    if layer.kind == "conv":
        out["maps"] = [png_url(m) for m in to_uint8(layer.maps)]
    return out


def to_uint8(maps: np.ndarray) -> np.ndarray:
    """Feature maps' positive part (what a ReLU passes) as uint8, on one scale per layer."""
    positive = np.maximum(np.asarray(maps, np.float32), 0)
    top = float(positive.max()) if positive.size else 0.0
    return (positive / top * 255 + 0.5).astype(np.uint8) if top > 0 else positive.astype(np.uint8)


def png_url(image: np.ndarray) -> str:
    """A uint8 grayscale array as a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
