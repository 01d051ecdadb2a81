"""Headless Chromium, shared by the browser tests and by the screenshot scripts in scripts/
(which put this folder on sys.path), so that there is one place that knows where Chromium is
and how to start it; live_server.py starts `mnistlab serve` for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make setup` installs it


@contextmanager
def chromium_page(width: int, height: int) -> Iterator[Page]:
    """A page in a fresh headless Chromium with a viewport of width × height pixels."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def stroke(page: Page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse over the page's #canvas through points given as fractions of it."""
    box = page.locator("#canvas").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=3)
    page.mouse.up()


@dataclass
class PageVisit:
    headings: list[str]
    images: int
    images_loaded: int
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def visit(path: Path, screenshot: Path | None = None) -> PageVisit:
    """Load `path`; collect its h2/h3 headings, image counts, requests, failures, console errors."""
    requests, failed, errors = [], [], []
    with chromium_page(1280, 900) as page:
        page.on("request", lambda r: requests.append(r.url[:60]))
        page.on("requestfailed", lambda r: failed.append(r.url[:60]))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.resolve().as_uri(), wait_until="load")
        headings = page.locator("h2, h3").all_inner_texts()
        images = page.locator("img").count()
        loaded = page.evaluate(
            "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length"
        )
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
    return PageVisit(headings, images, loaded, requests, failed, errors)
