"""Regenerate docs/web.png: the draw-a-digit page with a drawn "2" and its prediction.

    .venv/bin/python scripts/web_screenshot.py --run RUN_DIR [--out docs/web.png]

Starts `mnistlab serve` on a free port, draws with the mouse in Debian's headless
Chromium, waits for the answer and saves a screenshot.
"""

from __future__ import annotations

import argparse
import math
import socket
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

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

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "mnistlab", "serve", "--run", args.run, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"mnistlab serve exited; try it by hand: {' '.join(command)}")
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(url)
            expect(page.locator("#model")).to_contain_text("accuracy")
            box = page.locator("#canvas").bounding_box()
            points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in TWO]
            page.mouse.move(*points[0])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(x, y, steps=4)
            page.mouse.up()
            expect(page.locator("#seen")).to_be_visible(timeout=10_000)
            page.wait_for_timeout(500)  # the bars' width transition
            page.screenshot(path=args.out)
            print(f"wrote {args.out}: the page says {page.locator('#label').inner_text()}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
