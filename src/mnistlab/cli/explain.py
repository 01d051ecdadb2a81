"""`mnistlab explain`: why a run answered what it did, per image (mnistlab.explanation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistlab.cli.common import JsonFlag, RunOption, app, console, out, print_json
from mnistlab.errors import MnistlabError


@app.command("explain")
def explain_cmd(
    images: Annotated[list[Path], typer.Argument(help="Image files, or folders (recursive).")],
    run: RunOption,
    folder: Annotated[
        Path, typer.Option("--out", help="Folder for the figures, one PNG per image.")
    ] = Path("explanations"),
    json_out: JsonFlag = False,
) -> None:
    """Explain the answer for each image: which pixels raise and lower the top two classes,
    what each layer makes of the image, its nearest training images, its place on a map of
    the test set; one PNG per image (docs/explaining.md).

    The first use on a run builds its neighbour index and map (seconds) and keeps them in
    RUN_DIR/explain/. A file that cannot be used is reported on stderr and skipped.
    """
    from mnistlab.explanation import data_map, explain_image, neighbor_index
    from mnistlab.explanation.figure import figure, save
    from mnistlab.prediction.classifier import Classifier, find_images, png_name

    classifier = Classifier.load(run)  # the torch (or NumPy) model: gradients
    files = find_images(images)
    index = neighbor_index(run, classifier.model)
    places = data_map(run, classifier.model, index)
    done, errors, used = [], [], set()
    for path in files:
        try:
            explanation = explain_image(classifier, path, index=index, places=places)
        except MnistlabError as e:
            errors.append(str(e) if str(path) in str(e) else f"{path}: {e}")
            continue
        png = png_name(folder, path.stem, used)
        try:
            save(figure(explanation, places), png)
        except OSError as e:
            raise MnistlabError(f"cannot write {png}: {e.strerror or e}") from None
        done.append({"file": str(path), "figure": str(png), **explanation.to_dict()})
        if not json_out:
            p = explanation.prediction
            verdict = "" if p["accepted"] else f" (refused: {p['reason']})"
            out.print(f"{path}: {p['name']} {max(p['probabilities']):.1%}{verdict} → {png}",
                      markup=False, highlight=False, soft_wrap=True)  # fmt: skip
    for line in errors:
        console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    if json_out:
        print_json(done)
    if errors:
        n = len(errors)
        raise MnistlabError(f"{n} of {n + len(done)} images could not be used")
