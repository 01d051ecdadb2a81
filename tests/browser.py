"""What the report tests check in a page loaded in headless Chromium. Starting Chromium
(and the server) has one home shared with scripts/ and bench/: mnistlab.serve.live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.serve.live import chromium_page


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
