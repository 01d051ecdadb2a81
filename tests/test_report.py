"""The HTML report rendered from plain data: self-contained, escaped, and whole in Chromium."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import visit
from mnistlab.evaluation.evaluate import compute_metrics
from mnistlab.evaluation.report import PLOTS, render

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


def assert_whole_in_chromium(path: Path, plots=PLOTS) -> None:
    """Chromium shows every heading and image of the report at `path` (with `plots`), with no
    error and no request leaving the page (images are inlined)."""
    seen = visit(path)
    assert seen.failed == [] and seen.console_errors == []
    assert [r for r in seen.requests if not r.startswith(("file:", "data:"))] == []
    assert {*SECTIONS, *(h for _, h, _ in plots)} <= set(seen.headings)
    assert seen.images == seen.images_loaded == len(plots)


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
