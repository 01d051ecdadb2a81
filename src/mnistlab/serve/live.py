"""A live `mnistlab serve` and a headless Chromium to drive its page.

One home for what the browser tests, scripts/ (screenshots) and bench/inference.py all need:
where Chromium is and how to start it, how to draw on the page's canvas, and how to start the
real server on a free port, wait until it answers and stop it. The server runs in its own
process, as a user starts it, so a benchmark measures it without the client's threads and
its thread settings (OMP_NUM_THREADS) come from its own environment. Playwright is a
development dependency, imported only when a browser is started.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from mnistlab.errors import MnistlabError
from mnistlab.serve.server import default_workers

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make setup` installs it


@contextmanager
def chromium_page(width: int, height: int) -> Iterator[Page]:
    """A page in a fresh headless Chromium with a viewport of width × height pixels."""
    from playwright.sync_api import sync_playwright

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


@contextmanager
def static_serving(folder: Path | str, gzip_encoded: bool = False) -> Iterator[str]:
    """A plain static file server (the standard library's, as `python -m http.server -d
    FOLDER`) on a free localhost port, in a thread; yields its URL. No mnistlab process:
    what a static host does for a page exported with `mnistlab export --format web`. With
    gzip_encoded, .gz files are sent with `Content-Encoding: gzip`, as some hosts do: the
    browser inflates them before the page sees them."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base's name)
            pass

        def end_headers(self) -> None:
            if gzip_encoded and self.path.endswith(".gz"):
                self.send_header("Content-Encoding", "gzip")
            super().end_headers()

    handler = functools.partial(Quiet, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/"
        finally:
            httpd.shutdown()
            thread.join()


@contextmanager
def serving(
    run: Path | str,
    log: IO | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,  # on a busy machine importing torch alone takes seconds
    args: tuple[str, ...] = ("--workers", "1"),
) -> Iterator[str]:
    """`mnistlab serve --run RUN [args]` on a free localhost port; yields its URL once /readyz
    answers (the model is loaded and warm), and stops the server on the way out."""
    with server_process(run, log, env, timeout, args) as (url, _):
        yield url


@contextmanager
def server_process(
    run: Path | str,
    log: IO | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    args: tuple[str, ...] = ("--workers", "1"),
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As `serving`, and the server's process too (to find its workers, or kill one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else default_workers()
    command = [sys.executable, "-m", "mnistlab", "serve", "--run", str(run), "--port", str(port),
               *args]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/readyz", timeout=1)
                count = listening(port)
                if count is None or count >= workers:
                    break  # every worker serves: load spreads over all of them from the start
                time.sleep(0.1)
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MnistlabError(
                        f"mnistlab serve did not start ({_last_line(log)}); "
                        f"try it by hand: {' '.join(command)}"
                    ) from None
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def listening(port: int) -> int | None:
    """How many sockets listen on this TCP port: on Linux, one per worker that serves
    (mnistlab.serve.server); None where /proc/net/tcp is not there to tell."""
    tables = [t for t in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")) if t.exists()]
    if not tables:
        return None
    rows = [row.split() for t in tables for row in t.read_text().splitlines()[1:]]
    # columns: sl, local address (hex ip:port), remote address, state (0A: LISTEN)
    return sum(r[3] == "0A" and int(r[1].rsplit(":", 1)[1], 16) == port for r in rows)


def worker_pids(server: int) -> list[int]:
    """The uvicorn worker processes of a `mnistlab serve` (Linux: from /proc)."""
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    workers = []
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # it ended meanwhile
        if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
            workers.append(pid)
    return workers


def _last_line(log: IO | int) -> str:
    """The server's last words, when its output went to a named file."""
    name = getattr(log, "name", None)
    if not isinstance(name, str):
        return "its output was not kept"
    log.flush()
    lines = Path(name).read_text().strip().splitlines()
    return lines[-1] if lines else "no output"
