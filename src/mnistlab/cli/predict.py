"""`mnistlab predict`: a trained run on a person's images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli import tables
from mnistlab.cli.common import JsonFlag, RunOption, app, console, out, print_json
from mnistlab.errors import MnistlabError


@app.command("predict")
def predict_cmd(
    images: Annotated[list[Path], typer.Argument(help="Image files, or folders (recursive).")],
    run: RunOption,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Classes shown per image.")] = 3,
    json_out: JsonFlag = False,
    save_preprocessed: Annotated[
        Path | None, typer.Option(help="Folder for the 28x28 image the model saw, per file.")
    ] = None,
    runtime: Annotated[
        str, typer.Option(help="torch: the run's own model; onnx: onnxruntime (see export).")
    ] = "torch",
) -> None:
    """Predict your own images (PNG, JPEG, BMP, GIF, WebP, TIFF).

    A file that cannot be used is reported on stderr and skipped; the others are still
    predicted, and the exit status is 1 at the end.
    """
    from mnistlab.prediction.classifier import Classifier, predict_files, save_images

    classifier = Classifier.load(run, runtime=runtime)
    results = predict_files(classifier, images)
    for line in results.errors:
        console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    if save_preprocessed is not None:
        save_images(save_preprocessed, results.predictions, results.images)
    if json_out:
        print_json([
            {**p.to_dict(), "top_k": [
                {"label": i, "name": classifier.classes[i], "probability": q}
                for i, q in p.top_k(top_k)
            ]}
            for p in results.predictions
        ])  # fmt: skip
    elif results.predictions:
        tables.predictions(out, results.predictions, classifier.classes, top_k)
    if results.errors:
        n = len(results.errors)
        raise MnistlabError(f"{n} of {n + len(results.predictions)} images could not be used")
