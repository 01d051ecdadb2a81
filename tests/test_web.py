"""The page without a server: `mnistlab export RUN --format web`, opened from a plain static
file server in headless Chromium. The drawing's preparation in JS (static/preprocess.js) is
compared with Python's on generated canvas drawings, in one page load."""

import base64
import io
import math
import shutil

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from mnistlab import runs
from mnistlab.prediction.classifier import Classifier
from mnistlab.serve import browser_runtime
from mnistlab.serve.live import chromium_page, static_serving, stroke
from mnistlab.serve.site import write_site
from predict_helpers import encode, trained_run
from web_drawings import drawings

pytestmark = [pytest.mark.slow, pytest.mark.browser]
DRAWINGS = 200


@pytest.fixture(scope="module")
def site_run(tmp_path_factory):
    """The session's run with a top map, as a run trained with label smoothing has one, so
    that the browser runs every node of the calibration (prediction.export)."""
    run = tmp_path_factory.mktemp("web") / "run"
    shutil.copytree(trained_run(), run, ignore=shutil.ignore_patterns("*.onnx"))
    runs.write_calibration(run, {**runs.load_calibration(run), "top_map": [0.6, 1.1, 0.4]})
    return run


@pytest.fixture(scope="module")
def site(tmp_path_factory, site_run):
    if browser_runtime.cached() is None:
        pytest.fail(f"onnxruntime-web is not in {browser_runtime.folder()}: run `make setup`")
    out = tmp_path_factory.mktemp("site")
    write_site(site_run, out)
    return out


@pytest.fixture(scope="module")
def page(site):
    with static_serving(site) as url, chromium_page(1100, 800) as page:
        page.errors, page.urls = [], []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: page.urls.append(r.url))
        page.goto(url)
        page.wait_for_function("mnistlabLocal.ready()", timeout=30_000)
        page.url_base = url
        yield page


def test_the_folder_holds_the_page_the_model_and_the_runtime(site):
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {"index.html", "model.onnx", "model.json", "static/app.js", "static/imaging.js",
            "static/resample.js", "static/preprocess.js", "static/local.js",
            "ort/ort.wasm.min.js"} <= names  # fmt: skip
    assert 'data-site="static"' in (site / "index.html").read_text()


def test_drawings_are_answered_with_no_server(page):
    expect(page.locator("#where")).to_have_text("running in your browser")
    expect(page.locator("#model")).to_contain_text("test accuracy")
    stroke(page, [(0.52, 0.18), (0.5, 0.5), (0.48, 0.82)])
    expect(page.locator("#label")).to_have_text("1", timeout=10_000)
    expect(page.locator("#seen")).to_be_visible()
    page.click("#clear")
    ring = [(0.5 + 0.2 * math.sin(t), 0.5 - 0.3 * math.cos(t)) for t in np.linspace(0, 6.3, 40)]
    stroke(page, ring)
    expect(page.locator("#label")).to_have_text("0", timeout=10_000)
    page.click("#clear")
    stroke(page, [(0.5, 0.5), (0.505, 0.5)])  # a dot: the server's "too little ink"
    expect(page.locator("#confidence")).to_have_text("Too little ink: a dot or a short stroke.")
    expect(page.locator("#bars")).to_have_class("bars refused")
    page.click("#clear")
    # the page took the model over from its worker (static/local.js): the runtime is loaded here
    page.wait_for_function("typeof ort === 'object'", timeout=10_000)
    # everything came from the static server: no other origin, no API
    assert all(u.startswith(page.url_base) or u.startswith("data:") for u in page.urls), page.urls
    assert not [u for u in page.urls if "/api/" in u]
    assert page.errors == []


def test_the_browser_prepares_and_answers_as_python_does(page, site_run):
    """Preprocessing and the whole answer (calibrated probabilities, the reject rule) in the
    browser against Classifier (onnxruntime in Python), on the same canvas drawings."""
    images = drawings(DRAWINGS, seed=1)
    pngs = [base64.b64encode(encode(Image.fromarray(a))).decode() for a in images]
    answers = page.evaluate(
        """async (pngs) => {
            const out = [];
            for (const png of pngs) {
              const blob = await (await fetch("data:image/png;base64," + png)).blob();
              const bitmap = await createImageBitmap(blob);
              const c = Object.assign(document.createElement("canvas"),
                                      {width: bitmap.width, height: bitmap.height});
              c.getContext("2d", {willReadFrequently: true}).drawImage(bitmap, 0, 0);
              const a = await mnistlabLocal.answer(c);
              out.push(a.ok ? a.body : {error: a.body.error});
            }
            return out;
        }""",
        pngs,
    )
    classifier = Classifier.load(site_run, runtime="onnx")
    assert classifier.model.metadata["mnistlab.top_map"] == "[0.6, 1.1, 0.4]"
    pixel_diffs, labels_agree, proba_diffs, reasons_agree = [], 0, [], 0
    for image, answer in zip(images, answers, strict=True):
        prepared, ink = classifier.prepare(image)
        expected = classifier.prediction(classifier.outputs(prepared[None])[0], ink)
        png = base64.b64decode(answer["preprocessed"].split(",", 1)[1])
        seen = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        pixel_diffs.append(np.abs(seen.astype(int) - prepared).mean())
        labels_agree += answer["label"] == expected.label
        proba_diffs.append(np.abs(np.array(answer["probabilities"]) - expected.probabilities).max())
        reasons_agree += answer["reason"] == expected.reason
    # A drawing whose fitting window falls on a pixel's edge can differ more (float32 sums
    # in NumPy's order against JS's), rarely: the mean over all, and 99% of the drawings.
    assert np.mean(pixel_diffs) <= 2, np.mean(pixel_diffs)
    assert np.quantile(pixel_diffs, 0.99) <= 2, sorted(pixel_diffs)[-5:]
    assert labels_agree >= 0.99 * DRAWINGS
    assert np.quantile(proba_diffs, 0.99) <= 0.02, sorted(proba_diffs)[-5:]
    assert reasons_agree >= 0.99 * DRAWINGS
    # the drawings exercise what the rules look at: refused ones and accepted ones
    refused = sum(a["accepted"] is False for a in answers)
    assert 0 < refused < DRAWINGS
    assert page.errors == []


def test_a_host_that_sends_the_runtime_inflated(site, page):
    """A host may send ort/*.wasm.gz with Content-Encoding: gzip; the browser inflates it and
    the page's worker takes the WebAssembly as it comes."""
    with static_serving(site, gzip_encoded=True) as url:
        other = page.context.browser.new_page()  # the module's browser: one Playwright at a time
        errors = []
        other.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        other.on("pageerror", lambda e: errors.append(str(e)))
        other.goto(url)
        other.wait_for_function("mnistlabLocal.ready()", timeout=30_000)
        stroke(other, [(0.52, 0.18), (0.5, 0.5), (0.48, 0.82)])
        expect(other.locator("#label")).to_have_text("1", timeout=10_000)
        other.close()
        assert errors == []
