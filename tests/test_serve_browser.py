"""End to end: the real server (`mnistlab serve`, uvicorn) driven by headless Chromium."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from mnistlab.data import load_dataset
from mnistlab.prediction.classifier import Classifier
from mnistlab.serve.live import chromium_page, serving, stroke
from predict_helpers import trained_run

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with log.open("w") as out, serving(trained_run(), log=out) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with chromium_page(1100, 800) as page:
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.goto(server)
        expect(page.locator("#model")).to_contain_text("test accuracy")
        yield page


def test_draw_a_one_and_a_zero(page):
    stroke(page, [(0.52, 0.18), (0.5, 0.5), (0.48, 0.82)])
    expect(page.locator("#label")).to_have_text("1", timeout=10_000)
    expect(page.locator("#seen")).to_be_visible()
    expect(page.locator("#bars li.top .name")).to_have_text("1")

    page.click("#clear")
    expect(page.locator("#label")).to_have_text("?")
    ring = [
        (0.5 + 0.2 * math.sin(t), 0.5 - 0.3 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 40)
    ]
    stroke(page, ring)
    expect(page.locator("#label")).to_have_text("0", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-drawn-zero.png"))

    page.click("#undo")  # the only stroke: back to an empty canvas
    expect(page.locator("#label")).to_have_text("?")
    assert page.errors == []


def test_a_dot_is_refused_and_the_bars_are_greyed(page):
    stroke(page, [(0.5, 0.5), (0.505, 0.5)])  # one click of the pen
    expect(page.locator("#name")).to_have_text("This doesn't look like a digit", timeout=10_000)
    expect(page.locator("#confidence")).to_have_text("Too little ink: a dot or a short stroke.")
    expect(page.locator("#label")).to_have_text("?")
    expect(page.locator("#bars")).to_have_class(re.compile(r"\brefused\b"))
    expect(page.locator("#bars li")).to_have_count(10)  # the bars stay, greyed
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-refused-dot.png"))
    page.click("#clear")
    expect(page.locator("#bars")).not_to_have_class(re.compile(r"\brefused\b"))
    assert page.errors == []


def test_a_drawn_letter_w_is_not_taken_for_a_digit(page):
    stroke(page, [(0.15, 0.2), (0.32, 0.8), (0.5, 0.35), (0.68, 0.8), (0.85, 0.2)])
    expect(page.locator("#name")).to_have_text("This doesn't look like a digit", timeout=10_000)
    expect(page.locator("#bars")).to_have_class(re.compile(r"\brefused\b"))
    page.click("#clear")
    assert page.errors == []


def test_upload_a_png(page, tmp_path):
    test = load_dataset("mnist", "test")
    classifier = Classifier.load(trained_run())
    path = tmp_path / "digit.png"
    for image, label in zip(test.images, test.labels, strict=False):  # one the model gets right
        Image.fromarray(255 - image).save(path)
        if classifier.predict(path).label == label:
            break
    page.set_input_files("#file", str(path))
    expect(page.locator("#label")).to_have_text(str(label), timeout=10_000)
    expect(page.locator("#uploaded")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "web-upload.png"))
    assert page.errors == []

    (tmp_path / "notes.png").write_text("not an image")
    page.set_input_files("#file", str(tmp_path / "notes.png"))
    expect(page.locator("#error")).to_contain_text("not an image")
    expect(page.locator("#uploaded")).to_be_hidden()  # no broken image left on the pad
    expect(page.locator("#placeholder")).to_be_visible()
    # Chromium logs the 4xx, and nothing else: no JS error.
    assert page.errors and all("status of 415" in e for e in page.errors), page.errors


def test_numbers_take_the_article_they_are_spoken_with(page):
    names = ["0", "1", "7", "8", "11", "18", "80", "110", "11000"]
    got = page.evaluate(f"{names}.map(withArticle)")
    assert got == ["a 0", "a 1", "a 7", "an 8", "an 11", "an 18", "an 80", "a 110", "an 11000"]


@pytest.mark.parametrize(("path", "operation"), [("/docs", ".opblock"), ("/redoc", "h2")])
def test_the_api_docs_render_with_the_network_unreachable(page, server, path, operation):
    docs, outside = page.context.browser.new_page(), []  # one Playwright a process: the page's
    try:

        def only_the_server(route):
            if route.request.url.startswith(server):
                return route.continue_()
            outside.append(route.request.url)
            return route.abort("internetdisconnected")

        docs.route("**/*", only_the_server)
        docs.goto(server + path)
        expect(docs.locator(operation).first).to_be_visible(timeout=15_000)
        expect(docs.locator("body")).to_contain_text("/api/predict")
        # ReDoc's bundle asks its CDN for its own small logo, and renders without it
        assert all(url.endswith("logo-mini.svg") for url in outside), outside
    finally:
        docs.close()


def test_drawings_are_answered_in_the_browser_without_a_request(page):
    """With the runtime cached (`make setup`), the served page runs the server's own export
    in the browser: drawing asks /api/predict nothing, and the page says where it runs."""
    page.errors.clear()  # the upload test's 415 before this one
    page.wait_for_function("mnistlabLocal.ready()", timeout=30_000)
    expect(page.locator("#where")).to_have_text("running in your browser")
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/api/predict" in r.url else None)
    stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)])
    expect(page.locator("#label")).to_have_text("7", timeout=10_000)
    page.click("#clear")
    assert asked == []


def test_the_explain_panel_follows_the_drawing(page):
    """Every part of the Explain panel fills in after a drawing, the runner-up's attribution
    is a click away, and a phone's width leaves nothing to scroll sideways."""
    page.errors.clear()  # the upload test's refused file logs a 4xx on the shared page
    page.keyboard.press("Escape")  # whatever an earlier test left: a blank pad
    stroke(page, [(0.52, 0.18), (0.5, 0.5), (0.48, 0.82)])
    for part in ("#explain-why", "#explain-place", "#explain-near", "#explain-inside"):
        expect(page.locator(part)).to_have_attribute("data-filled", "true", timeout=20_000)
    expect(page.locator("#explain-status")).to_contain_text("It says 1")
    expect(page.locator("#explain-top")).to_contain_text("for 1")
    expect(page.locator("#explain-neighbors li")).to_have_count(6)
    loaded = "images => images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0)"
    assert page.locator("#explain-neighbors img").evaluate_all(loaded)
    assert page.locator("#explain-layers .layer.conv img").evaluate_all(loaded)
    expect(page.locator("#explain-map-legend li")).to_have_count(10)
    # Red or blue pixels over the grey image: the attribution is drawn, and differs per class.
    coloured = """() => { const c = document.getElementById("explain-attribution");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) n += Math.abs(d[i] - d[i + 2]) > 60; return n; }"""
    top = page.evaluate("document.getElementById('explain-attribution').toDataURL()")
    assert page.evaluate(coloured) > 0
    page.click("#explain-runner")
    expect(page.locator("#explain-runner")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(f"document.getElementById('explain-attribution').toDataURL() != {top!r}")
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#explain").screenshot(path=str(ARTIFACTS / "web-explain-phone.png"))
    finally:
        page.set_viewport_size({"width": 1100, "height": 800})
    page.click("#explain-top")
    page.click("#clear")
    expect(page.locator("#explain-why")).to_have_attribute("data-filled", "false")
    page.evaluate("window.scrollTo(0, 0)")  # the clicks scrolled: the next test draws on the pad
    assert page.errors == []
