"""The web page and REST API over one trained run (HTTP contract: the repo's ARCHITECTURE.md).

The model is loaded once. Every prediction runs on one dedicated worker thread, limited to
one compute thread, so the event loop stays free and the model sees one call at a time. One
image gains nothing from a second thread, and bf16 kernels called from a thread other than
the main one with two OpenMP threads were much slower: `best` on Fashion-MNIST took 80 ms per
request with two threads, 23 ms with one (the README's Performance section: bench/inference.py
on the 2-core Xeon AMX, Intel Sapphire Rapids). Uploads over the limit are refused before
they are parsed.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from threadpoolctl import threadpool_limits

from mnistlab import __version__
from mnistlab.errors import MnistlabError
from mnistlab.images import png_bytes
from mnistlab.predict import Classifier, ImageError

STATIC = Path(__file__).parent / "static"
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file itself

# ImageError.reason -> HTTP status: empty body, not an image, unusable image.
STATUS = {"empty": 400, "unreadable": 415}


class Health(BaseModel):
    status: str = "ok"


class ModelInfo(BaseModel):
    dataset: str
    model: str
    classes: list[str]
    test_accuracy: float | None = Field(description="accuracy on the test split, 0..1")
    parameters: int
    preprocessing: str = Field(description='"digits" (MNIST) or "objects" (Fashion-MNIST)')
    epochs: int | None
    run: str


class PredictionOut(BaseModel):
    label: int
    name: str
    probabilities: list[float] = Field(description="one per class, summing to 1")
    preprocessed: str = Field(description="the 28x28 image the model saw, as a PNG data URL")


class ErrorOut(BaseModel):
    error: str


ERRORS = {code: {"model": ErrorOut} for code in (400, 413, 415, 422)}


def create_app(run_dir: str | Path, max_upload_bytes: int = 5 * 1024 * 1024) -> FastAPI:
    """An app serving `run_dir`; MnistlabError here if the run folder cannot be loaded."""
    classifier = Classifier.load(run_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The model thread lives as long as the server: shut down (after the call it is
        running, if any) when the server stops."""
        with ThreadPoolExecutor(1, "mnistlab-model", initializer=_one_thread) as pool:
            app.state.model_thread = pool
            yield

    app = FastAPI(
        title="mnistlab",
        version=__version__,
        description=f"Predict images with the run `{classifier.run_dir}`. The page is at /.",
        lifespan=lifespan,
    )
    app.add_middleware(UploadLimit, limit=max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _errors_as_json(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    def healthz() -> Health:
        return Health()

    @app.get("/api/model")
    def model_info() -> ModelInfo:
        return ModelInfo(**classifier.describe())

    def answer(data: bytes) -> PredictionOut:
        image = classifier.preprocess(data)
        p = classifier.predict_arrays(image[None])[0]
        return PredictionOut(
            label=p.label, name=p.name, probabilities=p.probabilities, preprocessed=png_url(image)
        )

    @app.post("/api/predict", responses=ERRORS)
    async def predict(
        request: Request,
        file: Annotated[UploadFile, File(description="an image: PNG, JPEG, BMP, GIF, WebP, TIFF")],
    ) -> PredictionOut:
        data = await file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(413, too_large(max_upload_bytes))
        pool = request.app.state.model_thread
        return await asyncio.get_running_loop().run_in_executor(pool, answer, data)

    return app


def _one_thread() -> None:
    """The model thread's initializer, whatever the backend: one BLAS/OpenMP thread, and one
    torch thread when torch is loaded (it is, once a torch model was); never imports it."""
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

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)


def png_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


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
