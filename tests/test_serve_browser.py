"""End to end: the real server (`mnistlab serve`, uvicorn) driven by headless Chromium."""

import math
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from mnistlab.data import load_dataset
from mnistlab.predict import Classifier
from predict_helpers import trained_run

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "serve.log").open("w")
    command = [sys.executable, "-m", "mnistlab", "serve", "--run", str(trained_run())]
    process = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                assert process.poll() is None, "the server exited; see serve.log"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def page(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.goto(server)
        expect(page.locator("#model")).to_contain_text("test accuracy")
        yield page
        browser.close()


def stroke(page, points) -> None:
    """Drag the mouse through points given as fractions of the canvas."""
    box = page.locator("#canvas").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=3)
    page.mouse.up()


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
    assert all("status of 415" in e for e in page.errors)  # Chromium logs the 4xx; no JS error
