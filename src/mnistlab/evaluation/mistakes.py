"""The report's gallery of mistakes: each wrong answer with the probability of its true class,
of its prediction and of the runner-up, and the pixels that pushed it there.

Beside each image, its attribution (mnistlab.explanation.attribute: Integrated Gradients of
the calibrated log-probability) to the class it predicted and to its true class: red pixels
raised that class, blue ones lowered it. `evaluate` writes the gallery into the run folder
(plots/mistakes.json, each tile a small PNG) and the report builds its HTML from that file,
with an anchor per tile that the map of the test set (map_svg.py) links to.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from mnistlab import reading
from mnistlab.atomic import write_text
from mnistlab.evaluation.map_svg import map_svg
from mnistlab.explanation import attribute

FILE, MAP = "mistakes.json", "map.svg"
SHOWN = 30  # the most confident mistakes in the gallery (and as many on the map)
GAP = 2  # white pixels between a tile's three panels
INK_SHADE = 0.25  # how dark the image's ink shows under an attribution
BOUND = 95  # the percentile of attribution magnitudes that gets the fullest colour


def pick(labels: np.ndarray, proba: np.ndarray, on_map: np.ndarray, n: int = SHOWN) -> np.ndarray:
    """The indices of the n most confident mistakes and of up to n more among the images
    `on_map` (so that the map's rings link to tiles), most confident first."""
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]], kind="stable")]
    mapped = wrong[np.isin(wrong, on_map)][:n]
    return wrong[np.isin(wrong, np.concatenate([wrong[:n], mapped]))]


def write_for_split(folder: Path, split: str, model, ds, proba: np.ndarray, temperature: float,
                    places=None) -> None:  # fmt: skip
    """FOLDER/mistakes.json for the split, and with `places` (the run's map of test images,
    mnistlab.explanation.DataMap) FOLDER/map.svg, whose rings link to the tiles. `proba`:
    the calibrated probabilities."""
    on_map = places.indices if places is not None else np.zeros(0, np.int64)
    shown = pick(ds.labels, proba, on_map)
    tiles = gallery(model, ds.images, ds.labels, proba, temperature, shown)
    wrong = int((proba.argmax(axis=1) != ds.labels).sum())
    write_text(folder / FILE, json.dumps({"split": split, "wrong": wrong, "shown": tiles}))
    if places is not None:
        linked = {t["index"]: anchor(split, t["index"]) for t in tiles}
        svg = map_svg(places.points, places.labels, places.predicted, places.indices,
                      list(ds.classes), linked)  # fmt: skip
        write_text(folder / MAP, svg)


def gallery(model, images, labels, proba, temperature: float, shown: np.ndarray) -> list[dict]:
    """The tiles of the mistakes `shown`: each one's index, classes, probabilities (`proba`:
    the calibrated ones) and a PNG of the image beside its two attributions."""
    order = np.argsort(-proba[shown], axis=1, kind="stable")
    predicted, runner_up, true = order[:, 0], order[:, 1], labels[shown]
    found = attribute(model, np.concatenate([images[shown]] * 2),
                      np.concatenate([predicted, true]), temperature)  # fmt: skip
    tiles = []
    for j, i in enumerate(shown):
        row = proba[i]
        tile = tile_png(images[i], found[j], found[len(shown) + j])
        tiles.append({"index": int(i), "label": int(true[j]), "predicted": int(predicted[j]),
                      "runner_up": int(runner_up[j]), "p_true": float(row[true[j]]),
                      "p_predicted": float(row[predicted[j]]),
                      "p_runner_up": float(row[runner_up[j]]),
                      "tile": base64.b64encode(tile).decode("ascii")})  # fmt: skip
    return tiles


def tile_png(image: np.ndarray, toward: np.ndarray, true: np.ndarray) -> bytes:
    """The image, then the two attributions over its shaded ink, side by side as one RGB PNG
    (28 pixels high, a pixel per pixel of the image). Each attribution on its own scale, the
    BOUND percentile of its magnitudes on the ink, so that a few strong pixels fade no others
    (a low probability's attribution is larger: its log moves more)."""
    ink = np.asarray(image, np.float32) / 255
    cmap = colormaps["RdBu_r"]
    panels = [np.repeat(ink[:, :, None], 3, axis=2)]
    for values in (toward, true):
        on_ink = np.abs(values[ink > 0])
        bound = float(np.percentile(on_ink, BOUND)) if on_ink.size else 0.0
        colour = cmap(0.5 + 0.5 * np.clip(values / (bound or 1.0), -1, 1))[:, :, :3]
        panels.append(colour * (1 - INK_SHADE * ink[:, :, None]))
    gap = np.ones((28, GAP, 3))
    row = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    buffer = io.BytesIO()
    Image.fromarray((row * 255 + 0.5).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def anchor(split: str, index: int) -> str:
    """The id of a tile in the report, which the map links to."""
    return f"{split}-mistake-{index}"


def read(folder: Path, fix: str) -> dict | None:
    """FOLDER/mistakes.json (None when evaluate wrote none), checked."""
    path = folder / FILE
    if not path.is_file():
        return None
    doc = reading.read_json(path, fix)
    reading.check_fields(doc, path, fix, {"split": "str", "wrong": "int", "shown": "list"})
    fields = {k: "int" for k in ("index", "label", "predicted", "runner_up")}
    fields |= {k: "number" for k in ("p_true", "p_predicted", "p_runner_up")} | {"tile": "str"}
    for n, tile in enumerate(doc["shown"]):
        if not isinstance(tile, dict):
            raise reading.damaged(path, f"tile {n} is not a JSON object", fix)
        reading.check_fields(tile, path, fix, fields, where=f"tile {n}: ")
    return doc


def gallery_html(doc: dict, classes: list[str]) -> str:
    """The tiles as HTML figures, each with its anchor and a caption of its numbers."""
    e = html.escape
    tiles = []
    for t in doc["shown"]:
        true, said, next_ = (e(classes[t[k]]) for k in ("label", "predicted", "runner_up"))
        runner = "the true class" if t["runner_up"] == t["label"] else next_
        tiles.append(
            f'<figure class="tile" id="{anchor(doc["split"], t["index"])}">'
            f'<div class="panels"><span>image {t["index"]}</span><span>for {said}</span>'
            f"<span>for {true}</span></div>"
            f'<img alt="{doc["split"]} image {t["index"]}, a {true} taken for a {said}" '
            f'src="data:image/png;base64,{t["tile"]}"><figcaption>'
            f"said <b>{said}</b> {t['p_predicted']:.1%} · true <b>{true}</b> {t['p_true']:.1%}"
            f"<br>runner-up: {runner} {t['p_runner_up']:.1%}</figcaption></figure>"
        )
    more = doc["wrong"] - len(doc["shown"])
    rest = f" and {more:,} more not shown" if more > 0 else ""
    head = (
        f'<p class="sub">{len(doc["shown"])} of {doc["wrong"]:,} mistakes, the most confident '
        f"first{rest}. Each tile: the image; the pixels that raised (red) and lowered (blue) "
        "the class it predicted; the same for its true class, each on its own scale.</p>"
    )
    return head + '<div class="gallery">' + "".join(tiles) + "</div>"
