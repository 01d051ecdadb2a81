"""The HTML report rendered from plain data: self-contained, escaped, and whole in Chromium."""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import visit
from mnistlab.errors import MnistlabError
from mnistlab.evaluation import mistakes
from mnistlab.evaluation.evaluate import compute_metrics
from mnistlab.evaluation.map_svg import map_svg
from mnistlab.evaluation.report import render
from mnistlab.evaluation.report_figures import MAP_FIGURE, PLOTS, Markup
from mnistlab.serve.live import chromium_page

CLASSES = tuple("0123456789")
CONFIG = {
    "dataset": "mnist",
    "model": "mlp",
    "model_args": {"hidden": 128},
    "classes": list(CLASSES),
    "seed": 0,
    "epochs": 2,
    "lr": 0.001,
    "train_limit": None,
    "versions": {"torch": "2.13.0"},
}
SUMMARY = [
    {"layer": "Flatten", "output_shape": [784], "params": 0},
    {"layer": "Linear <b>", "output_shape": [128], "params": 100480},
    {"layer": "Linear", "output_shape": [10], "params": 1290},
]
HISTORY = [
    {
        "epoch": 1,
        "train_loss": 0.41,
        "train_acc": 0.88,
        "val_loss": 0.25,
        "val_acc": 0.93,
        "lr": 0.001,
        "seconds": 2.5,
    },
    {
        "epoch": 2,
        "train_loss": 0.21,
        "train_acc": 0.94,
        "val_loss": 0.18,
        "val_acc": 0.95,
        "lr": 0.001,
        "seconds": 2.4,
    },
]


# Every heading a page with a run's metrics shows: its sections, then one per plot.
SECTIONS = [
    "Headline numbers",
    "Configuration",
    "Model summary",
    "Training history",
    "Per-class metrics (test split)",
    "Most confused pairs",
    "Plots",
]
HEADINGS = [*SECTIONS, *(h for _, h, _ in PLOTS)]


def assert_whole_in_chromium(path: Path, plots=PLOTS, images: int | None = None) -> None:
    """Chromium shows every heading and image of the report at `path` (with `plots`, and
    `images` images: one per plot unless told), with no error and no request leaving the page
    (images are inlined)."""
    seen = visit(path)
    assert seen.failed == [] and seen.console_errors == []
    assert [r for r in seen.requests if not r.startswith(("file:", "data:"))] == []
    assert {*SECTIONS, *(h for _, h, _ in plots)} <= set(seen.headings)
    assert seen.images == seen.images_loaded == (len(plots) if images is None else images)


def png(width: int = 120, height: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 128, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def metrics():
    labels = np.arange(100) % 10
    proba = np.full((100, 10), 0.01, np.float32)
    proba[np.arange(100), (labels + (np.arange(100) % 7 == 0)) % 10] = 0.91
    return compute_metrics(labels, proba, CLASSES) | {"train_seconds": 4.9}


def page(metrics, figures=None):
    figures = figures if figures is not None else [(h, c, png()) for _, h, c in PLOTS]
    return render("mnistlab report: demo", CONFIG, SUMMARY, 101770, metrics, HISTORY, figures)


def test_page_has_every_section_and_number(metrics):
    html = page(metrics)
    for heading in HEADINGS:
        assert f">{heading}</h" in html
    assert f"{100 * metrics['accuracy']:.2f}%" in html and "101,770" in html
    assert "hidden=128" in html and "4.9 s" in html
    assert "Linear &lt;b&gt;" in html  # text is escaped, never markup


def test_page_makes_no_external_references(metrics):
    html = page(metrics)
    assert html.count('src="data:image/png;base64,') == len(PLOTS)
    assert not re.search(r"""(src|href)=["']?(https?:|//|/)""", html)
    assert "<script" not in html


def test_unevaluated_run_says_what_to_do():
    html = render("r", CONFIG, SUMMARY, 101770, {"accuracy": 0.9, "loss": 0.3}, HISTORY, [])
    assert "mnistlab evaluate RUN_DIR" in html and "Per-class" not in html


@pytest.mark.browser
def test_report_opens_cleanly_in_chromium(tmp_path, metrics):
    path = tmp_path / "report.html"
    path.write_text(page(metrics), encoding="utf-8")
    assert_whole_in_chromium(path)


CLASSES_TO_ESCAPE = ["<0>", *CLASSES[1:]]


def gallery_and_map() -> list[tuple]:
    """The report's map and gallery figures: a gallery of two mistakes (test images 7 and 12)
    and a map of four test images, whose two mistakes are 7 (in the gallery) and 30 (not)."""
    tile = {"label": 0, "predicted": 6, "runner_up": 0, "p_true": 0.2, "p_predicted": 0.7,
            "p_runner_up": 0.2, "tile": base64.b64encode(png(88, 28)).decode()}  # fmt: skip
    doc = {"split": "test", "wrong": 5, "shown": [{**tile, "index": 7}, {**tile, "index": 12}]}
    linked = {t["index"]: mistakes.anchor("test", t["index"]) for t in doc["shown"]}
    points = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
    svg = map_svg(points, np.array([0, 0, 1, 2]), np.array([6, 0, 1, 3]), np.array([7, 8, 9, 30]),
                  CLASSES_TO_ESCAPE, linked)  # fmt: skip
    gallery = Markup(mistakes.gallery_html(doc, CLASSES_TO_ESCAPE))
    return [(*MAP_FIGURE, Markup(svg)), ("Misclassified images", "", gallery)]


def test_the_maps_rings_link_to_the_gallerys_tiles(metrics):
    html = page(metrics, gallery_and_map())
    ids = set(re.findall(r'id="([^"]+)"', html))
    links = re.findall(r'<a href="#([^"]+)">', html)
    assert links == ["test-mistake-7"] and set(links) <= ids and "test-mistake-12" in ids
    assert html.count('stroke="#111" stroke-width="1.6"><title>') == 2  # both mistakes ringed
    assert "test image 30: a 2 taken for a 3" in html  # a mistake not shown: a tooltip alone
    assert "&lt;0&gt;" in html and "<0>" not in html
    assert "2 of 5 mistakes" in html and "and 3 more not shown" in html
    assert "runner-up: the true class 20.0%" in html


def test_a_damaged_gallery_file_is_one_line_naming_it(tmp_path):
    (tmp_path / mistakes.FILE).write_text('{"split": "test", "wrong": 1, "shown": [{"index": 1}]}')
    with pytest.raises(MnistlabError, match=r"mistakes.json is damaged \(no tile 0: 'label'\)"):
        mistakes.read(tmp_path, "evaluate it again")


@pytest.mark.browser
def test_a_click_on_a_ring_opens_its_tile_in_chromium(tmp_path, metrics):
    path = tmp_path / "report.html"
    path.write_text(page(metrics, gallery_and_map()), encoding="utf-8")
    with chromium_page(1000, 700) as browser_page:
        browser_page.goto(path.resolve().as_uri())
        browser_page.locator("svg.map a circle").click()
        assert browser_page.evaluate("location.hash") == "#test-mistake-7"
        assert browser_page.locator(".tile:target").get_attribute("id") == "test-mistake-7"
        assert browser_page.locator(".tile img").evaluate_all(
            "images => images.every(i => i.complete && i.naturalWidth === 88)"
        )
