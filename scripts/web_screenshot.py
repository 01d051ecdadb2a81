"""Regenerate docs/web.png: the draw-a-digit page with a drawn "2" and its prediction.

    .venv/bin/python scripts/web_screenshot.py --run RUN_DIR [--out docs/web.png]

Starts `mnistlab serve` on a free port, draws with the mouse in Debian's headless
Chromium, waits for the answer and saves a screenshot.
"""

from __future__ import annotations

import argparse
import math

from playwright.sync_api import expect

from mnistlab.serve.live import chromium_page, serving, stroke  # shared with the browser tests

# A "2" as one stroke, in fractions of the canvas: the top arc, the diagonal, the base.
TWO = [
    (0.33 + 0.17 * (1 - math.cos(t)), 0.36 - 0.16 * math.sin(t))
    for t in [i * math.pi / 12 for i in range(13)]
] + [(0.62, 0.46), (0.5, 0.6), (0.36, 0.76), (0.5, 0.76), (0.7, 0.76)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained MNIST run folder")
    parser.add_argument("--out", default="docs/web.png", help="where to write the PNG")
    args = parser.parse_args()

    with serving(args.run) as url, chromium_page(1100, 760) as page:
        page.goto(url)
        expect(page.locator("#model")).to_contain_text("accuracy")
        stroke(page, TWO)
        expect(page.locator("#seen")).to_be_visible(timeout=10_000)
        page.wait_for_timeout(500)  # the bars' width transition
        page.screenshot(path=args.out)
        print(f"wrote {args.out}: the page says {page.locator('#label').inner_text()}")


if __name__ == "__main__":
    main()
