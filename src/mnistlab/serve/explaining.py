"""POST /api/explain and GET /api/map: why the run answered, for the page's Explain panel.

Explanations need gradients, so each worker loads the run's own torch (or NumPy) model for
them on the first request, beside the onnxruntime session that answers /api/predict, and
runs them one at a time on a thread of their own: an explanation never delays a prediction
batch, and /api/predict never computes one. The neighbour index and the map are read from
RUN_DIR/explain/, which `mnistlab serve` builds before any worker starts (server.py); an app
made without it builds them on the first request that needs them.
"""

import asyncio
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from pydantic import BaseModel, Field

from mnistlab.errors import MnistlabError


class AttributionOut(BaseModel):
    label: int
    name: str
    probability: float = Field(description="the class's calibrated probability")
    total: float = Field(description="the sum of the values: log p(image) - log p(blank)")
    values: list[list[float]] = Field(
        description="28x28 rows: how much each pixel raises (+) or lowers (-) the class's "
        "calibrated log-probability (Integrated Gradients from a blank image)"
    )


class LayerOut(BaseModel):
    name: str = Field(description='e.g. "conv 1: Conv2d(1 → 32, 5×5)"')
    kind: str = Field(description='"conv" or "dense"')
    shape: list[int] = Field(description="the layer's output for one image: [C, H, W] or [units]")
    channels: list[int] = Field(description="the channels or units shown, strongest first")
    strength: list[float] = Field(description="their mean positive response, or activation")
    maps: list[str] | None = Field(
        None, description="conv only: each channel's map as a PNG data URL (one scale per layer)"
    )


class NeighborOut(BaseModel):
    index: int = Field(description="position in the dataset's official training file")
    label: int
    name: str
    distance: float = Field(description="cosine distance of the penultimate features, 0..2")
    image: str = Field(description="the training image as a PNG data URL")


class MapPoint(BaseModel):
    x: float
    y: float


class ExplanationOut(BaseModel):
    label: int
    name: str
    probabilities: list[float] = Field(description="calibrated, as /api/predict gives them")
    accepted: bool
    reason: str | None
    preprocessed: str = Field(description="the 28x28 image the model saw, as a PNG data URL")
    attribution: list[AttributionOut] = Field(description="the top class, then the runner-up")
    layers: list[LayerOut]
    neighbors: list[NeighborOut] = Field(description="the 6 nearest training images")
    map: MapPoint = Field(description="the image's place on GET /api/map's map")
    run: str
    weights_sha256: str


class MapOut(BaseModel):
    method: str = Field(description='"pca": the penultimate features\' first two components')
    classes: list[str]
    x: list[float]
    y: list[float]
    labels: list[int] = Field(description="each point's true label")
    predicted: list[int] = Field(description="each point's answer by the model")
    test_index: list[int] = Field(description="each point's position in the test set")


class Explainer:
    """The torch (or NumPy) Classifier of the run with its index and map, loaded once, on
    first use, by whichever thread asks first."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None

    def load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._loaded is None:
                from mnistlab.explanation import data_map, neighbor_index
                from mnistlab.prediction.classifier import Classifier

                classifier = Classifier.load(self.run_dir, runtime="torch")
                index = neighbor_index(self.run_dir, classifier.model)
                self._loaded = classifier, index, data_map(self.run_dir, classifier.model, index)
            return self._loaded

    def explain(self, data: bytes) -> dict:
        from mnistlab.explanation import explain_image

        classifier, index, places = self.load()
        return explain_image(classifier, data, index=index, places=places).to_dict()

    def map(self) -> dict:
        classifier, _, places = self.load()
        return places.to_dict(classifier.classes)


def add_explain_routes(app: FastAPI, run_dir: str | Path, identity: dict, max_upload_bytes: int,
                       responses: dict, upload_help: str) -> None:  # fmt: skip
    """POST /api/explain (the same upload, limits and errors as /api/predict) and GET
    /api/map; both run on the app's explain thread (`app.state.explain_pool`)."""
    from mnistlab.serve.app import read_upload

    explainer = Explainer(run_dir)
    missing = ("; or the run's dataset is not on this machine (explanations show its images): "
               "`mnistlab data fetch` brings it")  # fmt: skip
    responses = {
        **responses,
        503: {**responses[503], "description": responses[503]["description"] + missing},
    }

    def loaded_then(call, *args):
        try:  # the index and the map first: without the dataset, the server cannot explain
            explainer.load()
        except MnistlabError as e:
            raise HTTPException(503, str(e)) from None
        return call(*args)

    async def on_explain_thread(request: Request, call, *args):
        pool = request.app.state.explain_pool
        return await asyncio.get_running_loop().run_in_executor(pool, loaded_then, call, *args)

    @app.post(
        "/api/explain",
        responses=responses,
        description="Explain the answer for one image (docs/explaining.md). The upload's "
        f"limits and errors are /api/predict's: not empty (400), at most {max_upload_bytes} "
        "bytes (413), other formats 415, unusable images 422.",
    )
    async def explain(
        request: Request, file: Annotated[UploadFile, File(description=upload_help)]
    ) -> ExplanationOut:
        data = await read_upload(file, max_upload_bytes)
        return ExplanationOut(**await on_explain_thread(request, explainer.explain, data),
                              **identity)  # fmt: skip

    @app.get("/api/map", responses={500: responses[500], 503: responses[503]})
    async def test_map(request: Request) -> MapOut:
        """The map of the test set that /api/explain places images on: one point per image
        (the whole test set), with its label and the model's answer."""
        return MapOut(**await on_explain_thread(request, explainer.map))
