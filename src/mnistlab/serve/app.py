"""The web page and REST API over one trained run (HTTP contract: the repo's ARCHITECTURE.md).

One worker process (uvicorn runs N of them with `mnistlab serve --workers N`) loads the model
once. Each request reads its upload, preprocesses it on a thread of the pool (off the event
loop), and hands the 28x28 image to a MicroBatcher, which runs the images of concurrent
requests through the model in one call on the model's own thread, limited to one compute
thread: one image gains nothing from a second thread, and bf16 kernels called from a thread
other than the main one with two OpenMP threads were 5× slower on a 2-core Xeon with AMX
(docs/decisions/serving.md). Uploads over the limit are refused before they are parsed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from threadpoolctl import threadpool_limits

from mnistlab import __version__, runs
from mnistlab.errors import MnistlabError
from mnistlab.prediction.classifier import Classifier, ImageError
from mnistlab.prediction.export import ONNX_FILE
from mnistlab.prediction.images import ACCEPTED, png_bytes
from mnistlab.serve import browser_runtime, limits, site
from mnistlab.serve.batching import MicroBatcher
from mnistlab.serve.explaining import add_explain_routes
from mnistlab.serve.metrics import Metrics, RequestMetrics

STATIC = site.STATIC
log = logging.getLogger("mnistlab.serve")
# Preprocessing threads per worker: CPU work that holds the GIL much of the time, so more
# threads only queue for it, and one served the most requests (docs/decisions/serving.md).
# MNISTLAB_PREPARE_THREADS tries others.
PREPARE_THREADS = int(os.environ.get("MNISTLAB_PREPARE_THREADS", "1"))
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file itself

# ImageError.reason -> HTTP status: empty body, not an image, unusable image.
STATUS = {"empty": 400, "unreadable": 415}


class Health(BaseModel):
    status: str = "ok"


class Ready(BaseModel):
    status: str = Field("ready", description='"ready" once the model answered a warm-up')


class ModelInfo(BaseModel):
    dataset: str
    model: str
    classes: list[str]
    test_accuracy: float | None = Field(description="accuracy on the test split, 0..1")
    parameters: int
    preprocessing: str = Field(description='"digits" (MNIST) or "objects" (Fashion-MNIST)')
    epochs: int | None
    run: str
    weights_sha256: str = Field(description="sha256 of the run's model.safetensors")


class PredictionOut(BaseModel):
    label: int
    name: str
    probabilities: list[float] = Field(
        description="one per class, summing to 1, calibrated (the run's temperature)"
    )
    accepted: bool = Field(
        True, description="whether the reader takes the image for one of its classes"
    )
    reason: str | None = Field(
        None,
        description='why not, when not accepted: "too little ink: a dot or a short stroke", '
        '"not like any training image" or "unsure between 4 and 9"',
    )
    preprocessed: str = Field(description="the 28x28 image the model saw, as a PNG data URL")
    run: str = Field(description="the run folder's name: which model answered")
    weights_sha256: str = Field(description="sha256 of the weights that answered")


class ErrorOut(BaseModel):
    error: str


ERRORS = {  # every answer /api/predict can give besides 200, for the OpenAPI schema
    400: {"model": ErrorOut, "description": "the upload is empty"},
    413: {"model": ErrorOut, "description": "the upload is over the size limit"},
    415: {"model": ErrorOut, "description": f"not {ACCEPTED}"},
    422: {"model": ErrorOut, "description": "an image, but unusable (corrupt, blank, tiny...)"},
    500: {"model": ErrorOut, "description": "the model failed on this request"},
    **{status: {"model": ErrorOut, **answer} for status, answer in limits.ANSWERS.items()},
}


def create_app(
    run_dir: str | Path,
    max_upload_bytes: int = 5 * 1024 * 1024,
    batch_window: float = 0.002,
    max_batch: int = 32,
    runtime: str = "torch",
    onnx_file: str | None = None,
    timeout: float = limits.DEFAULT_TIMEOUT,
    max_concurrent: int = limits.DEFAULT_CONCURRENT,
) -> FastAPI:
    """An app serving `run_dir`; MnistlabError here if the run folder cannot be loaded.
    `batch_window` seconds and `max_batch` images bound the micro-batches (max_batch 1: off);
    `runtime` is "torch" or "onnx", and `onnx_file` the export to use (Classifier.load).
    `timeout` seconds bound a request and a model call, `max_concurrent` the requests in
    progress (serve/limits.py; 0: no bound)."""
    classifier = Classifier.load(run_dir, runtime=runtime, onnx_file=onnx_file)
    identity = {"run": classifier.run_dir.name, "weights_sha256": runs.weights_sha256(run_dir)}
    metrics = Metrics()
    describe = classifier.describe()
    metrics.model.labels(identity["run"], describe["model"], describe["dataset"],
                         identity["weights_sha256"]).set(1)  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The model thread and the batcher live as long as the server; a warm-up prediction
        runs before /readyz says ready: a full batch first (onnxruntime's first call at a
        new batch size is slow, and without it that showed in `best`'s p99 under load)."""
        pool = _threads(1, "mnistlab-model")
        with (
            _threads(PREPARE_THREADS, "mnistlab-prepare") as prep,
            _threads(1, "mnistlab-explain") as explaining,  # serve/explaining.py
        ):
            app.state.prepare_pool, app.state.explain_pool = prep, explaining
            predict = classifier.outputs  # probabilities and the reject score, one row each
            if os.environ.get(limits.HANG):  # tests: a model call that hangs
                predict = limits.hanging(predict, app, float(os.environ[limits.HANG]))
            batcher = MicroBatcher(predict, pool, batch_window, max_batch, metrics.batch.observe,
                                   timeout, metrics.timeouts.labels("model").inc)  # fmt: skip
            batcher.start()
            app.state.batcher, app.state.ready = batcher, False
            try:
                full = np.zeros((max_batch, 28, 28), np.uint8)
                await asyncio.get_running_loop().run_in_executor(pool, batcher.predict, full)
                await batcher.submit(np.zeros((28, 28), np.uint8))
                app.state.ready = True
                yield {"mnistlab_metrics": metrics}  # for limits.HeaderTimeout
                await batcher.stop()
            finally:
                if hasattr(app.state, "stopping"):  # the test hook's hung call ends
                    app.state.stopping.set()
                pool.shutdown(wait=not batcher.stuck)  # a stuck call is not waited for here

    app = FastAPIOffline(  # Swagger UI and ReDoc from the package's files, not a CDN
        title="mnistlab",
        version=__version__,
        description=f"Predict images with the run `{classifier.run_dir}`. The page is at /.",
        lifespan=lifespan,
    )
    app.add_middleware(UploadLimit, limit=max_upload_bytes)
    limits.add_limits(app, timeout, max_concurrent, metrics)  # outside the upload's limit
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _errors_as_json(app)

    _status_routes(app, metrics, ModelInfo(**{**describe, **identity}))
    _predict_route(app, classifier, identity, max_upload_bytes)
    _browser_routes(app, classifier, onnx_file if runtime == "onnx" else None)
    add_explain_routes(app, run_dir, identity, max_upload_bytes, ERRORS, UPLOAD_HELP)
    _upload_not_empty(app)
    return app


def _status_routes(app: FastAPI, metrics: Metrics, info: ModelInfo) -> None:
    """The page, and what tells people and probes how the server is."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    def healthz() -> Health:
        return Health()

    @app.get(
        "/readyz",
        responses={503: {"model": ErrorOut, "description": "warming up, or the model is stuck"}},
    )
    def readyz(request: Request) -> Ready:
        if not getattr(request.app.state, "ready", False):
            raise HTTPException(503, "the model is still warming up; try again shortly")
        if request.app.state.batcher.stuck:
            raise HTTPException(503, "the model is busy with a call past its deadline")
        return Ready()

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/api/model")
    def model_info() -> ModelInfo:
        return info


def _predict_route(app: FastAPI, classifier: Classifier, identity: dict, max_upload_bytes: int):
    """POST /api/predict: read the upload, preprocess it off the event loop, batch the model."""

    def prepare(data: bytes):
        image, ink = classifier.prepare(data)
        return image, ink, png_url(image)

    @app.post("/api/predict", responses=ERRORS, description=UPLOAD_LIMIT.format(max_upload_bytes))
    async def predict(
        request: Request,
        file: Annotated[UploadFile, File(description=UPLOAD_HELP)],
    ) -> PredictionOut:
        data = await read_upload(file, max_upload_bytes)
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(request.app.state.prepare_pool, prepare, data)
        image, ink, preview = prepared
        row = await request.app.state.batcher.submit(image)
        p = classifier.prediction(row, ink)
        return PredictionOut(label=p.label, name=p.name, probabilities=p.probabilities,
                             accepted=p.accepted, reason=p.reason, preprocessed=preview,
                             **identity)  # fmt: skip


def _browser_routes(app: FastAPI, classifier: Classifier, onnx_file: str | None) -> None:
    """What the page needs to answer drawings in the browser (serve/site.py): model.json, and
    when the runtime is cached (`make setup`) and the workers load an export, that file and
    the runtime's. Without them model.json says so, and the page asks /api/predict."""
    runtime = browser_runtime.cached()
    local = onnx_file is not None and runtime is not None
    body = site.manifest(classifier.describe(), classifier.model.metadata if local else None)

    @app.get("/" + site.MANIFEST, include_in_schema=False)
    def manifest() -> dict:
        return body

    if not local:
        return

    @app.get("/" + ONNX_FILE, include_in_schema=False)
    def model_file() -> FileResponse:
        return FileResponse(onnx_file, media_type="application/octet-stream")

    @app.get("/" + site.RUNTIME + "{name}", include_in_schema=False)
    def runtime_file(name: str) -> FileResponse:
        if name not in browser_runtime.FILES:
            raise HTTPException(404, f"no runtime file {name}")
        return FileResponse(runtime / name)


def _upload_not_empty(app: FastAPI) -> None:
    """State in the schema that an empty upload is invalid (it is answered 400): FastAPI cannot
    put `minLength` on an UploadFile without also validating it, which fails on a file."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for name in ("Body_predict_api_predict_post", "Body_explain_api_explain_post"):
                schema["components"]["schemas"][name]["properties"]["file"]["minLength"] = 1
        return app.openapi_schema

    app.openapi = openapi


UPLOAD_HELP = f"an image: {ACCEPTED}; not empty"
UPLOAD_LIMIT = ("Predict one image. The upload must not be empty (400) and at most {} bytes "
                "(413); other formats get 415, unusable images 422.")  # fmt: skip


def _threads(n: int, name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(n, name, initializer=_one_thread)


def _one_thread() -> None:
    """The model and preprocessing threads' initializer, whatever the backend: one
    BLAS/OpenMP thread, and one torch thread when torch is loaded (it is, once a torch
    model was); never imports it. (OpenCV runs one thread already: mnistlab.prediction.framing.)"""
    threadpool_limits(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _errors_as_json(app: FastAPI) -> None:
    """Every error answers `{"error": message}` (the HTTP contract), with a status that
    tells the client whose fault it was."""

    @app.exception_handler(MnistlabError)
    def user_error(request: Request, exc: MnistlabError) -> JSONResponse:
        status = STATUS.get(exc.reason, 422) if isinstance(exc, ImageError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        message = f"{problems} (send the image as the multipart form field 'file')"
        return JSONResponse({"error": message}, status_code=422)

    @app.exception_handler(Exception)
    def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "the server failed on this request; try again"}, 500)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # The exception's headers matter: a 405 must say which methods are allowed (Allow).
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


def png_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


async def read_upload(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes; 413 past `limit` (UploadLimit stops most before the app sees them)."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, too_large(limit))
    return data


def too_large(limit: int) -> str:
    return f"the upload is larger than the {limit / 2**20:.3g} MB limit; send a smaller image"


class UploadLimit:
    """Answer 413 to request bodies over the upload limit before the app parses them.

    Content-Length is checked first; bodies without one (chunked) are counted as
    they arrive. An accepted body (a few MB at most) is replayed to the app.
    """

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.max_bytes = limit + MULTIPART_SLACK

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            more = message.get("more_body", False)
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def receive_replayed():
            return replay.pop() if replay else await receive()

        await self.app(scope, receive_replayed, send)

    async def _refuse(self, scope, receive, send) -> None:
        response = JSONResponse({"error": too_large(self.limit)}, status_code=413)
        await response(scope, receive, send)
