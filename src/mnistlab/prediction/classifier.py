"""Predict a person's own images with a trained run: `Classifier.load(run_dir).predict(...)`.

The run folder says which preprocessing its model expects ("digits" or "objects" in
config.json), so a run predicts correctly on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mnistlab import atomic, runs
from mnistlab.errors import MnistlabError
from mnistlab.models import calibration
from mnistlab.models.reject import TOO_LITTLE_INK, RejectRule
from mnistlab.prediction import export
from mnistlab.prediction.images import ImageError, ImageSource, png_bytes
from mnistlab.prediction.preprocess import Ink, PreprocessOptions, prepare, preprocess

if TYPE_CHECKING:
    from mnistlab.models import Model
    from mnistlab.prediction.export import OnnxModel

log = logging.getLogger("mnistlab.prediction")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

__all__ = [
    "Classifier",
    "ImageError",
    "Prediction",
    "PreprocessOptions",
    "find_images",
    "predict_files",
    "preprocess",
    "save_images",
]


@dataclass(frozen=True)
class Prediction:
    """One image's answer: the top class, every class's (calibrated) probability, and whether
    the reader accepts the image as one of its classes; `reason` says why not ("too little
    ink...", "not like any training image", "unsure between 4 and 9")."""

    label: int
    name: str
    probabilities: list[float]
    file: str | None = None
    accepted: bool = True
    reason: str | None = None

    def top_k(self, k: int = 3) -> list[tuple[int, float]]:
        """The k most likely (label, probability) pairs, most likely first."""
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(int(i), self.probabilities[i]) for i in order]

    def to_dict(self) -> dict:
        """The `predict --json` object: file, label, name, probabilities, accepted, reason."""
        return {"file": self.file, "label": self.label, "name": self.name,
                "probabilities": self.probabilities, "accepted": self.accepted,
                "reason": self.reason}  # fmt: skip


class Classifier:
    """A trained run ready to predict images as a person would hand them over.

    The probabilities are calibrated with the run's temperature (calibration.json; 1 for a
    run trained before calibration, said once in the log). Thread-safe: preprocessing runs in
    parallel, the model one batch at a time.
    """

    def __init__(
        self,
        model: Model | OnnxModel,
        config: dict,
        metrics: dict | None,
        run_dir: Path,
        calibrated: dict | None = None,
        reject_arrays: dict | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.metrics = metrics or {}
        self.run_dir = Path(run_dir)
        self.classes: tuple[str, ...] = tuple(config["classes"])
        self.options = PreprocessOptions(preprocessing=config.get("preprocessing", "digits"))
        self.calibration = calibrated
        if calibrated is None:
            log.info("%s has no calibration (trained before it): probabilities as the model gives "
                     "them (temperature 1), and only images without ink are refused; `mnistlab "
                     "calibrate %s` fits both", self.run_dir, self.run_dir)  # fmt: skip
        found = calibration.Calibration.of(calibrated)
        self.temperature = found.temperature
        # An exported graph holds the calibration already (prediction.export).
        exported = getattr(model, "calibrated", False)
        self._calibrated = calibration.Calibration() if exported else found
        self.rule: RejectRule | None = None
        if reject_arrays is not None and calibrated and "reject" in calibrated:
            found = calibrated["reject"]
            self.rule = RejectRule(reject_arrays, found["threshold"], found["unsure_below"])
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, run_dir: str | Path, runtime: str = "torch", onnx_file: str | Path | None = None
    ) -> Classifier:
        """Load a run folder once (config, weights, metrics); MnistlabError if it is not one.

        `runtime="onnx"` predicts through onnxruntime (mnistlab.prediction.export.load_onnx_model:
        `onnx_file`, default RUN_DIR/model.onnx, when up to date, else an export held in
        memory)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise MnistlabError(f"run folder {run_dir} does not exist; train one with "
                                "`mnistlab train --out RUN_DIR`")  # fmt: skip
        export.check_runtime(runtime)
        config = runs.load_config(run_dir)
        model = (export.load_onnx_model(run_dir, path=onnx_file) if runtime == "onnx"
                 else runs.load_model(run_dir))  # fmt: skip
        return cls(model, config, runs.load_metrics(run_dir), run_dir,
                   runs.load_calibration(run_dir), runs.load_reject(run_dir))  # fmt: skip

    def preprocess(
        self, image: ImageSource, options: PreprocessOptions | None = None
    ) -> np.ndarray:
        """What the model will see: uint8 (28, 28), light ink on black."""
        return preprocess(image, options or self.options)

    def prepare(self, image: ImageSource) -> tuple[np.ndarray, Ink]:
        """preprocess's image and what it found of the ink (for the "too little ink" rule)."""
        return prepare(image, self.options)

    def predict(
        self, images: ImageSource | Sequence[ImageSource], preprocessed: bool = False
    ) -> Prediction | list[Prediction]:
        """Predict one image (path, bytes, PIL image, array) or a list/batch of them.

        A single image gives one Prediction, a list or an (N, H, W) array a list.
        `preprocessed=True` skips preprocessing: the arrays are already 28x28 like
        MNIST rows. The first bad image raises ImageError naming it.
        """
        single = _is_single(images)
        batch = [images] if single else list(images)
        inks: list[Ink | None] = [None] * len(batch)
        if preprocessed:
            arrays = [_check_ready(a) for a in batch]
        else:
            prepared = [self.prepare(image) for image in batch]
            arrays, inks = [a for a, _ in prepared], [ink for _, ink in prepared]
        rows = self.outputs(np.stack(arrays) if arrays else np.zeros((0, 28, 28)))
        predictions = [self.prediction(row, ink, _file_name(image))
                       for row, ink, image in zip(rows, inks, batch, strict=True)]  # fmt: skip
        return predictions[0] if single else predictions

    def predict_arrays(self, arrays: np.ndarray) -> list[Prediction]:
        """Predict model-ready (N, 28, 28) images."""
        return [self.prediction(row) for row in self.outputs(arrays)]

    def outputs(self, arrays: np.ndarray) -> np.ndarray:
        """One row per model-ready (N, 28, 28) image, which `prediction` turns into its
        answer: the calibrated class probabilities, then the reject rule's score (NaN without
        one). The server batches this call."""
        with self._lock:
            if self.rule is not None and hasattr(self.model, "predict_scored"):
                proba, score = self.model.predict_scored(arrays)  # an export computes both
            elif self.rule is not None and hasattr(self.model, "look"):
                proba, score = self.rule.scored(self.model, arrays, self._calibrated)
            else:
                proba = self._calibrated(self.model.predict_proba(arrays))
                score = np.full(len(proba), np.nan, np.float32)
        return np.concatenate([proba, score[:, None]], axis=1)

    def prediction(self, row: np.ndarray, ink: Ink | None = None, file: str | None = None
                   ) -> Prediction:  # fmt: skip
        """The Prediction for one row of `outputs` (and what preprocessing found of its ink)."""
        proba = row[: len(self.classes)]
        label = int(proba.argmax())
        reason = None
        if ink is not None and ink.too_little:
            reason = TOO_LITTLE_INK
        elif self.rule is not None:
            reason = self.rule.reason(proba, float(row[len(self.classes)]), self.classes)
        return Prediction(label, self.classes[label], [float(v) for v in proba], file,
                          accepted=reason is None, reason=reason)  # fmt: skip

    def describe(self) -> dict:
        """Dataset, model, classes, test accuracy and size, for people and the web page."""
        return {
            "dataset": self.config.get("dataset"),
            "model": self.config.get("model"),
            "classes": list(self.classes),
            "test_accuracy": self.metrics.get("accuracy"),
            "parameters": self.model.num_parameters(),
            "preprocessing": self.options.preprocessing,
            "epochs": self.metrics.get("epochs", self.config.get("epochs")),
            "run": self.run_dir.name,
        }


def _is_single(images) -> bool:
    if isinstance(images, np.ndarray):  # (H,W) or (H,W,3|4) is one image; (N,H,W) many
        return images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (3, 4))
    return not isinstance(images, list | tuple)


def _check_ready(image) -> np.ndarray:
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise MnistlabError(f"preprocessed images must be 28x28 arrays, not {a.shape}")
    return a if a.dtype == np.uint8 else np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)


def _file_name(image) -> str | None:
    return None if isinstance(image, bytes | bytearray | np.ndarray | Image.Image) else str(image)


@dataclass
class FileResults:
    """`predict_files` answer: a bad file is an error line, not the end of the batch."""

    predictions: list[Prediction]
    images: list[np.ndarray]  # what the model saw, one per prediction
    errors: list[str]  # one line per file that could not be used


def predict_files(classifier: Classifier, paths: Iterable[str | Path]) -> FileResults:
    """Predict image files and folders (recursive), collecting bad files instead of stopping."""
    files, images, inks, errors = [], [], [], []
    for path in find_images(paths):
        try:
            image, ink = classifier.prepare(path)
            images.append(image)
            inks.append(ink)
            files.append(str(path))
        except MnistlabError as e:  # each error names its file, once
            errors.append(str(e) if str(path) in str(e) else f"{path}: {e}")
    rows = classifier.outputs(np.stack(images)) if images else []
    predictions = [classifier.prediction(row, ink, f)
                   for row, ink, f in zip(rows, inks, files, strict=True)]  # fmt: skip
    return FileResults(predictions, images, errors)


def save_images(
    folder: str | Path, predictions: list[Prediction], images: list[np.ndarray]
) -> list[Path]:
    """Write each 28x28 image as FOLDER/<input stem>.png (-2, -3... when stems repeat)."""
    used: set[str] = set()
    written = []
    for p, image in zip(predictions, images, strict=True):
        path = png_name(folder, Path(p.file or "image").stem, used)
        try:
            atomic.write_bytes(path, png_bytes(image))
        except OSError as e:
            raise MnistlabError(f"cannot write {path}: {e.strerror}") from None
        written.append(path)
    return written


def png_name(folder: str | Path, stem: str, used: set[str]) -> Path:
    """FOLDER/STEM.png, or STEM-2.png, -3... when an earlier input had the same stem (`used`
    holds the names given so far, and gets this one)."""
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return Path(folder) / name


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, plus image files found recursively in folders named, in sorted order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise MnistlabError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            found.extend(p for p in inside if p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise MnistlabError(f"{path}: no such file or folder")
    return found
